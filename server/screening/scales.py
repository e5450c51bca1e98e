"""The public screening scales every installation starts with: PHQ-9 and GAD-7.

Both are public-domain instruments (Pfizer; Kroenke, Spitzer and Williams), filled in about the
last two weeks, each item answered 0-3. The Chinese wordings follow the published Chinese
versions. The bands are the published cut-offs of the total score; the light of each band is
ours (see server/screening/service.py for the mapping and the safety rule).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from server.feed.models import Light


@dataclass(frozen=True, slots=True)
class Option:
    label: str
    value: int


@dataclass(frozen=True, slots=True)
class Band:
    code: str  # MINIMAL, MILD, MODERATE, MODERATELY_SEVERE, SEVERE
    name: str
    min: int
    max: int
    light: Light


@dataclass(frozen=True, slots=True)
class Scale:
    code: str
    name: str
    items: tuple[str, ...]
    options: tuple[Option, ...]
    bands: tuple[Band, ...]
    # Items (1-based) any non-zero answer to which makes the light RED whatever the total.
    safety_items: tuple[int, ...] = ()
    id: int = 0

    @property
    def max_score(self) -> int:
        return len(self.items) * max(o.value for o in self.options)


# "Over the last two weeks, how often have you been bothered by ...": the same four answers.
FREQUENCY = (
    Option("完全不会", 0),
    Option("有几天", 1),
    Option("一半以上的天数", 2),
    Option("几乎每天", 3),
)

PHQ9 = Scale(
    code="PHQ-9",
    name="患者健康问卷抑郁量表（PHQ-9）：过去两周里，以下情况出现的频率",
    items=(
        "做事时提不起劲或没有兴趣",
        "感到心情低落、沮丧或绝望",
        "入睡困难、睡不安稳或睡眠过多",
        "感觉疲倦或没有活力",
        "食欲不振或吃太多",
        "觉得自己很糟，或觉得自己很失败，或让自己或家人失望",
        "对事物专注有困难，例如阅读报纸或看电视时",
        "动作或说话速度缓慢到别人已经察觉；或正好相反，烦躁或坐立不安、动来动去的情况比平常更多",
        "有不如死掉或用某种方式伤害自己的念头",
    ),
    options=FREQUENCY,
    bands=(
        Band("MINIMAL", "无或极轻微", 0, 4, Light.GREEN),
        Band("MILD", "轻度", 5, 9, Light.GREEN),
        Band("MODERATE", "中度", 10, 14, Light.YELLOW),
        Band("MODERATELY_SEVERE", "中重度", 15, 19, Light.RED),
        Band("SEVERE", "重度", 20, 27, Light.RED),
    ),
    # Item 9 (thoughts of self-harm): any answer but "not at all" needs follow-up at once.
    safety_items=(9,),
)

GAD7 = Scale(
    code="GAD-7",
    name="广泛性焦虑量表（GAD-7）：过去两周里，以下情况出现的频率",
    items=(
        "感觉紧张、焦虑或急切",
        "不能够停止或控制担忧",
        "对各种各样的事情担忧过多",
        "很难放松下来",
        "由于不安而无法静坐",
        "变得容易烦恼或急躁",
        "感到似乎将有可怕的事情发生而害怕",
    ),
    options=FREQUENCY,
    bands=(
        Band("MINIMAL", "无或极轻微", 0, 4, Light.GREEN),
        Band("MILD", "轻度", 5, 9, Light.GREEN),
        Band("MODERATE", "中度", 10, 14, Light.YELLOW),
        Band("SEVERE", "重度", 15, 21, Light.RED),
    ),
)

STANDARD = (PHQ9, GAD7)
# The safety rules by scale code: not a column, since they are part of a scale's scoring.
SAFETY_ITEMS = {s.code: s.safety_items for s in STANDARD}


def to_row(scale: Scale, scale_id: int) -> dict[str, Any]:
    return {
        "id": scale_id,
        "code": scale.code,
        "name": scale.name,
        "items": json.dumps(list(scale.items), ensure_ascii=False),
        "options": json.dumps(
            [{"label": o.label, "value": o.value} for o in scale.options], ensure_ascii=False
        ),
        "bands": json.dumps(
            [
                {"min": b.min, "max": b.max, "label": b.code, "name": b.name, "light": b.light}
                for b in scale.bands
            ],
            ensure_ascii=False,
        ),
    }


def from_row(row: Any) -> Scale:
    """A scale as stored (screening_scales), with the safety rule of its code."""
    return Scale(
        id=row.id,
        code=row.code,
        name=row.name,
        items=tuple(json.loads(row.items)),
        options=tuple(Option(o["label"], int(o["value"])) for o in json.loads(row.options)),
        bands=tuple(
            Band(b["label"], b.get("name", b["label"]), b["min"], b["max"], Light(b["light"]))
            for b in json.loads(row.bands)
        ),
        safety_items=SAFETY_ITEMS.get(row.code, ()),
    )


def scale_rows() -> list[dict[str, Any]]:
    """The seeded scales (PHQ-9, GAD-7), ids assigned."""
    return [to_row(scale, i) for i, scale in enumerate(STANDARD, start=1)]
