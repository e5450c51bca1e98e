"""Tenant paths and scopes, without a database.

Proves the pure path functions (including what they refuse), and, over random trees, that the
range [prefix, upper_bound(prefix)) holds exactly the paths below the prefix in byte order,
that minimal() keeps the smallest covering set, and that Scope.narrow never widens a scope.
The range property is also checked through Scope.predicate on a real SQLite table.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.engine import Engine

from tenants.paths import (
    ROOT,
    PathError,
    ancestors,
    check,
    child_path,
    depth,
    is_within,
    minimal,
    upper_bound,
)
from tenants.scope import Scope

# --- the functions one by one --------------------------------------------------------------


def test_child_path() -> None:
    assert child_path(ROOT, "d01") == "/d01/"
    assert child_path("/d01/", "t03") == "/d01/t03/"
    assert child_path("/d01/t03/", "v017") == "/d01/t03/v017/"


@pytest.mark.parametrize("segment", ["", "D01", "d-1", "d 1", "d/1", "d1/", "村", "d_1", "d.1"])
def test_child_path_refuses_bad_segments(segment: str) -> None:
    with pytest.raises(PathError, match="segment"):
        child_path("/d01/", segment)


def test_child_path_refuses_a_bad_parent() -> None:
    with pytest.raises(PathError):
        child_path("/d01", "t03")


@pytest.mark.parametrize("path", ["/", "/d01/", "/d01/t03/v017/"])
def test_check_accepts_paths(path: str) -> None:
    assert check(path) == path


@pytest.mark.parametrize(
    "path",
    [
        "",
        "d01/",
        "/d01",
        "d01",
        "/d01//t03/",
        "/d01/t03//",
        # Empty first segments: the '//' rule must hold at the start of the path as well.
        "//",
        "//d01/",
    ],
)
def test_check_refuses_malformed_paths(path: str) -> None:
    with pytest.raises(PathError):
        check(path)


@pytest.mark.parametrize(
    ("path", "expected"), [("/", 0), ("/d01/", 1), ("/d01/t03/", 2), ("/d01/t03/v017/", 3)]
)
def test_depth(path: str, expected: int) -> None:
    assert depth(path) == expected


def test_depth_checks_its_argument() -> None:
    with pytest.raises(PathError):
        depth("/d01/t03")


def test_is_within() -> None:
    assert is_within("/d01/t03/", "/d01/t03/")
    assert is_within("/d01/t03/v017/", "/d01/t03/")
    assert is_within("/d01/", ROOT)
    assert not is_within("/d01/t30/", "/d01/t03/")  # the trailing '/' keeps siblings apart
    assert not is_within("/d01/t03/", "/d01/t03/v017/")  # above is not within
    assert not is_within("/d02/", "/d01/")


def test_ancestors() -> None:
    assert ancestors(ROOT) == []
    assert ancestors("/d01/") == []
    assert ancestors("/d01/t03/") == ["/d01/"]
    assert ancestors("/d01/t03/v017/") == ["/d01/", "/d01/t03/"]
    with pytest.raises(PathError):
        ancestors("d01/t03/")


def test_upper_bound() -> None:
    assert upper_bound("/d01/t03/") == "/d01/t030"
    assert upper_bound("/d01/") == "/d010"
    bound = upper_bound("/d01/t03/")
    assert bound > "/d01/t03/"
    assert bound > "/d01/t03/zzz/"
    assert bound <= "/d01/t030/"  # the sibling t030 lies outside
    assert bound <= "/d01/t30/"
    with pytest.raises(PathError):
        upper_bound("/d01/t03")


def test_minimal() -> None:
    assert minimal([]) == ()
    assert minimal(["/d01/t03/v017/", "/d01/t03/", "/d01/t30/"]) == ("/d01/t03/", "/d01/t30/")
    assert minimal(("/d01/", "/d01/", "/d01/t01/")) == ("/d01/",)
    assert minimal(["/d02/", ROOT, "/d01/"]) == (ROOT,)


def test_scope_basics() -> None:
    everything = Scope.everything()
    assert everything.roots == (ROOT,)
    assert everything.contains("/d05/t01/v001/")
    nothing = Scope.of()
    assert nothing.is_empty
    assert not nothing.contains(ROOT)
    assert nothing.narrow("/d01/").is_empty
    some = Scope.of("/d01/t03/", "/d01/t03/v001/", "/d02/")
    assert some.roots == ("/d01/t03/", "/d02/")
    assert some.narrow(None) is some
    assert some.narrow("/d01/").roots == ("/d01/t03/",)  # a wider `under` keeps the roots
    assert some.narrow("/d01/t03/v009/").roots == ("/d01/t03/v009/",)
    assert some.narrow("/d03/").is_empty
    assert not some.contains("/d01/t30/")


# --- properties over random trees ----------------------------------------------------------

# Short segments over a tiny alphabet make near-misses (t3 vs t30, a vs a0) frequent.
segments = st.text(alphabet="0123az", min_size=1, max_size=3)


@st.composite
def trees(draw: st.DrawFn) -> list[str]:
    """The paths of a random tenant tree: each node a child of the root or of an earlier node."""
    paths = [ROOT]
    for _ in range(draw(st.integers(min_value=1, max_value=30))):
        parent = draw(st.sampled_from(paths))
        if depth(parent) >= 4:
            continue
        candidate = child_path(parent, draw(segments))
        if candidate not in paths:
            paths.append(candidate)
    return paths


def _within_by_range(ordered: list[str], prefix: str) -> set[str]:
    """The paths a b-tree range scan [prefix, upper_bound) would return."""
    lo = bisect.bisect_left(ordered, prefix)
    hi = bisect.bisect_left(ordered, upper_bound(prefix))
    return set(ordered[lo:hi])


@given(trees())
def test_range_scan_matches_prefix(paths: list[str]) -> None:
    # Python compares str by code point; paths are ASCII, so that is byte order.
    ordered = sorted(paths, key=lambda p: p.encode())
    assert ordered == sorted(paths)
    for prefix in paths:
        expected = {p for p in paths if p.startswith(prefix)}
        assert _within_by_range(ordered, prefix) == expected
        assert {p for p in paths if prefix <= p < upper_bound(prefix)} == expected


@given(trees().flatmap(lambda tree: st.lists(st.sampled_from(tree), max_size=12)))
def test_minimal_is_the_smallest_cover(paths: list[str]) -> None:
    kept = minimal(paths)
    assert set(kept) <= set(paths)
    assert list(kept) == sorted(set(kept))
    # Every path is covered by a kept one, and no kept path covers another.
    assert all(any(is_within(p, k) for k in kept) for p in paths)
    assert not any(is_within(a, b) for a in kept for b in kept if a != b)
    assert minimal(kept) == kept


@st.composite
def tree_and_scope(draw: st.DrawFn) -> tuple[list[str], Scope, str | None]:
    paths = draw(trees())
    roots = draw(st.lists(st.sampled_from(paths), max_size=5))
    under = draw(st.none() | st.sampled_from(paths))
    return paths, Scope.of(*roots), under


@given(tree_and_scope())
def test_scope_contains_and_narrow(case: tuple[list[str], Scope, str | None]) -> None:
    paths, scope, under = case
    narrowed = scope.narrow(under)
    # Narrowing never widens: every new root lies inside the old scope and below `under`.
    for root in narrowed.roots:
        assert scope.contains(root)
        assert under is None or is_within(root, under)
    assert narrowed.roots == minimal(narrowed.roots)
    for path in paths:
        assert scope.contains(path) == any(path.startswith(r) for r in scope.roots)
        inside_under = under is None or is_within(path, under)
        assert narrowed.contains(path) == (scope.contains(path) and inside_under)


# --- the same property through the SQL predicate ------------------------------------------

_metadata = MetaData()
_tenants = Table(
    "tenants",
    _metadata,
    Column("id", Integer, primary_key=True),
    Column("path", String(255), unique=True, nullable=False),
)


@pytest.fixture(scope="module")
def sqlite_engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    _metadata.create_all(engine)
    yield engine
    engine.dispose()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60)
@given(case=tree_and_scope())
def test_scope_predicate_selects_the_scope(
    sqlite_engine: Engine, case: tuple[list[str], Scope, str | None]
) -> None:
    # One table for every example: hypothesis calls the test many times per fixture.
    paths, scope, under = case
    narrowed = scope.narrow(under)
    with sqlite_engine.begin() as conn:
        conn.execute(_tenants.delete())
        conn.execute(insert(_tenants), [{"path": p} for p in paths])
        query = select(_tenants.c.path).where(narrowed.predicate(_tenants.c.path))
        selected = set(conn.scalars(query))
    assert selected == {p for p in paths if narrowed.contains(p)}
