"""The `ehome` command line, run as real processes on SQLite in a temporary folder.

Proves what `make run` does end to end: migrate, seed with --if-empty (first run loads and
warns about the demo password, later runs keep the data), seed refusing a seeded database,
then serve answering /healthz, GraphQL and the front page. Also proves that check-schema
accepts a freshly exported SDL and rejects one that differs from the code's schema.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tenants.demo import SCALES
from tests.services import free_port

DEMO_PASSWORD = "cli-demo-pw"
TIMEOUT = 120


@dataclass(frozen=True)
class Site:
    """A data folder holding a migrated, seeded SQLite database, and the env to reach it."""

    root: Path
    env: dict[str, str]
    migrate: subprocess.CompletedProcess[str]
    first_seed: subprocess.CompletedProcess[str]


def ehome_env(data_dir: Path) -> dict[str, str]:
    # Start from the test process's environment minus any EHOME_* of the caller's shell.
    env = {k: v for k, v in os.environ.items() if not k.startswith("EHOME_")}
    env.update(
        EHOME_DATA_DIR=str(data_dir),
        EHOME_DATABASE_URL=f"sqlite+aiosqlite:///{data_dir / 'ehome.db'}",
        EHOME_DEMO_PASSWORD=DEMO_PASSWORD,
        PYTHONUNBUFFERED="1",
    )
    return env


def ehome(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # cwd is the temporary folder: the commands must not depend on being run from the repo.
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("cli")
    env = ehome_env(root / "data")
    migrate = ehome(env, root, "migrate")
    assert migrate.returncode == 0, migrate.stderr
    first_seed = ehome(env, root, "seed", "--scale", "small", "--demo", "--if-empty")
    return Site(root=root, env=env, migrate=migrate, first_seed=first_seed)


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_migrate(site: Site) -> None:
    assert "latest migration" in site.migrate.stdout
    assert (site.root / "data" / "ehome.db").is_file()
    # Running it again (as `make run` does on every start) is harmless.
    again = ehome(site.env, site.root, "migrate")
    assert again.returncode == 0, again.stderr


def _expected_counts() -> list[str]:
    spec = SCALES["small"]
    tenants = spec.districts * (1 + spec.towns_per_district + spec.villages_per_district)
    return [
        f"{tenants} tenants",
        f"{spec.branches_per_district} branches",
        f"{spec.members_per_district} members",
        "activities",
        "users",
    ]


def test_first_seed_loads_and_warns(site: Site) -> None:
    result = site.first_seed
    assert result.returncode == 0, output(result)
    flat = " ".join(output(result).split())
    summary = re.search(r"ehome: seeded small scale \(seed 1\) in [\d.]+ s: [^.]*users", flat)
    assert summary, flat
    for count in _expected_counts():
        assert count in summary.group(0), summary.group(0)
    warning = re.search(r"WARNING: the demo accounts .*? use the password '([^']*)'", flat)
    assert warning, flat
    assert warning.group(1) == DEMO_PASSWORD


def test_seed_summary_is_one_line(site: Site) -> None:
    # Run without a terminal (CI, containers, `make run | tee`), the summary must still be one
    # line: log collectors and greps read line by line.
    lines = output(site.first_seed).splitlines()
    summary = [line for line in lines if "ehome: seeded" in line]
    assert len(summary) == 1, lines
    missing = [count for count in _expected_counts() if count not in summary[0]]
    assert not missing, f"{missing} not on the summary line {summary[0]!r}"


def test_seed_if_empty_keeps_the_data(site: Site) -> None:
    result = ehome(site.env, site.root, "seed", "--scale", "small", "--demo", "--if-empty")
    assert result.returncode == 0, output(result)
    assert "keeping it" in output(result)
    assert "ehome: seeded" not in output(result)


def test_seed_refuses_a_seeded_database(site: Site) -> None:
    result = ehome(site.env, site.root, "seed", "--scale", "small")
    assert result.returncode == 1, output(result)
    assert "already holds" in output(result)
    assert "Traceback" not in output(result)


def _wait_until_healthy(base: str, server: subprocess.Popen[str]) -> httpx.Response:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the server exited with {server.returncode}")
        try:
            response = httpx.get(f"{base}/healthz", timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.1)
    raise AssertionError("the server did not answer /healthz within 60 s")


@pytest.fixture
def server(site: Site) -> Iterator[str]:
    """`ehome serve` on a free port; always stopped at the end."""
    port = free_port()
    log_path = site.root / f"serve-{port}.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port)],
        env=site.env,
        cwd=site.root,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        try:
            health = _wait_until_healthy(base, process)
        except AssertionError as exc:
            log.flush()
            raise AssertionError(f"{exc}\n{log_path.read_text()}") from None
        assert health.json()["status"] == "ok"
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        log.close()


def test_serve(site: Site, server: str) -> None:
    health = httpx.get(f"{server}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.headers["content-type"].startswith("application/json")
    body = health.json()
    assert body["status"] == "ok"

    # A real sign-in against the running server, with the password the demo seed printed.
    login = httpx.post(
        f"{server}/graphql",
        json={
            "query": 'mutation($p: String!) { login(username: "admin", password: $p)'
            " { accessToken viewer { grants { role tenant { level } } } } }",
            "variables": {"p": DEMO_PASSWORD},
        },
        timeout=30,
    ).json()["data"]["login"]
    assert login["viewer"]["grants"] == [{"role": "SUPER_ADMIN", "tenant": {"level": "DISTRICT"}}]
    response = httpx.post(
        f"{server}/graphql",
        json={"query": "{ overview { members } }"},
        headers={"authorization": f"Bearer {login['accessToken']}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    payload = response.json()
    assert "errors" not in payload, payload
    # The count the seed just reported, read back through the running server.
    # Whitespace collapsed: this test is about the server, not about how the summary wraps.
    seeded = re.search(
        r"ehome: seeded .*?(\d[\d,]*) members", " ".join(output(site.first_seed).split())
    )
    assert seeded, output(site.first_seed)
    assert payload["data"]["overview"]["members"] == int(seeded.group(1).replace(",", ""))
    assert payload["data"]["overview"]["members"] == SCALES["small"].members_per_district

    page = httpx.get(f"{server}/", timeout=10)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "总指挥中心" in page.text


def test_export_then_check_schema(tmp_path: Path) -> None:
    env = ehome_env(tmp_path / "data")
    sdl = tmp_path / "x.graphql"
    exported = ehome(env, tmp_path, "export-schema", "--path", str(sdl))
    assert exported.returncode == 0, exported.stderr
    assert "type Query" in sdl.read_text()
    checked = ehome(env, tmp_path, "check-schema", "--path", str(sdl))
    assert checked.returncode == 0, output(checked)
    assert "matches" in checked.stdout


def test_check_schema_reports_a_removed_field(tmp_path: Path) -> None:
    env = ehome_env(tmp_path / "data")
    sdl = tmp_path / "x.graphql"
    assert ehome(env, tmp_path, "export-schema", "--path", str(sdl)).returncode == 0
    # The checked-in file promises a field the code does not have: clients may use it, so the
    # code's schema removes it, which is a breaking change.
    text = sdl.read_text()
    assert "type Overview {" in text
    sdl.write_text(text.replace("type Overview {", "type Overview {\n  ghost: Int!", 1))
    result = ehome(env, tmp_path, "check-schema", "--path", str(sdl))
    assert result.returncode == 1, output(result)
    assert "BREAKING" in result.stdout
    assert "ghost" in result.stdout
    assert "differs" in result.stderr


def test_check_schema_notices_any_difference(tmp_path: Path) -> None:
    env = ehome_env(tmp_path / "data")
    sdl = tmp_path / "x.graphql"
    assert ehome(env, tmp_path, "export-schema", "--path", str(sdl)).returncode == 0
    # A field missing from the file is not breaking, but the file is stale all the same.
    text = sdl.read_text()
    start = text.index("type Overview {")
    end = text.index("}", start)
    overview = text[start:end]
    assert "\n  members: Int!\n" in overview
    stale = text[:start] + overview.replace("\n  members: Int!\n", "\n", 1) + text[end:]
    sdl.write_text(stale)
    result = ehome(env, tmp_path, "check-schema", "--path", str(sdl))
    assert result.returncode == 1, output(result)
    assert "BREAKING" not in result.stdout
    assert "differs" in result.stderr


def test_check_schema_without_a_file(tmp_path: Path) -> None:
    result = ehome(ehome_env(tmp_path), tmp_path, "check-schema", "--path", str(tmp_path / "no"))
    assert result.returncode == 1
    assert "missing" in result.stderr


def test_user_create_and_disable(site: Site, tmp_path: Path) -> None:
    env = dict(site.env, EHOME_NEW_PASSWORD="care-worker-pw-1")
    made = ehome(env, tmp_path, "user", "create", "care.worker")
    assert made.returncode == 0, output(made)
    assert "care-worker-pw-1" not in output(made)
    again = ehome(env, tmp_path, "user", "create", "care.worker")
    assert again.returncode == 1 and "already" in again.stderr
    short = ehome(dict(site.env, EHOME_NEW_PASSWORD="short"), tmp_path, "user", "create", "x.y.z")
    assert short.returncode == 1 and "at least" in short.stderr
    granted = ehome(env, tmp_path, "role", "grant", "care.worker", "CARE", "d01t01")
    assert granted.returncode == 0, output(granted)
    listed = ehome(env, tmp_path, "role", "list", "care.worker")
    assert "CARE" in listed.stdout
    gone = ehome(env, tmp_path, "user", "disable", "care.worker")
    assert gone.returncode == 0, output(gone)
    trail = ehome(env, tmp_path, "audit", "tail", "--limit", "5")
    assert "user.create" in trail.stdout and "user.disable" in trail.stdout
    assert "care-worker-pw-1" not in trail.stdout
    missing = ehome(env, tmp_path, "user", "disable", "nobody.here")
    assert missing.returncode == 1 and "no user" in missing.stderr
