"""Lazy: a to-one reference that loads through a DataLoader only if the query reads it.

Node types hold their to-one relations as plain attributes: the loaded object when the list's
query JOINed it, or a Lazy otherwise. graphql-core awaits an awaitable attribute only when the
field is selected, so an unselected relation costs nothing, and a selected one joins the batch
of its DataLoader (one IN query per level). A plain attribute costs ~4 µs a field where an async
resolver costs 20-40 µs (../shared/PERFORMANCE.md).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, Generic, TypeVar

from strawberry.dataloader import DataLoader

T = TypeVar("T")


class Lazy(Generic[T]):
    __slots__ = ("key", "loader")

    def __init__(self, loader: DataLoader[int, T], key: int) -> None:
        self.loader = loader
        self.key = key

    def __await__(self) -> Generator[Any, None, T]:
        return self.loader.load(self.key).__await__()
