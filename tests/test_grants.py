"""Anti-escalation (policies/grants.py) and the agreement between Casbin's verdicts and the
Scopes derived from the same bindings (policies/enforcer.py)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from policies.enforcer import Binding
from policies.grants import check_grant
from policies.rbac import Action, Resource, Role
from server.auth.principal import Principal
from server.errors import BadUserInput, Forbidden
from tenants.demo import DemoData, demo_bindings
from tests.conftest import TEMPLATE_SEED, GraphQLClient

SUPER = [Binding(Role.SUPER_ADMIN, "/d01/")]
SENIOR_T1 = [Binding(Role.SENIOR_ADMIN, "/d01/t1/")]
JUNIOR = [Binding(Role.JUNIOR_ADMIN, "/d01/t1/v001/")]

ALLOWED = [
    (SUPER, Role.SENIOR_ADMIN, "/d01/t1/", "TOWN"),
    (SUPER, Role.JUNIOR_ADMIN, "/d01/t2/v005/", "VILLAGE"),
    (SENIOR_T1, Role.JUNIOR_ADMIN, "/d01/t1/v001/", "VILLAGE"),
]
FORBIDDEN = [
    (SUPER, Role.SUPER_ADMIN, "/d01/", "DISTRICT"),  # nobody grants the top tier
    (SUPER, Role.SENIOR_ADMIN, "/d02/t1/", "TOWN"),  # another district
    (SENIOR_T1, Role.SENIOR_ADMIN, "/d01/t1/", "TOWN"),  # a peer
    (SENIOR_T1, Role.JUNIOR_ADMIN, "/d01/t2/v005/", "VILLAGE"),  # another town
    (SENIOR_T1, Role.JUNIOR_ADMIN, "/d01/t10/v050/", "VILLAGE"),  # /d01/t1 is not /d01/t10
    (JUNIOR, Role.JUNIOR_ADMIN, "/d01/t1/v001/", "VILLAGE"),  # a peer
    ([Binding(Role.MEMBER, "/d01/t1/")], Role.JUNIOR_ADMIN, "/d01/t1/v001/", "VILLAGE"),
    ([Binding(Role.AUDITOR, "/d01/")], Role.JUNIOR_ADMIN, "/d01/t1/v001/", "VILLAGE"),
    # Senior in one town and junior in another: the junior binding alone covers the target.
    (
        [*SENIOR_T1, Binding(Role.JUNIOR_ADMIN, "/d01/t2/v005/")],
        Role.JUNIOR_ADMIN,
        "/d01/t2/v005/",
        "VILLAGE",
    ),
]


@pytest.mark.parametrize(("granter", "role", "path", "level"), ALLOWED)
def test_grants_one_tier_down_inside_the_subtree(
    granter: list[Binding], role: Role, path: str, level: str
) -> None:
    check_grant(
        granter=granter, casbin_allows=True, role=role, tenant_path=path, tenant_level=level
    )
    # Casbin has the last word: without the right in policy.csv, no grant.
    with pytest.raises(Forbidden):
        check_grant(
            granter=granter, casbin_allows=False, role=role, tenant_path=path, tenant_level=level
        )


@pytest.mark.parametrize(("granter", "role", "path", "level"), FORBIDDEN)
def test_escalation_and_reach_are_refused(
    granter: list[Binding], role: Role, path: str, level: str
) -> None:
    with pytest.raises(Forbidden):
        check_grant(
            granter=granter, casbin_allows=True, role=role, tenant_path=path, tenant_level=level
        )


@pytest.mark.parametrize(
    ("role", "path", "level"),
    [(Role.SENIOR_ADMIN, "/d01/t1/v001/", "VILLAGE"), (Role.JUNIOR_ADMIN, "/d01/t1/", "TOWN")],
)
def test_a_role_at_the_wrong_level_is_bad_input(role: Role, path: str, level: str) -> None:
    with pytest.raises(BadUserInput):
        check_grant(
            granter=SUPER, casbin_allows=True, role=role, tenant_path=path, tenant_level=level
        )


def test_the_wrong_level_outside_reach_is_forbidden_not_bad_input() -> None:
    # Which levels tenants outside one's subtree have is not one's business either.
    with pytest.raises(Forbidden):
        check_grant(
            granter=SENIOR_T1,
            casbin_allows=True,
            role=Role.JUNIOR_ADMIN,
            tenant_path="/d01/t2/",
            tenant_level="TOWN",
        )


async def test_casbin_and_derived_scopes_agree(
    seeded: tuple[GraphQLClient, Any], demo: DemoData
) -> None:
    """Lists are filtered by Scopes derived from the bindings; single checks ask Casbin.
    For every admin binding the two must give the same answer at every tenant."""
    authz = seeded[1].state.runtime.authz
    rng = random.Random(11)
    rights = [
        (Resource.MEMBER, Action.READ),
        (Resource.MEMBER, Action.READ_SENSITIVE),
        (Resource.BRANCH, Action.WRITE),
        (Resource.OVERVIEW, Action.READ),
        (Resource.AUDIT, Action.READ),
    ]
    admins = [u for u, role, _ in demo_bindings(demo, seed=TEMPLATE_SEED) if role != "MEMBER"]
    paths = [t["path"] for t in demo.tenants]
    checked = allowed = 0
    for username in admins:
        principal = Principal(kind="user", name=username)
        for resource, action in rights:
            scope = authz.scope(principal, resource, action)
            for path in rng.sample(paths, min(6, len(paths))):
                verdict = authz.allows(principal, path, resource, action)
                assert verdict == scope.contains(path), (username, path, resource, action)
                checked += 1
                allowed += verdict
    assert checked > 100 and 0 < allowed < checked  # both answers occur
