"""Alembic migrations on SQLite and PostgreSQL.

Proves that the migrated schema is exactly what the models declare (autogenerate finds
nothing to do), that the migrations run down to nothing and back up again, and that on
PostgreSQL the tenant path column compares bytes (collation "C"), which the range scans of
tenants.scope rely on.
"""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from server.db import make_engine
from server.migrate import alembic_config, upgrade
from server.models import Base
from tests.conftest import Databases, run_isolated

# Every table the models declare, and the newest revision: what `upgrade` must reach.
TABLES = set(Base.metadata.tables)
HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def in_thread(func: Any, *args: Any) -> None:
    """Run an Alembic command off the test loop: env.py calls asyncio.run itself."""
    run_isolated(lambda: asyncio.to_thread(func, *args))


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(context, Base.metadata))


async def schema_diff(url: str) -> list[Any]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def state(url: str) -> tuple[set[str], str | None]:
    """The tables present (besides alembic_version) and the recorded revision."""
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:

            def read(sync: Connection) -> tuple[set[str], str | None]:
                tables = set(inspect(sync).get_table_names()) - {"alembic_version"}
                return tables, MigrationContext.configure(sync).get_current_revision()

            return await conn.run_sync(read)
    finally:
        await engine.dispose()


async def test_models_and_migrations_agree(databases: Databases) -> None:
    url = databases.empty()
    in_thread(upgrade, url)
    assert await state(url) == (TABLES, HEAD)
    assert await schema_diff(url) == []


async def test_a_model_change_would_be_noticed(databases: Databases) -> None:
    # The comparison must be able to fail: drop an index the models declare.
    url = databases.empty()
    in_thread(upgrade, url)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP INDEX ix_activities_occurred_at"))
    finally:
        await engine.dispose()
    diff = await schema_diff(url)
    assert [d[0] for d in diff] == ["add_index"]
    assert diff[0][1].name == "ix_activities_occurred_at"


async def test_downgrade_to_base_and_up_again(databases: Databases) -> None:
    url = databases.empty()
    config = alembic_config(url)
    in_thread(command.upgrade, config, "head")
    in_thread(command.downgrade, config, "base")
    assert await state(url) == (set(), None)
    in_thread(command.upgrade, config, "head")
    assert await state(url) == (TABLES, HEAD)
    assert await schema_diff(url) == []
    # Upgrading an up-to-date database is a no-op, as `ehome migrate` on every start needs.
    in_thread(upgrade, url)
    assert await state(url) == (TABLES, HEAD)


async def test_tenant_path_compares_bytes(databases: Databases) -> None:
    url = databases.empty()
    in_thread(upgrade, url)
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                collation = await conn.scalar(
                    text(
                        "SELECT collation_name FROM information_schema.columns "
                        "WHERE table_name = 'tenants' AND column_name = 'path'"
                    )
                )
                assert collation == "C"
            # On either backend the column orders '/' right before '0', as the scope's range
            # scans assume ('/d01/t03/' < '/d01/t03/v1/' < '/d01/t030').
            await conn.execute(
                text(
                    "INSERT INTO tenants (id, parent_id, level, code, name, path) VALUES "
                    "(1, NULL, 'DISTRICT', 'd01', 'd', '/d01/'),"
                    "(2, 1, 'TOWN', 'd01t03', 't', '/d01/t03/'),"
                    "(3, 2, 'VILLAGE', 'd01t03v1', 'v', '/d01/t03/v1/'),"
                    "(4, 1, 'TOWN', 'd01t030', 't', '/d01/t030/'),"
                    "(5, 1, 'TOWN', 'd01tA', 't', '/d01/tA/')"
                )
            )
            paths = (await conn.scalars(text("SELECT path FROM tenants ORDER BY path"))).all()
            await conn.rollback()
    finally:
        await engine.dispose()
    assert paths == sorted(paths, key=str.encode)
    assert paths == ["/d01/", "/d01/t03/", "/d01/t03/v1/", "/d01/t030/", "/d01/tA/"]
