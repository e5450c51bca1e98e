"""Typed settings, read once from EHOME_* environment variables.

A bad value stops start-up with one line that names the variable (SettingsError), never a
traceback deep inside a driver.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Env = Literal["dev", "production"]
LogFormat = Literal["text", "json"]


class SettingsError(ValueError):
    """A setting has a value ehome cannot use; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    env: Env = "dev"
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    redis_prefix: str = "ehome"
    secret_key: str = field(default="", repr=False)
    demo_password: str = field(default="ehome-demo", repr=False)
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    sql_echo: bool = False
    timezone: str = "Asia/Shanghai"
    access_ttl: int = 900
    refresh_ttl: int = 14 * 24 * 3600
    feed_queue: int = 1000
    ws_ping: int = 15
    schedule_interval: int = 60
    # Operation limits, checked before execution (schema/limits.py).
    query_timeout: int = 10
    max_depth: int = 10
    max_aliases: int = 30
    max_tokens: int = 5000
    max_directives: int = 50
    max_root_fields: int = 20
    max_cost: int = 20000
    # HTTP (server/graphql_view.py, server/middleware.py).
    max_body: int = 1024 * 1024
    batch_max: int = 0
    cors_origins: tuple[str, ...] = ()
    # Cost a principal, and a client address, may spend per minute (0: no limit).
    rate_limit: int = 100_000
    rate_limit_address: int = 200_000

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


# Each documented variable: (name, default shown in the README, meaning). The README's table is
# checked against this list by a test, so the two cannot drift apart.
DOCUMENTED: tuple[tuple[str, str, str], ...] = (
    ("EHOME_ENV", "dev", "`dev` or `production`"),
    ("EHOME_HOST", "127.0.0.1", "address `ehome serve` binds"),
    ("EHOME_PORT", "8000", "port `ehome serve` binds"),
    ("EHOME_DATA_DIR", "var", "folder for the SQLite file and the dev secret key"),
    ("EHOME_DATABASE_URL", "sqlite+aiosqlite:///var/ehome.db", "SQLAlchemy async URL"),
    ("EHOME_REDIS_URL", "(unset: in-process bus)", "Redis URL for the bus across processes"),
    ("EHOME_REDIS_PREFIX", "ehome", "this deployment's channel prefix on a shared Redis"),
    (
        "EHOME_SECRET_KEY",
        "(dev: generated into var/secret_key)",
        "signing key; required in production",
    ),
    ("EHOME_DEMO_PASSWORD", "ehome-demo", "password of the demo accounts made by `seed --demo`"),
    ("EHOME_LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING or ERROR"),
    ("EHOME_LOG_FORMAT", "text (json in production)", "`text` or `json` (one object a line)"),
    ("EHOME_SQL_ECHO", "0", "1 logs every SQL statement"),
    ("EHOME_TIMEZONE", "Asia/Shanghai", 'the district\'s time zone (what "today" means)'),
    ("EHOME_ACCESS_TTL", "900", "seconds an access token is valid"),
    ("EHOME_REFRESH_TTL", "1209600", "seconds a refresh token is valid (14 days)"),
    ("EHOME_FEED_QUEUE", "1000", "events a feed subscriber may fall behind before it is ended"),
    ("EHOME_WS_PING", "15", "seconds between the server's WebSocket pings"),
    ("EHOME_SCHEDULE_INTERVAL", "60", "seconds between the scheduler's passes; 0 turns it off"),
    ("EHOME_NEW_PASSWORD", "(unset: asked)", "the password `ehome user create` sets, for scripts"),
    ("EHOME_QUERY_TIMEOUT", "10", "seconds an operation may run"),
    ("EHOME_MAX_DEPTH", "10", "deepest selection an operation may have"),
    ("EHOME_MAX_ALIASES", "30", "aliases per operation"),
    ("EHOME_MAX_TOKENS", "5000", "tokens per document"),
    ("EHOME_MAX_DIRECTIVES", "50", "directives per operation"),
    ("EHOME_MAX_ROOT_FIELDS", "20", "root fields per operation"),
    ("EHOME_MAX_COST", "20000", "cost per operation, lists counted by their `first`"),
    ("EHOME_MAX_BODY", "1048576", "bytes of a request body"),
    ("EHOME_BATCH_MAX", "0", "operations per batched request; 0 turns batching off"),
    ("EHOME_CORS_ORIGINS", "(unset: none)", "origins allowed to call from a browser"),
    ("EHOME_RATE_LIMIT", "100000", "cost a principal may spend per minute; 0 turns it off"),
    ("EHOME_RATE_LIMIT_ADDRESS", "200000", "cost a client address may spend per minute"),
)

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
_DB_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")


def _without_credentials(url: str) -> str:
    """A URL fit for an error message: whatever precedes '@' may hold a password."""
    head, at, tail = url.rpartition("@")
    if not at:
        return url
    scheme = head.partition("://")[0] + "://" if "://" in head else ""
    return f"{scheme}…@{tail}"


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = env.get(name, default).strip()
    if value not in allowed:
        raise SettingsError(f"{name}={value!r} is not one of: {', '.join(allowed)}")
    return value


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = env.get(name, "0").strip().lower()
    if value not in ("0", "1", "true", "false", "yes", "no", ""):
        raise SettingsError(f"{name}={value!r} must be 0 or 1")
    return value in ("1", "true", "yes")


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, str(default)).strip()
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 65536:
        raise SettingsError(f"{name}={raw!r} must be a port number from 1 to 65535")
    return int(raw)


def _database_url(env: Mapping[str, str], data_dir: Path) -> str:
    url = env.get("EHOME_DATABASE_URL", "").strip()
    if not url:
        return f"sqlite+aiosqlite:///{data_dir / 'ehome.db'}"
    # Accept the URLs people copy from elsewhere, and name the async driver ehome uses.
    for plain, driver in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            url = driver + url[len(plain) :]
    scheme = url.split("://", 1)[0]
    if "://" not in url or scheme not in _DB_SCHEMES:
        raise SettingsError(
            f"EHOME_DATABASE_URL={_without_credentials(url)!r} must start with one of: "
            + ", ".join(s + "://" for s in _DB_SCHEMES)
        )
    return url


def _secret_key(env: Mapping[str, str], mode: Env, data_dir: Path) -> str:
    key = env.get("EHOME_SECRET_KEY", "").strip()
    if key:
        if len(key) < 32:
            raise SettingsError("EHOME_SECRET_KEY must be at least 32 characters long")
        return key
    if mode == "production":
        raise SettingsError("EHOME_SECRET_KEY is required when EHOME_ENV=production")
    # Dev: one key per data folder, kept so that tokens survive a restart.
    path = data_dir / "secret_key"
    if path.exists():
        kept = path.read_text().strip()
        if len(kept) >= 32:
            return kept
        # An empty or cut-off file (a crash mid-write): never sign with it, make a new key.
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # Readable by the owner only from the first byte, and renamed into place whole.
    partial = path.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    os.replace(partial, path)
    return key


def _prefix(env: Mapping[str, str]) -> str:
    value = env.get("EHOME_REDIS_PREFIX", "ehome").strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value):
        raise SettingsError(
            f"EHOME_REDIS_PREFIX={value!r} must be 1 to 64 letters, digits, '.', '_' or '-'"
        )
    return value


def _seconds(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, str(default)).strip()
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise SettingsError(f"{name}={raw!r} must be a number of seconds from {low} to {high}")
    return int(raw)


def _count(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, str(default)).strip()
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise SettingsError(f"{name}={raw!r} must be a whole number from {low} to {high}")
    return int(raw)


_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$")


def _origins(env: Mapping[str, str]) -> tuple[str, ...]:
    """Exact origins (scheme, host, port), comma-separated; no wildcards: credentials travel."""
    raw = env.get("EHOME_CORS_ORIGINS", "").strip()
    origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
    for origin in origins:
        if not _ORIGIN.match(origin):
            raise SettingsError(
                f"EHOME_CORS_ORIGINS: {origin!r} is not an origin like https://portal.example.org"
            )
    return origins


def _timezone(env: Mapping[str, str]) -> str:
    name = env.get("EHOME_TIMEZONE", "Asia/Shanghai").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "Asia" is a folder, not a zone
        raise SettingsError(f"EHOME_TIMEZONE={name!r} is not a known time zone") from None
    return name


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    mode: Env = _choice(env, "EHOME_ENV", ("dev", "production"), "dev")  # type: ignore[assignment]
    data_dir = Path(env.get("EHOME_DATA_DIR", "var").strip() or "var")
    redis_url = env.get("EHOME_REDIS_URL", "").strip() or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            f"EHOME_REDIS_URL={_without_credentials(redis_url)!r} must start with redis://, "
            "rediss:// or unix://"
        )
    log_format: LogFormat = _choice(  # type: ignore[assignment]
        env, "EHOME_LOG_FORMAT", ("text", "json"), "json" if mode == "production" else "text"
    )
    return Settings(
        env=mode,
        host=env.get("EHOME_HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=_port(env, "EHOME_PORT", 8000),
        data_dir=data_dir,
        database_url=_database_url(env, data_dir),
        redis_url=redis_url,
        redis_prefix=_prefix(env),
        secret_key=_secret_key(env, mode, data_dir),
        demo_password=env.get("EHOME_DEMO_PASSWORD", "ehome-demo"),
        log_level=_choice(env, "EHOME_LOG_LEVEL", _LOG_LEVELS, "INFO"),
        log_format=log_format,
        sql_echo=_flag(env, "EHOME_SQL_ECHO"),
        timezone=_timezone(env),
        access_ttl=_seconds(env, "EHOME_ACCESS_TTL", 900, 10, 24 * 3600),
        refresh_ttl=_seconds(env, "EHOME_REFRESH_TTL", 14 * 24 * 3600, 60, 90 * 24 * 3600),
        feed_queue=_seconds(env, "EHOME_FEED_QUEUE", 1000, 10, 1_000_000),
        ws_ping=_seconds(env, "EHOME_WS_PING", 15, 1, 3600),
        schedule_interval=_seconds(env, "EHOME_SCHEDULE_INTERVAL", 60, 0, 3600),
        query_timeout=_seconds(env, "EHOME_QUERY_TIMEOUT", 10, 1, 600),
        max_depth=_count(env, "EHOME_MAX_DEPTH", 10, 1, 100),
        max_aliases=_count(env, "EHOME_MAX_ALIASES", 30, 0, 1000),
        max_tokens=_count(env, "EHOME_MAX_TOKENS", 5000, 100, 1_000_000),
        max_directives=_count(env, "EHOME_MAX_DIRECTIVES", 50, 0, 1000),
        max_root_fields=_count(env, "EHOME_MAX_ROOT_FIELDS", 20, 1, 1000),
        max_cost=_count(env, "EHOME_MAX_COST", 20000, 1, 100_000_000),
        max_body=_count(env, "EHOME_MAX_BODY", 1024 * 1024, 1024, 100 * 1024 * 1024),
        batch_max=_count(env, "EHOME_BATCH_MAX", 0, 0, 100),
        cors_origins=_origins(env),
        rate_limit=_count(env, "EHOME_RATE_LIMIT", 100_000, 0, 1_000_000_000),
        rate_limit_address=_count(env, "EHOME_RATE_LIMIT_ADDRESS", 200_000, 0, 1_000_000_000),
    )
