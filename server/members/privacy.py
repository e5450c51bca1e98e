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
