"""The archive's indicator catalogue: 25 tag categories (five in each of the five systems) and
the indicators records are entered against.

Reference data of every installation (the seed loads it, server/archives/demo.py). The counts
are fixed by the district's regulations: at work 24 positive and 39 negative indicators,
outside work 4 positive and 8 negative, plus the key-moment records (disaster relief, public
safety, emergencies). The wording is ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.archives.models import Dimension, Polarity, RecordContext, TagSystem

D = Dimension
L, DT, R, A, S = D.LOYALTY, D.DETERMINATION, D.RESPONSIBILITY, D.ABILITY, D.SELF_DISCIPLINE


@dataclass(frozen=True, slots=True)
class Category:
    code: str
    name: str
    system: TagSystem


@dataclass(frozen=True, slots=True)
class Indicator:
    code: str
    name: str
    context: RecordContext
    polarity: Polarity
    dimension: Dimension
    category: str  # a Category's code
    points: float  # the magnitude; a negative indicator subtracts it
    serious: bool = False


SYSTEM_NAMES = {
    TagSystem.CULTIVATION: "培养",
    TagSystem.KNOWING_PEOPLE: "识人",
    TagSystem.SELECTION: "选拔任用",
    TagSystem.STRICT_MANAGEMENT: "从严管理",
    TagSystem.INCENTIVES: "正向激励",
}
DIMENSION_NAMES = {
    D.LOYALTY: "政治忠诚",
    D.DETERMINATION: "政治定力",
    D.RESPONSIBILITY: "政治担当",
    D.ABILITY: "政治能力",
    D.SELF_DISCIPLINE: "政治自律",
}

_CATEGORIES: dict[TagSystem, list[tuple[str, str]]] = {
    TagSystem.CULTIVATION: [
        ("CULT_THEORY", "理论武装"),
        ("CULT_TRAINING", "教育培训"),
        ("CULT_PRACTICE", "实践锻炼"),
        ("CULT_ROTATION", "轮岗交流"),
        ("CULT_MENTOR", "传帮带"),
    ],
    TagSystem.KNOWING_PEOPLE: [
        ("KNOW_DAILY", "日常了解"),
        ("KNOW_TALK", "谈心谈话"),
        ("KNOW_EVAL", "民主测评"),
        ("KNOW_PUBLIC", "群众口碑"),
        ("KNOW_KEY", "关键时刻表现"),
    ],
    TagSystem.SELECTION: [
        ("SEL_PERFORMANCE", "实绩导向"),
        ("SEL_RESPONSIBILITY", "担当作为"),
        ("SEL_COMPETENCE", "专业素养"),
        ("SEL_FRONTLINE", "基层历练"),
        ("SEL_INNOVATION", "创新突破"),
    ],
    TagSystem.STRICT_MANAGEMENT: [
        ("STRICT_DISCIPLINE", "纪律规矩"),
        ("STRICT_INTEGRITY", "廉洁自律"),
        ("STRICT_CONDUCT", "作风建设"),
        ("STRICT_OFFHOURS", "八小时外监督"),
        ("STRICT_ACCOUNTABILITY", "问责处理"),
    ],
    TagSystem.INCENTIVES: [
        ("INC_HONOR", "表彰奖励"),
        ("INC_TOLERANCE", "容错纠错"),
        ("INC_CARE", "关心关爱"),
        ("INC_MODEL", "典型选树"),
        ("INC_PROMOTION", "职级晋升"),
    ],
}
CATEGORIES: tuple[Category, ...] = tuple(
    Category(code, name, system) for system, items in _CATEGORIES.items() for code, name in items
)

# (name, dimension, category, points, serious) per context and polarity.
Spec = tuple[str, Dimension, str, float, bool]

AT_WORK_POSITIVE: list[Spec] = [
    ("带头学习贯彻党的创新理论，学习成效突出", L, "CULT_THEORY", 4, False),
    ("坚决贯彻落实上级重大决策部署，不折不扣", L, "KNOW_DAILY", 5, False),
    ("严格执行请示报告制度，重大事项及时报告", L, "STRICT_DISCIPLINE", 3, False),
    ("认真落实意识形态工作责任制", L, "KNOW_DAILY", 4, False),
    ("主动亮明党员身份，践行承诺成效明显", L, "CULT_PRACTICE", 3, False),
    ("在大是大非问题上立场坚定、旗帜鲜明", DT, "KNOW_KEY", 6, False),
    ("面对矛盾风险敢于斗争、善于斗争", DT, "SEL_RESPONSIBILITY", 6, False),
    ("自觉抵制不良风气和错误言论", DT, "STRICT_CONDUCT", 4, False),
    ("党性教育和专题培训表现优秀", DT, "CULT_TRAINING", 3, False),
    ("轮岗交流服从组织安排，迅速打开局面", DT, "CULT_ROTATION", 4, False),
    ("主动承担急难险重任务", R, "SEL_RESPONSIBILITY", 7, False),
    ("牵头推进重点项目并取得实效", R, "SEL_PERFORMANCE", 8, False),
    ("化解信访积案和基层矛盾纠纷", R, "SEL_FRONTLINE", 6, False),
    ("深入一线蹲点调研，解决群众急难愁盼", R, "SEL_FRONTLINE", 5, False),
    ("年度考核被评为优秀等次", R, "INC_HONOR", 6, False),
    ("创新工作方法，形成可复制推广的经验", A, "SEL_INNOVATION", 6, False),
    ("专业能力突出，圆满完成专项任务", A, "SEL_COMPETENCE", 5, False),
    ("实绩突出，获得职级晋升或提拔使用", A, "INC_PROMOTION", 5, False),
    ("数字化改革应用场景建设成效明显", A, "SEL_INNOVATION", 4, False),
    ("先行先试探索改革，出现偏差经认定予以容错", A, "INC_TOLERANCE", 2, False),
    ("传帮带培养年轻干部成效明显", A, "CULT_MENTOR", 4, False),
    ("主动如实报告个人有关事项", S, "STRICT_INTEGRITY", 2, False),
    ("严格落实中央八项规定精神，厉行节约", S, "STRICT_CONDUCT", 3, False),
    ("拒收礼品礼金并主动上交登记", S, "STRICT_INTEGRITY", 5, False),
]
AT_WORK_NEGATIVE: list[Spec] = [
    ("对上级决策部署打折扣、搞变通", L, "STRICT_DISCIPLINE", 6, False),
    ("违反请示报告制度，重大事项不报告", L, "STRICT_DISCIPLINE", 4, False),
    ("落实意识形态工作责任制不力", L, "KNOW_DAILY", 5, False),
    ("搞团团伙伙、拉帮结派", L, "STRICT_DISCIPLINE", 10, True),
    ("对组织不忠诚不老实，欺瞒组织", L, "STRICT_DISCIPLINE", 10, True),
    ("组织生活不严肃，无故缺席", L, "KNOW_DAILY", 2, False),
    ("理论学习敷衍应付", L, "CULT_THEORY", 2, False),
    ("民主生活会批评与自我批评不深刻", L, "KNOW_EVAL", 3, False),
    ("妄议党的大政方针", DT, "STRICT_DISCIPLINE", 10, True),
    ("在错误言论面前态度暧昧、不敢亮剑", DT, "KNOW_KEY", 5, False),
    ("参与封建迷信活动", DT, "STRICT_DISCIPLINE", 6, False),
    ("面对矛盾问题绕道走、推诿回避", DT, "SEL_RESPONSIBILITY", 4, False),
    ("传播政治谣言", DT, "STRICT_DISCIPLINE", 8, True),
    ("患得患失、消极懈怠", DT, "KNOW_TALK", 3, False),
    ("参加教育培训无故缺勤", DT, "CULT_TRAINING", 2, False),
    ("轮岗交流拈轻怕重、挑肥拣瘦", DT, "CULT_ROTATION", 3, False),
    ("不担当、不作为、慢作为", R, "SEL_RESPONSIBILITY", 5, False),
    ("推诿扯皮、敷衍塞责", R, "SEL_RESPONSIBILITY", 4, False),
    ("重点任务未按期完成", R, "SEL_PERFORMANCE", 4, False),
    ("形式主义、官僚主义问题突出", R, "STRICT_CONDUCT", 5, False),
    ("群众反映强烈的问题处置不力", R, "KNOW_PUBLIC", 4, False),
    ("安全生产监管失职失责", R, "STRICT_ACCOUNTABILITY", 8, True),
    ("工作失误造成不良社会影响", R, "STRICT_ACCOUNTABILITY", 6, False),
    ("被上级通报批评", R, "STRICT_ACCOUNTABILITY", 5, False),
    ("业务不精，履职能力不足", A, "SEL_COMPETENCE", 3, False),
    ("决策不当造成经济损失", A, "STRICT_ACCOUNTABILITY", 7, False),
    ("年度考核被评为基本称职", A, "SEL_PERFORMANCE", 5, False),
    ("调查研究走过场", A, "SEL_FRONTLINE", 2, False),
    ("统筹协调不足，工作推进缓慢", A, "SEL_COMPETENCE", 3, False),
    ("突发事件应对处置失当", A, "KNOW_KEY", 6, False),
    ("民主测评满意度明显偏低", A, "KNOW_EVAL", 4, False),
    ("群众工作方法简单，引发矛盾", A, "KNOW_PUBLIC", 4, False),
    ("违规收受礼品礼金", S, "STRICT_INTEGRITY", 9, True),
    ("违规公款吃喝", S, "STRICT_CONDUCT", 7, False),
    ("违规使用公务用车", S, "STRICT_CONDUCT", 5, False),
    ("利用职权为亲属谋取利益", S, "STRICT_INTEGRITY", 10, True),
    ("不如实报告个人有关事项", S, "STRICT_INTEGRITY", 6, False),
    ("工作纪律松弛，迟到早退", S, "STRICT_DISCIPLINE", 2, False),
    ("违规插手工程项目", S, "STRICT_INTEGRITY", 10, True),
]
OUTSIDE_WORK_POSITIVE: list[Spec] = [
    ("积极参加社区志愿服务", R, "KNOW_PUBLIC", 3, False),
    ("结对帮扶困难群众成效明显", R, "INC_CARE", 3, False),
    ("家风家教良好，获评文明家庭", S, "INC_HONOR", 3, False),
    ("坚持业余学习，取得学历或职业资格", A, "CULT_TRAINING", 2, False),
]
OUTSIDE_WORK_NEGATIVE: list[Spec] = [
    ("参与赌博", S, "STRICT_OFFHOURS", 8, True),
    ("醉酒驾驶机动车", S, "STRICT_OFFHOURS", 10, True),
    ("出入私人会所等不当场所", S, "STRICT_OFFHOURS", 6, False),
    ("违规经商办企业", S, "STRICT_INTEGRITY", 8, True),
    ("在网络上发表不当言论", DT, "STRICT_OFFHOURS", 5, False),
    ("家庭矛盾、邻里纠纷造成不良影响", S, "KNOW_PUBLIC", 3, False),
    ("未经批准因私出国（境）", L, "STRICT_DISCIPLINE", 7, False),
    ("生活奢靡、铺张浪费", S, "STRICT_CONDUCT", 4, False),
]
# Key moments: disaster relief (抢险救灾), public safety (公共安全), emergencies (急难险重).
KEY_MOMENT_POSITIVE: list[Spec] = [
    ("抢险救灾中冲锋在前、靠前指挥", R, "KNOW_KEY", 9, False),
    ("防汛防台中组织转移群众成效突出", R, "KNOW_KEY", 8, False),
    ("公共安全事件中果断处置、化解风险", A, "KNOW_KEY", 8, False),
    ("公共卫生事件防控中表现突出", L, "INC_HONOR", 7, False),
    ("急难险重任务中主动请缨、攻坚克难", DT, "SEL_RESPONSIBILITY", 8, False),
    ("突发事件中舍己救人，事迹被选树为典型", L, "INC_MODEL", 10, False),
]
KEY_MOMENT_NEGATIVE: list[Spec] = [
    ("抢险救灾中临阵退缩", R, "KNOW_KEY", 9, True),
    ("公共安全事件中瞒报、迟报", L, "STRICT_ACCOUNTABILITY", 10, True),
    ("急难险重任务中擅离职守", R, "STRICT_ACCOUNTABILITY", 9, True),
]

_GROUPS: list[tuple[RecordContext, Polarity, str, list[Spec]]] = [
    (RecordContext.AT_WORK, Polarity.POSITIVE, "AWP", AT_WORK_POSITIVE),
    (RecordContext.AT_WORK, Polarity.NEGATIVE, "AWN", AT_WORK_NEGATIVE),
    (RecordContext.OUTSIDE_WORK, Polarity.POSITIVE, "OWP", OUTSIDE_WORK_POSITIVE),
    (RecordContext.OUTSIDE_WORK, Polarity.NEGATIVE, "OWN", OUTSIDE_WORK_NEGATIVE),
    (RecordContext.KEY_MOMENT, Polarity.POSITIVE, "KMP", KEY_MOMENT_POSITIVE),
    (RecordContext.KEY_MOMENT, Polarity.NEGATIVE, "KMN", KEY_MOMENT_NEGATIVE),
]
# Codes are stable: AWP01..AWP24, AWN01..AWN39, OWP01.., OWN01.., KMP01.., KMN01..
INDICATORS: tuple[Indicator, ...] = tuple(
    Indicator(f"{prefix}{n:02d}", name, context, polarity, dimension, category, points, serious)
    for context, polarity, prefix, specs in _GROUPS
    for n, (name, dimension, category, points, serious) in enumerate(specs, start=1)
)


def category_rows() -> list[dict[str, Any]]:
    """The tag categories, ids 1..25."""
    return [
        {"id": i, "code": c.code, "name": c.name, "system": c.system.value}
        for i, c in enumerate(CATEGORIES, start=1)
    ]


def indicator_rows() -> list[dict[str, Any]]:
    """The indicators, ids from 1, each pointing at its category's id in category_rows()."""
    category_ids = {c.code: i for i, c in enumerate(CATEGORIES, start=1)}
    return [
        {
            "id": i,
            "code": x.code,
            "name": x.name,
            "context": x.context.value,
            "polarity": x.polarity.value,
            "dimension": x.dimension.value,
            "tag_category_id": category_ids[x.category],
            "points": float(x.points),
            "serious": x.serious,
        }
        for i, x in enumerate(INDICATORS, start=1)
    ]
