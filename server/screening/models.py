"""Well-being screening: public scales (PHQ-9, GAD-7, ...) and members' results.

Results are visible only to the member and to holders of a CARE role in its subtree; every
read is audited; overviews show counts without names.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db import Base, UTCDateTime


class ScreeningScale(Base):
    __tablename__ = "screening_scales"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    items: Mapped[str] = mapped_column(Text)  # JSON list of item texts
    options: Mapped[str] = mapped_column(Text)  # JSON list of {"label", "value"}
    # JSON list of {"min", "max", "label", "light"}: the published cut-offs.
    bands: Mapped[str] = mapped_column(Text)


class ScreeningResult(Base):
    __tablename__ = "screening_results"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    scale_id: Mapped[int] = mapped_column(ForeignKey("screening_scales.id"))
    answers: Mapped[str] = mapped_column(Text)  # JSON list of item values
    score: Mapped[int] = mapped_column(Integer)
    band: Mapped[str] = mapped_column(String(40))
    light: Mapped[str] = mapped_column(String(8))
    taken_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index("ix_screening_results_member_id_taken_at", "member_id", "taken_at"),)
