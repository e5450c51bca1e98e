"""Pure functions over materialized tenant paths.

A path lists the segments from the district down, and always ends in '/': `/d01/t03/v017/`.
The trailing slash is what keeps `/d01/t03/` from also matching `/d01/t30/`.
"""

from __future__ import annotations

import re

ROOT = "/"
_SEGMENT = re.compile(r"^[a-z0-9]+$")


class PathError(ValueError):
    pass


def child_path(parent: str, segment: str) -> str:
    if not _SEGMENT.match(segment):
        raise PathError(f"bad path segment {segment!r}: use lower-case letters and digits")
    return check(parent) + segment + "/"


def check(path: str) -> str:
    if not path.startswith("/") or not path.endswith("/") or "//" in path:
        raise PathError(f"bad tenant path {path!r}: it must start and end with '/'")
    return path


def depth(path: str) -> int:
    """`/` is 0, a district 1, a town 2, a village 3."""
    return check(path).count("/") - 1


def is_within(path: str, ancestor: str) -> bool:
    """True when `path` is `ancestor` itself or lies below it."""
    return path.startswith(ancestor)


def ancestors(path: str) -> list[str]:
    """The paths above `path`, nearest last, without `/` itself."""
    parts = check(path).strip("/").split("/")
    return ["/" + "/".join(parts[:i]) + "/" for i in range(1, len(parts))]


def upper_bound(prefix: str) -> str:
    """The smallest string above every path that starts with `prefix`.

    Paths hold only [a-z0-9/]; '/' is followed by '0' in byte order, so every path under
    `/d01/t03/` sorts in [`/d01/t03/`, `/d01/t030`). A range scan uses a plain b-tree index on
    SQLite and PostgreSQL alike, where LIKE needs special operator classes.
    """
    return check(prefix)[:-1] + "0"


def minimal(paths: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Drop every path that lies under another one of the list."""
    kept: list[str] = []
    for path in sorted(set(paths)):
        if not any(is_within(path, k) for k in kept):
            kept.append(path)
    return tuple(kept)
