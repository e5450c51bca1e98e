"""`ehome serve | migrate | seed | export-schema | check-schema | partner | role | audit`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from server.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema" / "schema.graphql"


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"ehome: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from server import logs
    from server.app import create_app

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format)
    host = args.host or settings.host
    port = args.port or settings.port
    print(
        f"ehome: serving http://{host}:{port}/  (GraphQL: /graphql, health: /healthz)",
        file=sys.stderr,
    )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        access_log=args.access_log,
        # Feed frames are a few hundred bytes: compressing each costs a busy server more CPU
        # (~15% with 1,000 subscribers, measured) than it saves on the wire.
        ws_per_message_deflate=False,
    )
    return 0


def cmd_migrate(_args: argparse.Namespace) -> int:
    from server.migrate import upgrade

    settings = _settings()
    upgrade(settings.database_url)
    print(f"ehome: database is at the latest migration ({_safe_url(settings.database_url)})")
    return 0


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def cmd_seed(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from server.db import make_engine
    from server.seed import AlreadySeeded, is_empty, seed

    settings = _settings()
    # soft_wrap: log files and pipes get whole lines, not lines cut at 80 columns.
    console = Console(stderr=True, soft_wrap=True)
    as_of = date.fromisoformat(args.as_of) if args.as_of else None

    async def run() -> int:
        engine = make_engine(settings.database_url)
        try:
            if not await is_empty(engine):
                if args.if_empty:
                    console.print("ehome: the database already holds data; keeping it")
                    return 0
                raise AlreadySeeded("the database already holds tenants; seed an empty one")
            with Progress(
                TextColumn("{task.description:<11}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
                disable=args.quiet,
            ) as bars:
                tasks: dict[str, object] = {}

                def progress(table: str, done: int, total: int) -> None:
                    if table not in tasks:
                        tasks[table] = bars.add_task(table, total=total)
                    bars.update(tasks[table], completed=done)  # type: ignore[arg-type]

                report = await seed(
                    engine,
                    scale=args.scale,
                    seed=args.seed,
                    as_of=as_of,
                    demo_password=settings.demo_password if args.demo else None,
                    progress=progress,
                )
        except AlreadySeeded as exc:
            console.print(f"ehome: {exc}")
            return 1
        finally:
            await engine.dispose()
        summary = ", ".join(f"{n:,} {table}" for table, n in report.counts.items())
        console.print(
            f"ehome: seeded {args.scale} scale (seed {args.seed}) in "
            f"{report.seconds:.1f} s: {summary}"
        )
        if args.demo:
            console.print(
                f"[bold yellow]WARNING[/]: the demo accounts (admin, admin.<code>, m.<id>) all use "
                f"the password {settings.demo_password!r}. They are for demos only; never "
                f"seed them into a real database."
            )
        return 0

    return asyncio.run(run())


def _schema_sdl() -> str:
    from schema.build import build_schema

    return build_schema().as_str() + "\n"


def cmd_export_schema(args: argparse.Namespace) -> int:
    path = Path(args.path)
    path.write_text(_schema_sdl())
    print(f"ehome: wrote {path}")
    return 0


def cmd_check_schema(args: argparse.Namespace) -> int:
    from graphql import GraphQLError, find_breaking_changes, find_dangerous_changes
    from graphql import build_schema as parse_sdl

    path = Path(args.path)
    current = _schema_sdl()
    if not path.exists():
        print(f"ehome: {path} is missing; run `ehome export-schema`", file=sys.stderr)
        return 1
    checked_in = path.read_text()
    try:
        old = parse_sdl(checked_in)
    except GraphQLError as exc:
        print(f"ehome: {path} is not valid GraphQL SDL: {exc.message}", file=sys.stderr)
        return 1
    new = parse_sdl(current)
    # One line per change on stdout (greppable); the verdict on stderr.
    breaking = find_breaking_changes(old, new)
    dangerous = find_dangerous_changes(old, new)
    for label, changes in (("BREAKING ", breaking), ("DANGEROUS", dangerous)):
        for change in changes:
            print(f"{label} {change.type.name}: {change.description}")
    if breaking:
        # Partners' clients built on the checked-in schema may fail against the code's.
        print(
            f"ehome: the code's schema differs from {path} by {len(breaking)} breaking and "
            f"{len(dangerous)} dangerous change(s): restore what was removed or changed (to "
            f"retire a name, deprecate it with a reason first); a break meant to ship needs "
            f"`ehome export-schema` and a note to the partners",
            file=sys.stderr,
        )
        return 1
    if current != checked_in:
        # Nothing breaks, but the published SDL must say what the code serves.
        print(
            f"ehome: the code's schema differs from {path} (no breaking changes, "
            f"{len(dangerous)} dangerous); run `ehome export-schema` and commit the file",
            file=sys.stderr,
        )
        return 1
    print(f"ehome: schema matches {path}")
    return 0


def _admin(work: Callable[[AsyncEngine], Awaitable[int]]) -> int:
    """Run an operator command on the configured database; its refusals are one line."""
    from server.admin import AdminError
    from server.db import make_engine

    settings = _settings()

    async def run() -> int:
        engine = make_engine(settings.database_url)
        try:
            return await work(engine)
        except AdminError as exc:
            print(f"ehome: {exc}", file=sys.stderr)
            return 1
        finally:
            await engine.dispose()

    return asyncio.run(run())


_APPLIES = (
    "Running servers apply it at once when they share EHOME_REDIS_URL with this command; "
    "otherwise at their next start."
)


async def _announce(message: str) -> None:
    """Tell running servers (on a shared Redis) what changed."""
    from policies.sync import CHANNEL
    from server.feed.bus import make_bus

    settings = _settings()
    if settings.redis_url:
        bus = make_bus(settings.redis_url, settings.redis_prefix)
        await bus.publish(CHANNEL, f"cli {message}")
        await bus.stop()


def cmd_partner(args: argparse.Namespace) -> int:
    from server import admin

    source = ""
    if args.action == "allow":
        try:
            source = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            print(f"ehome: cannot read {args.file}: {exc}", file=sys.stderr)
            return 1

    async def work(engine: AsyncEngine) -> int:
        if args.action == "create":
            wanted = [s for part in args.scopes for s in part.replace(",", " ").split()]
            new = await admin.create_partner(
                engine, name=args.name, tenant_code=args.tenant, scopes=wanted
            )
            await _announce("partners")
            await _announce("policy")
            print(f"partner {new.name} at {new.tenant_path}, scopes: {' '.join(new.scopes)}")
            print(f"key (shown once, store it now): {new.key}")
            print(_APPLIES)
        elif args.action == "revoke":
            await admin.revoke_partner(engine, name=args.name)
            await _announce("partners")
            await _announce("policy")
            print(f"partner {args.name} revoked. {_APPLIES}")
        elif args.action == "allow":
            allowed = await admin.allow_operations(
                engine, name=args.name, source=source, replace=args.replace
            )
            await _announce("partners")
            for operation in allowed.operations:
                print(f"{operation.sha256}  {operation.name or '(anonymous)'}")
            print(
                f"partner {args.name}: {allowed.added} operation(s) registered, "
                f"{allowed.removed} dropped; the key may run only its registered operations. "
                f"{_APPLIES}"
            )
        elif args.action == "operations":
            for op_name, sha in await admin.partner_operations(engine, name=args.name):
                print(f"{sha}  {op_name or '(anonymous)'}")
        else:
            for name, code, granted, active in await admin.list_partners(engine):
                print(f"{name:<24} {code:<14} {'active ' if active else 'revoked'} {granted}")
        return 0

    return _admin(work)


def cmd_user(args: argparse.Namespace) -> int:
    from server import admin

    async def work(engine: AsyncEngine) -> int:
        if args.action == "create":
            # From the environment for scripts, else asked twice; never from the command line,
            # where it would stay in the shell's history and the process list.
            password = os.environ.get("EHOME_NEW_PASSWORD")
            if password is None:
                password = getpass.getpass(f"password for {args.username}: ")
                if getpass.getpass("again: ") != password:
                    print("ehome: the passwords differ", file=sys.stderr)
                    return 1
            await admin.create_user(
                engine, username=args.username, password=password, member_id=args.member
            )
            print(f"user {args.username} created; grant roles with `ehome role grant`")
        else:
            await admin.disable_user(engine, username=args.username)
            # "partners" reloads identity: revoked sessions along with the keys.
            await _announce("partners")
            print(f"user {args.username} disabled and signed out. {_APPLIES}")
        return 0

    return _admin(work)


def cmd_role(args: argparse.Namespace) -> int:
    from policies.rbac import Role
    from server import admin

    async def work(engine: AsyncEngine) -> int:
        if args.action == "list":
            for role, path in await admin.role_bindings(engine, args.username):
                print(f"{role:<14} {path}")
            return 0
        changed = await admin.bind_role(
            engine,
            username=args.username,
            role=Role(args.role),
            tenant_code=args.tenant,
            grant=args.action == "grant",
        )
        await _announce("policy")
        done = "granted" if args.action == "grant" else "revoked"
        print(f"{args.role} {done if changed else 'unchanged'} for {args.username}. {_APPLIES}")
        return 0

    return _admin(work)


def cmd_audit(args: argparse.Namespace) -> int:
    from server import admin

    async def work(engine: AsyncEngine) -> int:
        if args.action == "tail":
            for line in await admin.tail_audit(engine, limit=args.limit):
                print(line)
            return 0
        verdict = await admin.verify_audit(engine, alert=True)
        if verdict.intact:
            print(f"audit chain intact: {verdict.entries:,} entries")
            return 0
        print(
            f"audit chain broken at entry {verdict.broken_at}: {verdict.reason} "
            f"({verdict.entries:,} entries before it verified)"
        )
        return 1

    return _admin(work)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ehome", description="ehome platform commands")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve the app (EHOME_HOST, EHOME_PORT)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--access-log", action="store_true", help="log every HTTP request")
    serve.set_defaults(run=cmd_serve)

    sub.add_parser("migrate", help="apply database migrations").set_defaults(run=cmd_migrate)

    seed = sub.add_parser("seed", help="load a generated demo district into an empty database")
    seed.add_argument("--scale", choices=("small", "district", "city"), default="district")
    seed.add_argument("--seed", type=int, default=1, help="random seed (same seed, same data)")
    seed.add_argument("--as-of", help="reference date YYYY-MM-DD (default: today)")
    seed.add_argument("--demo", action="store_true", help="also create the demo accounts")
    seed.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing (exit 0) when the database already holds data",
    )
    seed.add_argument("--quiet", action="store_true", help="no progress bars")
    seed.set_defaults(run=cmd_seed)

    export = sub.add_parser("export-schema", help="write the GraphQL SDL to schema/schema.graphql")
    export.add_argument("--path", default=str(SCHEMA_FILE))
    export.set_defaults(run=cmd_export_schema)

    check = sub.add_parser("check-schema", help="compare the code's schema with the checked-in SDL")
    check.add_argument("--path", default=str(SCHEMA_FILE))
    check.set_defaults(run=cmd_check_schema)
    partner = sub.add_parser("partner", help="partner API keys")
    partner_sub = partner.add_subparsers(dest="action", required=True)
    create = partner_sub.add_parser("create", help="create a key; it is printed once")
    create.add_argument("--name", required=True)
    create.add_argument("--tenant", required=True, help="code of the tenant it is bound to")
    create.add_argument(
        "--scopes",
        nargs="+",
        required=True,
        help="e.g. read:members read:feed (comma or space separated)",
    )
    revoke = partner_sub.add_parser("revoke", help="revoke a partner's key")
    revoke.add_argument("name")
    partner_sub.add_parser("list", help="list partners")
    allow = partner_sub.add_parser(
        "allow", help="register the operations of a .graphql file: the key may run only those"
    )
    allow.add_argument("name", help="the partner's name")
    allow.add_argument("file", help="a .graphql file of named operations (and fragments)")
    allow.add_argument(
        "--replace", action="store_true", help="drop the registered operations not in the file"
    )
    operations = partner_sub.add_parser(
        "operations", help="list the operations registered for a partner (sha256, name)"
    )
    operations.add_argument("name")
    partner.set_defaults(run=cmd_partner)

    user = sub.add_parser("user", help="accounts the demo seed does not make")
    user_sub = user.add_subparsers(dest="action", required=True)
    made = user_sub.add_parser(
        "create", help="create an account (password from EHOME_NEW_PASSWORD or asked)"
    )
    made.add_argument("username")
    made.add_argument("--member", type=int, help="the member id the account belongs to")
    gone = user_sub.add_parser("disable", help="refuse its sign-ins and end its sessions")
    gone.add_argument("username")
    user.set_defaults(run=cmd_user)

    role = sub.add_parser("role", help="bind any role as an operator (bootstrap, auditors)")
    role_sub = role.add_subparsers(dest="action", required=True)
    for verb in ("grant", "revoke"):
        change = role_sub.add_parser(verb)
        change.add_argument("username")
        change.add_argument("role", choices=[r.value for r in _roles()])
        change.add_argument("tenant", help="tenant code, e.g. d01t03")
    listing = role_sub.add_parser("list")
    listing.add_argument("username")
    role.set_defaults(run=cmd_role)

    audit = sub.add_parser("audit", help="the audit log")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    audit_sub.add_parser("verify", help="recompute the hash chain; exit 1 at the first break")
    tail = audit_sub.add_parser("tail", help="the newest entries, whatever their tenant")
    tail.add_argument("--limit", type=int, default=50)
    audit.set_defaults(run=cmd_audit)
    return p


def _roles() -> list[Any]:
    from policies.rbac import Role

    return list(Role)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
