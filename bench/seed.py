"""Seed time of the reference district (`ehome seed --scale district --demo`) on SQLite and on
PostgreSQL. Target (issue 2): within 60 s on each."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import create_database, postgres
from server.db import make_engine
from server.migrate import upgrade
from server.seed import SeedReport, seed

TARGET_SECONDS = 60.0


async def timed_seed(url: str, scale: str) -> SeedReport:
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        return await seed(
            engine, scale=scale, seed=1, as_of=date(2026, 11, 28), demo_password="bench-only"
        )
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="district", choices=("small", "district", "city"))
    args = parser.parse_args()
    results: list[tuple[str, SeedReport]] = []
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        print(f"seeding {args.scale} on SQLite ...", flush=True)
        results.append(("SQLite", asyncio.run(timed_seed(url, args.scale))))
    with postgres() as server:
        url = asyncio.run(create_database(server))
        print(f"seeding {args.scale} on PostgreSQL ...", flush=True)
        results.append(("PostgreSQL", asyncio.run(timed_seed(url, args.scale))))

    counts = results[0][1].counts
    print()
    print(
        f"seed --scale {args.scale} --demo: " + ", ".join(f"{n:,} {t}" for t, n in counts.items())
    )
    print(f"{'backend':<12} {'seconds':>8} {'rows/s':>9}  target <= {TARGET_SECONDS:.0f} s")
    for name, report in results:
        rows = sum(report.counts.values())
        verdict = "ok" if report.seconds <= TARGET_SECONDS else "OVER TARGET"
        print(f"{name:<12} {report.seconds:>8.1f} {rows / report.seconds:>9,.0f}  {verdict}")


if __name__ == "__main__":
    main()
