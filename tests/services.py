"""Throwaway PostgreSQL and Redis servers for the test session: loopback, free ports,
data under /tmp, removed afterwards."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


class ServiceUnavailable(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and pg_ctl refuse to run as root.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class Postgres:
    port: int
    datadir: Path

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        pg_ctl = _pg_bin("pg_ctl")
        if pg_ctl:
            subprocess.run(
                _as_postgres([pg_ctl, "-D", str(self.datadir), "-m", "immediate", "stop"]),
                capture_output=True,
                check=False,
            )
        shutil.rmtree(self.datadir, ignore_errors=True)


def start_postgres() -> Postgres:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl:
        raise ServiceUnavailable("PostgreSQL binaries (initdb, pg_ctl) not found")
    datadir = Path(tempfile.mkdtemp(prefix="ehome-pg-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                initdb,
                "-D",
                str(datadir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        ),
        check=True,
        capture_output=True,
    )
    for attempt in range(5):
        port = free_port()
        options = (
            f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        result = subprocess.run(
            _as_postgres(
                [
                    pg_ctl,
                    "-D",
                    str(datadir),
                    "-o",
                    options,
                    "-l",
                    str(datadir / "server.log"),
                    "-w",
                    "-t",
                    "30",
                    "start",
                ]
            ),
            capture_output=True,
            check=False,
        )
        if result.returncode == 0:
            return Postgres(port=port, datadir=datadir)
        if attempt == 4:
            log = (datadir / "server.log").read_text(errors="replace")[-2000:]
            shutil.rmtree(datadir, ignore_errors=True)
            raise ServiceUnavailable(f"PostgreSQL did not start: {log}")
        time.sleep(0.2)  # the port was taken between the probe and the bind: try another
    raise AssertionError("unreachable")


@dataclass
class Redis:
    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def start_redis() -> Redis:
    binary = shutil.which("redis-server")
    if not binary:
        raise ServiceUnavailable("redis-server not found")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return Redis(port=port, process=process)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise ServiceUnavailable("redis-server did not start")
