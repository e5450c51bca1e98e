"""Scope: what a request may see of one kind of object, turned into one SQL predicate.

A Scope is computed once per request and resource from the principal's role bindings
(policies/enforcer.py), and every list, count and lookup is filtered by it in SQL:

- `roots`: whole subtrees (`/d01/t03/`), from admin, auditor and partner bindings;
- `branch_ids`, `member_ids`: single objects, for a member's own branch and record;
- `within`: a subtree everything must also lie in (set by `under`, which narrows, never widens).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.orm import QueryableAttribute

from tenants.paths import ROOT, is_within, minimal, upper_bound


@dataclass(frozen=True, slots=True)
class Scope:
    roots: tuple[str, ...]
    branch_ids: frozenset[int] = frozenset()
    member_ids: frozenset[int] = frozenset()
    within: str | None = None

    @classmethod
    def of(cls, *paths: str) -> Scope:
        return cls(minimal(paths))

    @classmethod
    def everything(cls) -> Scope:
        return cls((ROOT,))

    @classmethod
    def nothing(cls) -> Scope:
        return cls(())

    @property
    def is_empty(self) -> bool:
        return not (self.roots or self.branch_ids or self.member_ids)

    def contains(self, path: str) -> bool:
        """Whether the whole tenant at `path` is visible (not just single objects in it)."""
        if self.within is not None and not is_within(path, self.within):
            return False
        return any(is_within(path, root) for root in self.roots)

    def admits(self, path: str, *, branch: int | None = None, member: int | None = None) -> bool:
        """The predicate's answer in Python, for one object (the feed filters events by it)."""
        if self.within is not None and not is_within(path, self.within):
            return False
        return (
            any(is_within(path, root) for root in self.roots)
            or (branch is not None and branch in self.branch_ids)
            or (member is not None and member in self.member_ids)
        )

    def union(self, other: Scope) -> Scope:
        if self.within != other.within:
            raise ValueError("cannot join scopes narrowed to different subtrees")
        return Scope(
            minimal(self.roots + other.roots),
            self.branch_ids | other.branch_ids,
            self.member_ids | other.member_ids,
            self.within,
        )

    def narrow(self, under: str | None) -> Scope:
        """The part of this scope at or below `under`; `under` never widens it."""
        if under is None:
            return self
        if self.within is not None and not (is_within(under, self.within)):
            if is_within(self.within, under):
                return self  # already narrower
            return Scope.nothing()
        roots = tuple(
            under if is_within(under, root) else root
            for root in self.roots
            if is_within(under, root) or is_within(root, under)
        )
        return Scope(minimal(roots), self.branch_ids, self.member_ids, under)

    def predicate(
        self,
        path: ColumnElement[str] | QueryableAttribute[str] | QueryableAttribute[str | None],
        *,
        branch: ColumnElement[int] | QueryableAttribute[int] | None = None,
        member: ColumnElement[int] | QueryableAttribute[int] | None = None,
    ) -> ColumnElement[bool]:
        """The SQL condition: the row's tenant path in a root, or its branch or member listed
        (where the row has such a column), and within `within`."""
        anyof: list[ColumnElement[bool]] = []
        if ROOT in self.roots:
            anyof.append(true())
        else:
            anyof += [and_(path >= r, path < upper_bound(r)) for r in self.roots]
        if branch is not None and self.branch_ids:
            anyof.append(branch.in_(sorted(self.branch_ids)))
        if member is not None and self.member_ids:
            anyof.append(member.in_(sorted(self.member_ids)))
        if not anyof:
            return false()
        condition = or_(*anyof) if len(anyof) > 1 else anyof[0]
        if self.within is not None and self.within != ROOT:
            condition = and_(path >= self.within, path < upper_bound(self.within), condition)
        return condition
