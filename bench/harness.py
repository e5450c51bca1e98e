"""What the benchmarks share: throwaway databases, server processes pinned to a core, and an
HTTP load generator with latency percentiles. Benchmarks print figures; they assert nothing."""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.services import Postgres, start_postgres

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def postgres() -> Iterator[Postgres]:
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


async def create_database(server: Postgres) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{server.port}/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server.url(name)


def pinned(cmd: list[str], core: int) -> list[str]:
    """Pin a process to one core (when taskset exists), so server and load do not compete."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(core), *cmd]
    return cmd


@contextmanager
def serve(cmd: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run a server process until it answers on `port`; yield its base URL."""
    process = subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server exited: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                asyncio.run(_get(port, "/healthz"))
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("server did not answer within 60 s")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def uvicorn_cmd(app: str, port: int, *, factory: bool = False) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws-per-message-deflate",
        "false",  # as `ehome serve` runs
    ]
    return cmd + (["--factory"] if factory else [])


async def post(port: int, path: str, body: bytes) -> bytes:
    """One JSON POST; the response body."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    data = await reader.read()
    writer.close()
    return data.split(b"\r\n\r\n", 1)[1]


async def _get(port: int, path: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return data


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms) if self.latencies_ms else float("nan")


def _request(method: str, path: str, body: bytes | None, token: str | None = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


async def _read_response(reader: asyncio.StreamReader) -> int:
    status_line = await reader.readline()
    length = 0
    chunked = False
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding" and "chunked" in value:
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readline()).strip(), 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:
        await reader.readexactly(length)
    return int(status_line.split()[1])


async def load(
    port: int,
    method: str,
    path: str,
    body: bytes | None,
    *,
    clients: int,
    seconds: float,
    warmup: float = 1.0,
    token: str | None = None,
) -> LoadResult:
    """`clients` keep-alive connections sending the same request back to back."""
    raw = _request(method, path, body, token)
    latencies: list[float] = []
    errors = 0
    measuring = False
    stop_at = time.monotonic() + warmup + seconds

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                writer.write(raw)
                status = await _read_response(reader)
                if measuring:
                    latencies.append((time.perf_counter() - started) * 1000)
                    if status != 200:
                        errors += 1
        finally:
            writer.close()

    tasks = [asyncio.create_task(client()) for _ in range(clients)]
    await asyncio.sleep(warmup)
    measuring = True
    started = time.monotonic()
    await asyncio.gather(*tasks)
    return LoadResult(len(latencies), errors, time.monotonic() - started, latencies)
