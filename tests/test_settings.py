"""Settings: what `load_settings` makes of the EHOME_* variables.

Proves the defaults, that every bad value stops start-up with a SettingsError naming the
variable (and, from the real command line, with one line on stderr and exit code 2), that the
dev secret key is generated once, privately, and reused, that database URLs are normalized to
the async drivers without leaking passwords into errors, and that every EHOME_* variable the
code reads is documented.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from server.settings import DOCUMENTED, SettingsError, load_settings

REPO = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("server", "schema", "tenants", "policies")
# Read only by the test suite (tests/conftest.py), never by the application.
TEST_ONLY = {"EHOME_REQUIRE_SERVICES"}
PASSWORD = "S3cr3t-Pw-4711"


def env(tmp_path: Path, **values: str) -> dict[str, str]:
    """An environment with the data folder in tmp_path, so no test writes into the repo."""
    return {"EHOME_DATA_DIR": str(tmp_path), **values}


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path))
    assert settings.env == "dev"
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.data_dir == tmp_path
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'ehome.db'}"
    assert settings.is_sqlite
    assert settings.redis_url is None
    assert len(settings.secret_key) >= 32
    assert settings.demo_password == "ehome-demo"
    assert settings.log_level == "INFO"
    assert settings.log_format == "text"
    assert settings.sql_echo is False
    assert settings.timezone == "Asia/Shanghai"


def test_explicit_values(tmp_path: Path) -> None:
    settings = load_settings(
        env(
            tmp_path,
            EHOME_ENV="production",
            EHOME_HOST="0.0.0.0",
            EHOME_PORT="9001",
            EHOME_DATABASE_URL="postgresql+asyncpg://app@db/ehome",
            EHOME_REDIS_URL="rediss://cache:6380/1",
            EHOME_SECRET_KEY="k" * 40,
            EHOME_DEMO_PASSWORD="show-me",
            EHOME_LOG_LEVEL="DEBUG",
            EHOME_SQL_ECHO="1",
            EHOME_TIMEZONE="UTC",
        )
    )
    assert settings.env == "production"
    assert settings.host == "0.0.0.0"
    assert settings.port == 9001
    assert settings.database_url == "postgresql+asyncpg://app@db/ehome"
    assert not settings.is_sqlite
    assert settings.redis_url == "rediss://cache:6380/1"
    assert settings.secret_key == "k" * 40
    assert settings.demo_password == "show-me"
    assert settings.log_level == "DEBUG"
    # Production logs one JSON object a line unless told otherwise.
    assert settings.log_format == "json"
    assert settings.sql_echo is True
    assert settings.timezone == "UTC"


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), ("true", True), ("yes", True), ("0", False), ("no", False)]
)
def test_sql_echo_flag(tmp_path: Path, raw: str, expected: bool) -> None:
    assert load_settings(env(tmp_path, EHOME_SQL_ECHO=raw)).sql_echo is expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EHOME_ENV", "staging"),
        ("EHOME_ENV", "PRODUCTION"),
        ("EHOME_PORT", "abc"),
        ("EHOME_PORT", "0"),
        ("EHOME_PORT", "70000"),
        ("EHOME_PORT", "65536"),
        ("EHOME_PORT", "-1"),
        ("EHOME_PORT", ""),
        # str.isdigit() accepts this, int() does not: it must still be a SettingsError.
        ("EHOME_PORT", "²"),
        ("EHOME_DATABASE_URL", "mysql://db/ehome"),
        ("EHOME_DATABASE_URL", "postgresql+psycopg://db/ehome"),
        ("EHOME_DATABASE_URL", "just-a-file.db"),
        ("EHOME_REDIS_URL", "http://cache:6379"),
        ("EHOME_REDIS_URL", "cache:6379"),
        ("EHOME_LOG_LEVEL", "VERBOSE"),
        ("EHOME_LOG_LEVEL", "CRITICAL"),
        ("EHOME_LOG_FORMAT", "xml"),
        ("EHOME_TIMEZONE", "Mars/Olympus_Mons"),
        ("EHOME_TIMEZONE", ""),
        # A region folder of the tz database, not a zone: an easy slip when setting it by hand.
        ("EHOME_TIMEZONE", "Asia"),
        ("EHOME_SQL_ECHO", "maybe"),
        ("EHOME_SQL_ECHO", "2"),
        ("EHOME_SECRET_KEY", "too-short"),
        ("EHOME_SECRET_KEY", "x" * 31),
    ],
)
def test_bad_value_names_the_variable(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env(tmp_path, **{name: value}))
    assert name in str(caught.value)


def test_production_requires_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="EHOME_SECRET_KEY"):
        load_settings(env(tmp_path, EHOME_ENV="production"))
    # Production never falls back to a generated key on disk.
    assert not (tmp_path / "secret_key").exists()


def test_secret_key_of_exactly_32_characters_is_accepted(tmp_path: Path) -> None:
    assert load_settings(env(tmp_path, EHOME_SECRET_KEY="y" * 32)).secret_key == "y" * 32


def test_dev_generates_a_private_key_and_reuses_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet" / "there"
    first = load_settings({"EHOME_DATA_DIR": str(data_dir)})
    key_file = data_dir / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32
    assert key_file.read_text().strip() == first.secret_key
    # The next start reads the same key, so signed tokens survive a restart.
    second = load_settings({"EHOME_DATA_DIR": str(data_dir)})
    assert second.secret_key == first.secret_key
    # Another data folder gets a key of its own.
    other = load_settings({"EHOME_DATA_DIR": str(tmp_path / "other")})
    assert other.secret_key != first.secret_key


def test_dev_never_signs_with_a_blank_key_file(tmp_path: Path) -> None:
    # An empty key file (a crash mid-write, a `touch`) must not become an empty signing key:
    # either it is refused with a message naming the key, or a usable key replaces it.
    (tmp_path / "secret_key").write_text("\n")
    try:
        settings = load_settings(env(tmp_path))
    except SettingsError as exc:
        assert "secret" in str(exc).lower()
    else:
        assert len(settings.secret_key) >= 32


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u@db:5432/ehome", "postgresql+asyncpg://u@db:5432/ehome"),
        ("postgresql://u@db:5432/ehome", "postgresql+asyncpg://u@db:5432/ehome"),
        ("postgresql+asyncpg://u@db/ehome", "postgresql+asyncpg://u@db/ehome"),
        ("sqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("sqlite+aiosqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db"),
        ("  postgres://u@db/ehome  ", "postgresql+asyncpg://u@db/ehome"),
    ],
)
def test_database_url_names_the_async_driver(tmp_path: Path, given: str, expected: str) -> None:
    assert load_settings(env(tmp_path, EHOME_DATABASE_URL=given)).database_url == expected


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://admin:{PASSWORD}@db.example:3306/ehome",
        f"postgresql+psycopg://admin:{PASSWORD}@db/ehome",
        f"admin:{PASSWORD}@db/ehome",
        f"mysql://admin:{PASSWORD}@db/ehome?ssl=@on",
    ],
)
def test_database_password_never_appears_in_the_error(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(env(tmp_path, EHOME_DATABASE_URL=url))
    message = str(caught.value)
    assert "EHOME_DATABASE_URL" in message
    assert PASSWORD not in message


def test_redis_password_never_appears_in_the_error(tmp_path: Path) -> None:
    # The same rule as for the database: errors end up in logs, credentials must not.
    with pytest.raises(SettingsError) as caught:
        load_settings(env(tmp_path, EHOME_REDIS_URL=f"http://:{PASSWORD}@cache:6379/0"))
    assert "EHOME_REDIS_URL" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def _variables_in_source() -> dict[str, list[str]]:
    """Every EHOME_* name in the application's source, with the files that mention it."""
    found: dict[str, list[str]] = {}
    for folder in SOURCE_DIRS:
        for path in sorted((REPO / folder).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue  # binary files hold no variable names
            for name in re.findall(r"EHOME_[A-Z_]+", text):
                found.setdefault(name, []).append(str(path.relative_to(REPO)))
    return found


def test_every_variable_in_the_source_is_documented() -> None:
    found = _variables_in_source()
    # The scan itself must work, or this test would pass on nothing.
    assert {"EHOME_PORT", "EHOME_DATABASE_URL", "EHOME_SECRET_KEY"} <= found.keys()
    documented = {name for name, _default, _meaning in DOCUMENTED}
    missing = {name: files for name, files in found.items() if name not in documented | TEST_ONLY}
    assert not missing, f"EHOME_* variables read but not in settings.DOCUMENTED: {missing}"


def test_documented_names_are_unique_and_well_formed() -> None:
    names = [name for name, _default, _meaning in DOCUMENTED]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"EHOME_[A-Z_]+", name) for name in names)
    assert all(meaning for _name, _default, meaning in DOCUMENTED)


def _clean_environ(**values: str) -> dict[str, str]:
    """The test process's environment without any EHOME_* from the caller's shell."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("EHOME_")}
    return {**base, **values}


def test_cli_reports_a_bad_setting_in_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server.cli", "migrate"],
        env=_clean_environ(
            EHOME_PORT="abc",
            EHOME_DATA_DIR=str(tmp_path),
            EHOME_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'never.db'}",
        ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "EHOME_PORT" in lines[0]
    assert "Traceback" not in result.stderr
    # Start-up stopped before touching the database.
    assert not (tmp_path / "never.db").exists()
