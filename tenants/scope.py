"""Scope: the subtrees a request may see, turned into one SQL predicate.

A Scope is computed once per request (from the principal's role anchors once authorization
lands; the whole tree until then) and every list, count and lookup is filtered by it in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from tenants.paths import ROOT, is_within, minimal, upper_bound


@dataclass(frozen=True, slots=True)
class Scope:
    roots: tuple[str, ...]

    @classmethod
    def of(cls, *paths: str) -> Scope:
        return cls(minimal(paths))

    @classmethod
    def everything(cls) -> Scope:
        return cls((ROOT,))

    @property
    def is_empty(self) -> bool:
        return not self.roots

    def contains(self, path: str) -> bool:
        return any(is_within(path, root) for root in self.roots)

    def narrow(self, under: str | None) -> Scope:
        """The part of this scope at or below `under`; `under` never widens it."""
        if under is None:
            return self
        if self.contains(under):
            return Scope((under,))
        return Scope(tuple(r for r in self.roots if is_within(r, under)))

    def predicate(
        self, path_column: InstrumentedAttribute[str] | ColumnElement[str]
    ) -> ColumnElement[bool]:
        if not self.roots:
            return false()
        if self.roots == (ROOT,):
            return true()
        return or_(*(and_(path_column >= r, path_column < upper_bound(r)) for r in self.roots))
