"""A service type's form, declared as data, and the checking of one submission against it.

Field types and what a value must be (JSON values, as GraphQL's JSON scalar delivers them):

- TEXT: a string, at most `maxLength` characters (default 200); leading and trailing blanks
  are dropped.
- NUMBER: a number (not a boolean, not a string), finite.
- DATE: a calendar date as `YYYY-MM-DD`.
- BOOL: true or false.
- CHOICE: one of the field's `options`, exactly.

A required field must be present and not null, and a TEXT one not blank; an optional field
may be left out or null. A key the form does not declare is refused. Every refusal is
BAD_USER_INPUT naming the exact place: `values.<key>` or `materials.<key>`.

Materials are listed as metadata (key, file name, content type, size in bytes; no file is
stored): each required material once, nothing the form does not ask for, sizes from 1 byte
to MAX_MATERIAL_BYTES.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from server.errors import BadUserInput

KEY = re.compile(r"^[a-z][A-Za-z0-9]{0,39}$")
DEFAULT_MAX_LENGTH = 200
MAX_TEXT_LENGTH = 2000
MAX_MATERIAL_BYTES = 20 * 1024 * 1024
MAX_FIELDS = 50


class FieldType(enum.StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    DATE = "DATE"
    BOOL = "BOOL"
    CHOICE = "CHOICE"


@dataclass(frozen=True, slots=True)
class Field:
    key: str
    label: str
    type: FieldType
    required: bool = False
    options: tuple[str, ...] = ()
    max_length: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "type": self.type.value,
            "required": self.required,
            "options": list(self.options),
            "maxLength": self.max_length,
        }


@dataclass(frozen=True, slots=True)
class Material:
    key: str
    label: str

    def as_json(self) -> dict[str, Any]:
        return {"key": self.key, "label": self.label}


@dataclass(frozen=True, slots=True)
class Form:
    fields: tuple[Field, ...]
    materials: tuple[Material, ...]

    def fields_json(self) -> str:
        return json.dumps([f.as_json() for f in self.fields], ensure_ascii=False)

    def materials_json(self) -> str:
        return json.dumps([m.as_json() for m in self.materials], ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A submitted material's metadata."""

    key: str
    name: str
    content_type: str
    size: int

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "contentType": self.content_type,
            "size": self.size,
        }


def load(fields_json: str, materials_json: str) -> Form:
    """A stored form (trusted: it was checked by `declare` when saved)."""
    fields = tuple(
        Field(
            key=f["key"],
            label=f["label"],
            type=FieldType(f["type"]),
            required=bool(f["required"]),
            options=tuple(f.get("options") or ()),
            max_length=f.get("maxLength"),
        )
        for f in json.loads(fields_json)
    )
    materials = tuple(Material(m["key"], m["label"]) for m in json.loads(materials_json))
    return Form(fields, materials)


# -- declaring a form ---------------------------------------------------------------------------


def declare(fields: Sequence[Field], materials: Sequence[Material]) -> Form:
    """Check a form an admin declares; BAD_USER_INPUT naming `fields.<key>` or
    `materials.<key>` (or the list, when it is the list that is wrong)."""
    if not fields:
        raise BadUserInput("a form declares at least one field", argument="fields")
    if len(fields) > MAX_FIELDS:
        raise BadUserInput(f"a form declares at most {MAX_FIELDS} fields", argument="fields")
    seen: set[str] = set()
    for f in fields:
        where = f"fields.{f.key}"
        if not KEY.match(f.key):
            raise BadUserInput(
                f"field key {f.key!r} must be a letter followed by letters or digits (at most 40)",
                argument="fields",
            )
        if f.key in seen:
            raise BadUserInput(f"field key {f.key!r} is declared twice", argument=where)
        seen.add(f.key)
        if not f.label.strip():
            raise BadUserInput(f"field {f.key!r} needs a label", argument=where)
        if f.type is FieldType.CHOICE:
            if not f.options or any(not o.strip() for o in f.options):
                raise BadUserInput(
                    f"CHOICE field {f.key!r} needs its options (none blank)", argument=where
                )
            if len(set(f.options)) != len(f.options):
                raise BadUserInput(f"CHOICE field {f.key!r} repeats an option", argument=where)
        elif f.options:
            raise BadUserInput(f"only a CHOICE field has options ({f.key!r})", argument=where)
        if f.max_length is not None:
            if f.type is not FieldType.TEXT:
                raise BadUserInput(
                    f"only a TEXT field has a maximum length ({f.key!r})", argument=where
                )
            if not 1 <= f.max_length <= MAX_TEXT_LENGTH:
                raise BadUserInput(
                    f"maxLength of {f.key!r} must be between 1 and {MAX_TEXT_LENGTH}",
                    argument=where,
                )
    keys: set[str] = set()
    for m in materials:
        where = f"materials.{m.key}"
        if not KEY.match(m.key):
            raise BadUserInput(
                f"material key {m.key!r} must be a letter followed by letters or digits",
                argument="materials",
            )
        if m.key in keys:
            raise BadUserInput(f"material key {m.key!r} is declared twice", argument=where)
        keys.add(m.key)
        if not m.label.strip():
            raise BadUserInput(f"material {m.key!r} needs a label", argument=where)
    return Form(tuple(fields), tuple(materials))


# -- checking a submission ----------------------------------------------------------------------


def check_values(form: Form, values: Any) -> dict[str, Any]:
    """The submission's values, normalised, or BAD_USER_INPUT naming `values.<key>`."""
    if not isinstance(values, Mapping):
        raise BadUserInput("values must be an object of field key to value", argument="values")
    declared = {f.key: f for f in form.fields}
    for key in values:
        if key not in declared:
            raise BadUserInput(
                f"the form has no field {key!r}", argument=f"values.{key}", reason="unknown"
            )
    checked: dict[str, Any] = {}
    for f in form.fields:
        value = values.get(f.key)
        if isinstance(value, str) and f.type is FieldType.TEXT:
            value = value.strip() or None
        if value is None:
            if f.required:
                raise BadUserInput(
                    f"{f.label}（{f.key}）is required",
                    argument=f"values.{f.key}",
                    reason="required",
                )
            continue
        checked[f.key] = _check(f, value)
    return checked


def _check(f: Field, value: Any) -> Any:
    where = f"values.{f.key}"

    def bad(why: str) -> BadUserInput:
        return BadUserInput(f"{f.label}（{f.key}）{why}", argument=where, reason="type")

    match f.type:
        case FieldType.TEXT:
            if not isinstance(value, str):
                raise bad("must be text")
            limit = f.max_length or DEFAULT_MAX_LENGTH
            if len(value) > limit:
                raise BadUserInput(
                    f"{f.label}（{f.key}）must be at most {limit} characters, got {len(value)}",
                    argument=where,
                    reason="maxLength",
                )
            return value
        case FieldType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad("must be a number")
            if not math.isfinite(value):
                raise bad("must be a finite number")
            return value
        case FieldType.DATE:
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise bad("must be a date as YYYY-MM-DD")
            try:
                date.fromisoformat(value)
            except ValueError:
                raise bad(f"is not a calendar date: {value}") from None
            return value
        case FieldType.BOOL:
            if not isinstance(value, bool):
                raise bad("must be true or false")
            return value
        case FieldType.CHOICE:
            if not isinstance(value, str) or value not in f.options:
                raise BadUserInput(
                    f"{f.label}（{f.key}）must be one of {list(f.options)}",
                    argument=where,
                    reason="option",
                )
            return value


def check_materials(form: Form, attachments: Sequence[Attachment]) -> list[Attachment]:
    """Each required material once, nothing else; BAD_USER_INPUT naming `materials.<key>`."""
    declared = {m.key for m in form.materials}
    given: set[str] = set()
    for a in attachments:
        where = f"materials.{a.key}"
        if a.key not in declared:
            raise BadUserInput(
                f"the form asks for no material {a.key!r}", argument=where, reason="unknown"
            )
        if a.key in given:
            raise BadUserInput(f"material {a.key!r} is listed twice", argument=where)
        given.add(a.key)
        if not a.name.strip() or len(a.name) > 200:
            raise BadUserInput(
                f"material {a.key!r} needs a file name of 1 to 200 characters", argument=where
            )
        if not a.content_type.strip() or len(a.content_type) > 100:
            raise BadUserInput(f"material {a.key!r} needs a content type", argument=where)
        if not 1 <= a.size <= MAX_MATERIAL_BYTES:
            raise BadUserInput(
                f"material {a.key!r} must be 1 to {MAX_MATERIAL_BYTES} bytes, got {a.size}",
                argument=where,
            )
    for m in form.materials:
        if m.key not in given:
            raise BadUserInput(
                f"material {m.label}（{m.key}）is required",
                argument=f"materials.{m.key}",
                reason="required",
            )
    return list(attachments)
