"""Schema governance: what keeps the published schema trustworthy for partners.

Proves: every deprecated field, argument, input field and enum value of the served schema (and
of the checked-in SDL) says why and what to use instead (the bare default "No longer supported"
does not count), and the walk that checks it does see a deprecation without a reason; `ehome
check-schema` passes on the exported SDL, reports a field the code no longer has as BREAKING
and exits 1, reports a changed argument default and a new enum value as DANGEROUS (still exit 1:
the checked-in file is stale and must be re-exported, but it says nothing breaks), exits 1 on a
file that only differs (no change listed), and on a missing or unparsable file. The partners'
contract itself is checked by tests/test_schema_contract.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    DEFAULT_DEPRECATION_REASON,
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
)
from graphql import build_schema as parse_sdl

from schema.build import build_schema
from server.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXPORTED = ROOT / "schema" / "schema.graphql"


# -- deprecations carry reasons --------------------------------------------------------------


def _lacks_reason(reason: str | None) -> bool:
    """A deprecation (reason not None) that does not say why."""
    return reason is not None and reason.strip() in ("", DEFAULT_DEPRECATION_REASON)


def deprecated_without_reason(schema: GraphQLSchema) -> list[str]:
    """Every deprecated field, argument, input field and enum value lacking a reason."""
    found: list[str] = []
    for name, named in sorted(schema.type_map.items()):
        if name.startswith("__"):
            continue  # graphql-core's own introspection types
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if _lacks_reason(field.deprecation_reason):
                    found.append(f"{name}.{field_name}")
                for arg_name, arg in field.args.items():
                    if _lacks_reason(arg.deprecation_reason):
                        found.append(f"{name}.{field_name}({arg_name}:)")
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, input_field in named.fields.items():
                if _lacks_reason(input_field.deprecation_reason):
                    found.append(f"{name}.{field_name}")
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                if _lacks_reason(value.deprecation_reason):
                    found.append(f"{name}.{value_name}")
    for directive in schema.directives:
        for arg_name, arg in directive.args.items():
            if _lacks_reason(arg.deprecation_reason):
                found.append(f"@{directive.name}({arg_name}:)")
    return found


def test_every_deprecation_in_the_served_schema_has_a_reason() -> None:
    missing = deprecated_without_reason(build_schema()._schema)
    assert not missing, (
        f"deprecated without a reason: {missing}; say why and what to use instead, e.g. "
        'strawberry.field(deprecation_reason="Use `members(under:)`; removed after 2026-12")'
    )


def test_every_deprecation_in_the_published_sdl_has_a_reason() -> None:
    # The SDL is what partners read: a bare `@deprecated` there reads "No longer supported".
    missing = deprecated_without_reason(parse_sdl(EXPORTED.read_text()))
    assert not missing, f"deprecated without a reason in {EXPORTED.name}: {missing}"


def test_the_walk_finds_each_kind_of_deprecation_without_a_reason() -> None:
    # The two checks above pass trivially if the walk misses a kind of deprecation.
    sdl = """
        type Query implements Named {
          name: String @deprecated
          kept: String @deprecated(reason: "Use `name2`; removed after 2026-12.")
          name2: String
          search(text: String @deprecated(reason: ""), term: String): [String!]
          pick(input: Pick): Choice
        }
        interface Named { name: String @deprecated(reason: "  ") }
        input Pick { old: Int @deprecated(reason: "No longer supported"), new: Int }
        enum Choice { YES NO @deprecated MAYBE @deprecated(reason: "Use NO.") }
        directive @tag(label: String @deprecated) on FIELD_DEFINITION
    """
    assert deprecated_without_reason(parse_sdl(sdl)) == [
        "Choice.NO",
        "Named.name",
        "Pick.old",
        "Query.name",
        "Query.search(text:)",
        "@tag(label:)",
    ]


# -- ehome check-schema ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def sdl() -> str:
    """The code's SDL as `ehome export-schema` writes it."""
    return build_schema().as_str() + "\n"


def check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], checked_in: str | None
) -> tuple[int, list[str], str]:
    """Run `ehome check-schema` against `checked_in` as the file: (exit code, the change
    lines it printed, its verdict)."""
    path = tmp_path / "schema.graphql"
    if checked_in is not None:
        path.write_text(checked_in)
    code = main(["check-schema", "--path", str(path)])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def edit(sdl: str, old: str, new: str) -> str:
    assert sdl.count(old) == 1, f"{old!r} is not once in the SDL"
    return sdl.replace(old, new)


def test_the_exported_file_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sdl: str
) -> None:
    code = main(["check-schema", "--path", str(tmp_path / "missing.graphql")])
    assert code == 1
    assert "missing; run `ehome export-schema`" in capsys.readouterr().err

    path = tmp_path / "schema.graphql"
    path.write_text(sdl)
    assert main(["check-schema", "--path", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"ehome: schema matches {path}"
    assert err == ""


def test_a_removed_field_is_breaking(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sdl: str
) -> None:
    # The checked-in file (what partners built on) has a field the code no longer serves, and
    # an argument the code made required.
    published = edit(sdl, "  joinedOn: Date!\n", "  joinedOn: Date!\n  nickname: String!\n")
    published = edit(
        published,
        "recordActivity(input: RecordActivityInput!)",
        "recordActivity(input: RecordActivityInput!, note: String)",
    )
    code, lines, verdict = check(tmp_path, capsys, published)
    assert code == 1
    assert "BREAKING  FIELD_REMOVED: Field Member.nickname was removed." in lines
    assert "BREAKING  ARG_REMOVED: Argument Mutation.recordActivity(note:) was removed." in lines
    assert not [line for line in lines if line.startswith("DANGEROUS")]
    assert "differs from" in verdict
    assert "by 2 breaking and 0 dangerous change(s)" in verdict
    assert "deprecate it with a reason first" in verdict


def test_a_changed_default_and_a_new_enum_value_are_dangerous(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sdl: str
) -> None:
    # In the file, `tenants(first:)` defaulted to 50 and FeedKind had no WARNING: the code
    # changed the default and added the value. Clients may behave differently, nothing fails.
    published = edit(
        sdl,
        "tenants(under: ID = null, level: TenantLevel = null, first: Int = null,",
        "tenants(under: ID = null, level: TenantLevel = null, first: Int = 50,",
    )
    published = edit(published, "  SECURITY_ALERT\n  WARNING\n}", "  SECURITY_ALERT\n}")
    code, lines, verdict = check(tmp_path, capsys, published)
    assert code == 1  # the file is stale all the same: re-export it
    assert sorted(lines) == [
        "DANGEROUS ARG_DEFAULT_VALUE_CHANGE: Query.tenants(first:) has changed defaultValue "
        "from 50 to null.",
        "DANGEROUS VALUE_ADDED_TO_ENUM: Enum value FeedKind.WARNING was added.",
    ]
    assert "no breaking changes, 2 dangerous" in verdict
    assert "run `ehome export-schema`" in verdict


def test_a_file_that_only_differs_is_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sdl: str
) -> None:
    # A description edited by hand: no change to list, but the file is not what the code serves.
    published = edit(sdl, '"""Materialized path, e.g. /d01/t03/v017/."""', '"""The path."""')
    code, lines, verdict = check(tmp_path, capsys, published)
    assert (code, lines) == (1, [])
    assert "differs from" in verdict
    assert "no breaking changes, 0 dangerous" in verdict


def test_an_unparsable_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sdl: str
) -> None:
    code, lines, verdict = check(tmp_path, capsys, sdl + "type Broken {\n")
    assert (code, lines) == (1, [])
    assert "is not valid GraphQL SDL" in verdict
