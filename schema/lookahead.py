"""What a query selects below a field, with fragments and aliases merged.

Used once per list resolver (never per row) to decide which to-one relations to JOIN.
"""

from __future__ import annotations

from collections.abc import Iterable

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

__all__ = ["Lookahead"]


class Lookahead:
    __slots__ = ("_fields",)

    def __init__(self, selections: Iterable[Selection]) -> None:
        self._fields: dict[str, list[SelectedField]] = {}
        self._add(selections)

    def _add(self, selections: Iterable[Selection]) -> None:
        for selection in selections:
            if isinstance(selection, SelectedField):
                self._fields.setdefault(selection.name, []).append(selection)
            elif isinstance(selection, FragmentSpread | InlineFragment):
                self._add(selection.selections)

    @classmethod
    def of(cls, info: Info) -> Lookahead:
        return cls(child for field in info.selected_fields for child in field.selections)

    def has(self, name: str) -> bool:
        return name in self._fields

    def __getitem__(self, name: str) -> Lookahead:
        return Lookahead(
            child for field in self._fields.get(name, ()) for child in field.selections
        )
