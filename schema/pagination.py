"""Arguments of a cursor page: `first` (default 20, at most 100) and `after`."""

from __future__ import annotations

from dataclasses import dataclass

from schema.ids import parse_cursor
from server.errors import BadUserInput

DEFAULT_FIRST = 20
MAX_FIRST = 100


@dataclass(frozen=True, slots=True)
class PageArgs:
    first: int
    after_id: int | None

    @classmethod
    def parse(cls, first: int | None, after: str | None) -> PageArgs:
        if first is None:
            first = DEFAULT_FIRST
        if not 0 <= first <= MAX_FIRST:
            raise BadUserInput(
                f"first must be between 0 and {MAX_FIRST}, got {first}", argument="first"
            )
        return cls(first, None if after is None else parse_cursor(after))

    @property
    def fetch(self) -> int:
        """Rows to fetch: one more than the page tells whether another page follows."""
        return self.first + 1
