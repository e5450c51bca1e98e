"""A service type's form, declared as data, and the checking of one submission against it.

Field types and what a value must be (JSON values, as GraphQL's JSON scalar delivers them):

- TEXT: a string, at most `maxLength` characters (default 200); leading and trailing blanks
  are dropped.
- NUMBER: a number (not a boolean, not a string), finite.
- DATE: a calendar date as `YYYY-MM-DD`.
- BOOL: true or false.
- CHOICE: one of the field's `options`, exactly.
- PHONE: the applicant's phone, a mobile number `1[3-9]` + 9 digits or a landline
  `0` + 2-3 digits (area), optional `-`, 7-8 digits; blanks and dashes kept as typed.
- ID_NUMBER: a resident ID number, 17 digits then a digit or X (a lower-case x becomes X).

PHONE and ID_NUMBER fields are personal data: shown only to the applicant and the staff of a
department still deciding, masked (`138****5678`, `331***********001X`) for anyone else
(`mask_values`). A form that asks for a phone or an ID number declares it with these types,
not as TEXT, so that the masking knows where it is.

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
from server.members.privacy import mask_id_number, mask_phone

KEY = re.compile(r"^[a-z][A-Za-z0-9]{0,39}$")
DEFAULT_MAX_LENGTH = 200
MAX_TEXT_LENGTH = 2000
MAX_MATERIAL_BYTES = 20 * 1024 * 1024
MAX_FIELDS = 50
MAX_LABEL = 60
MAX_OPTIONS = 50
MAX_MATERIALS = 20
# A NUMBER's magnitude: beyond it a float loses integers (and a JSON integer of hundreds of
# digits would not even convert to one).
MAX_NUMBER = 2**53 - 1
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$")
ID_NUMBER = re.compile(r"^\d{17}[\dX]$")


class FieldType(enum.StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    DATE = "DATE"
    BOOL = "BOOL"
    CHOICE = "CHOICE"
    PHONE = "PHONE"
    ID_NUMBER = "ID_NUMBER"


# The personal types and how a viewer who may not see them sees them.
MASKS = {FieldType.PHONE: mask_phone, FieldType.ID_NUMBER: mask_id_number}


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

    @property
    def personal(self) -> dict[str, FieldType]:
        """The keys of the fields holding personal data (PHONE, ID_NUMBER), with their type."""
        return {f.key: f.type for f in self.fields if f.type in MASKS}


def mask_values(form: Form, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with the personal fields masked, for a viewer who may not see them."""
    personal = form.personal
    return {
        key: MASKS[personal[key]](value) if key in personal and isinstance(value, str) else value
        for key, value in values.items()
    }


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


PERSONAL_LABELS = ("电话", "手机", "身份证号", "证件号")
PERSONAL_KEYS = ("phone", "mobile", "idnumber", "idno", "idcardno")


def _looks_personal(f: Field) -> bool:
    key = f.key.lower()
    return any(word in f.label for word in PERSONAL_LABELS) or any(
        word in key for word in PERSONAL_KEYS
    )


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
        if not f.label.strip() or len(f.label) > MAX_LABEL:
            raise BadUserInput(
                f"field {f.key!r} needs a label of 1 to {MAX_LABEL} characters", argument=where
            )
        if f.type is FieldType.TEXT and _looks_personal(f):
            # Declared as TEXT it would be shown to every viewer unmasked.
            raise BadUserInput(
                f"field {f.key!r} asks for a phone or ID number: declare it as PHONE or "
                "ID_NUMBER, so that it is masked",
                argument=where,
            )
        if f.type is FieldType.CHOICE:
            if not f.options or any(not o.strip() for o in f.options):
                raise BadUserInput(
                    f"CHOICE field {f.key!r} needs its options (none blank)", argument=where
                )
            if len(f.options) > MAX_OPTIONS or any(len(o) > MAX_LABEL for o in f.options):
                raise BadUserInput(
                    f"CHOICE field {f.key!r} has at most {MAX_OPTIONS} options of at most "
                    f"{MAX_LABEL} characters",
                    argument=where,
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
    if len(materials) > MAX_MATERIALS:
        raise BadUserInput(
            f"a form asks for at most {MAX_MATERIALS} materials", argument="materials"
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
        if not m.label.strip() or len(m.label) > MAX_LABEL:
            raise BadUserInput(
                f"material {m.key!r} needs a label of 1 to {MAX_LABEL} characters", argument=where
            )
    return Form(tuple(fields), tuple(materials))


# -- checking a submission ----------------------------------------------------------------------


TRIMMED = frozenset({FieldType.TEXT, FieldType.PHONE, FieldType.ID_NUMBER})


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
        if isinstance(value, str) and f.type in TRIMMED:
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
            # Compared, not converted: float() of a huge integer raises OverflowError.
            if isinstance(value, float) and not math.isfinite(value):
                raise bad("must be a finite number")
            if not -MAX_NUMBER <= value <= MAX_NUMBER:
                raise bad(f"must be between -{MAX_NUMBER} and {MAX_NUMBER}")
            return value
        case FieldType.DATE:
            if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
                raise bad("must be a date as YYYY-MM-DD")
            try:
                date.fromisoformat(value)
            except ValueError:
                # Not echoed: error messages reach logs, and a date may be a birth date.
                raise bad("is not a calendar date") from None
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
        case FieldType.PHONE:
            if not isinstance(value, str) or not PHONE.match(value):
                raise bad("must be a mobile (11 digits) or landline (0 + area code) number")
            return value
        case FieldType.ID_NUMBER:
            if isinstance(value, str):
                value = value.upper()
            if not isinstance(value, str) or not ID_NUMBER.match(value):
                raise bad("must be an ID number: 17 digits then a digit or X")
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
