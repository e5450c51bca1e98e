"""Masking personal data: what is shown when the viewer may not see the real value."""

from __future__ import annotations


def mask_phone(phone: str) -> str:
    """`13812345678` -> `138****5678`."""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id_number(number: str) -> str:
    """`33100219870313001X` -> `331***********001X`: neither birth date nor region shows."""
    if len(number) < 8:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


# Two-character surnames: their holders are named by both characters (欧阳某, not 欧某).
_COMPOUND = "欧阳司马诸葛上官东方皇甫尉迟公孙慕容令狐长孙宇文司徒夏侯轩辕端木西门南宫"
COMPOUND_SURNAMES = frozenset(_COMPOUND[i : i + 2] for i in range(0, len(_COMPOUND), 2))


def masked_name(name: str) -> str:
    """The surname and 某: how a warning or a masked listing names a person (王某, 欧阳某)."""
    if not name:
        return "某"
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]
    return f"{surname}某"
