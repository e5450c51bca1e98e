"""`ehome serve | migrate | seed | export-schema | check-schema`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path

from server.settings import Settings, SettingsError, load_settings

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
    breaking = find_breaking_changes(old, new)
    dangerous = find_dangerous_changes(old, new)
    for label, changes in (("BREAKING ", breaking), ("DANGEROUS", dangerous)):
        for change in changes:
            print(f"{label} {change.type.name}: {change.description}")
    if current != checked_in:
        print(
            f"ehome: the code's schema differs from {path}; run `ehome export-schema` "
            f"and commit the file",
            file=sys.stderr,
        )
        return 1
    print(f"ehome: schema matches {path}")
    return 0


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
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())
