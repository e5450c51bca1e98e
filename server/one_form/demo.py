"""The demo district's one-form services: nine departments, six service types with their
forms, and a few hundred historical applications with realistic durations, so that the
report has figures from the first start.

Durations: each department takes its own time to decide (a log-normal number of hours around
its typical delay: the police and housing take longest, tax shortest), counted from the
submission, all in parallel; an application completes when the slowest has approved. About
8% are rejected by one department (the others' pending approvals are withdrawn at that
moment); those submitted in the last ten days before `as_of` may still be pending. Applicants
are random members (the application belongs to their branch's tenant). No department staff
are seeded: accounts come from tenants/demo.py; the SUPER admin adds staff (addOneFormStaff).
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Table

from server.one_form.forms import Field, FieldType, Form, Material
from server.one_form.models import (
    ApplicationStatus,
    ApprovalStatus,
    OneFormApplication,
    OneFormApproval,
    OneFormDepartment,
    OneFormServiceDepartment,
    OneFormServiceType,
)
from tenants.demo import DemoData

SEED_OFFSET = 9109  # this module's own random stream
HISTORY_DAYS = 180
RECENT_DAYS = 10
REJECT_SHARE = 0.08
Row = dict[str, Any]

# (code, name, typical hours to decide)
DEPARTMENTS: tuple[tuple[str, str, float], ...] = (
    ("MCA", "区民政局", 20.0),
    ("HRSS", "区人社局", 16.0),
    ("HSA", "区医保局", 12.0),
    ("HEALTH", "区卫健局", 10.0),
    ("HOUSING", "区住建局", 40.0),
    ("SAMR", "区市场监管局", 18.0),
    ("POLICE", "区公安分局", 30.0),
    ("TAX", "区税务局", 8.0),
    ("EDU", "区教育局", 24.0),
)

T, N, D, B, C = FieldType.TEXT, FieldType.NUMBER, FieldType.DATE, FieldType.BOOL, FieldType.CHOICE
PHONE, ID = FieldType.PHONE, FieldType.ID_NUMBER


def _f(key: str, label: str, kind: FieldType, required: bool = True, **extra: Any) -> Field:
    return Field(key, label, kind, required, tuple(extra.get("options", ())), extra.get("max"))


# (code, name, description, form, department codes, share of the applications)
SERVICE_TYPES: tuple[tuple[str, str, str, Form, tuple[str, ...], float], ...] = (
    (
        "BIRTH",
        "新生儿出生一件事",
        "出生医学证明、户口登记、医保参保、社保卡申领一次办结。",
        Form(
            (
                _f("babyName", "新生儿姓名", T, max=20),
                _f("birthDate", "出生日期", D),
                _f("gender", "性别", C, options=("男", "女")),
                _f("hospital", "出生医院", T, max=60),
                _f("guardianName", "监护人姓名", T, max=20),
                _f("enrolMedicalInsurance", "同时参加城乡居民医保", B, required=False),
            ),
            (
                Material("birthCertificate", "出生医学证明"),
                Material("householdRegister", "户口簿"),
                Material("guardianId", "监护人身份证"),
            ),
        ),
        ("HEALTH", "POLICE", "HSA", "HRSS"),
        0.25,
    ),
    (
        "RETIRE",
        "退休一件事",
        "退休审批、养老金核定、医保转退休待遇、公积金提取联办。",
        Form(
            (
                _f("fullName", "姓名", T, max=20),
                _f("idNumber", "身份证号", ID),
                _f("retireDate", "退休日期", D),
                _f("contributionYears", "缴费年限", N),
                _f(
                    "pensionBank", "养老金发放银行", C, options=("农业银行", "工商银行", "农商银行")
                ),
            ),
            (Material("idCard", "身份证"), Material("personnelFile", "人事档案")),
        ),
        ("HRSS", "HSA", "TAX"),
        0.2,
    ),
    (
        "BUSINESS",
        "企业开办一件事",
        "营业执照、公章刻制、税务登记、社保登记一次申请。",
        Form(
            (
                _f("companyName", "企业名称", T, max=60),
                _f("registeredCapital", "注册资本（万元）", N),
                _f("businessScope", "经营范围", T, max=500),
                _f("legalPerson", "法定代表人", T, max=20),
                _f("taxpayerType", "纳税人类型", C, options=("小规模纳税人", "一般纳税人")),
                _f("needSeal", "申请刻制公章", B, required=False),
            ),
            (
                Material("legalPersonId", "法定代表人身份证"),
                Material("premises", "住所证明"),
                Material("articles", "公司章程"),
            ),
        ),
        ("SAMR", "POLICE", "TAX", "HRSS"),
        0.15,
    ),
    (
        "DECEASED",
        "身后一件事",
        "死亡登记、户口注销、社保医保停保、丧葬补助申领联办。",
        Form(
            (
                _f("deceasedName", "逝者姓名", T, max=20),
                _f("idNumber", "逝者身份证号", ID),
                _f("deathDate", "死亡日期", D),
                _f("relation", "申请人与逝者关系", C, options=("配偶", "子女", "父母", "其他")),
                _f("contactPhone", "联系电话", PHONE),
            ),
            (Material("deathCertificate", "死亡医学证明"), Material("applicantId", "申请人身份证")),
        ),
        ("MCA", "POLICE", "HRSS", "HSA"),
        0.1,
    ),
    (
        "SCHOOL",
        "入学一件事",
        "义务教育入学报名、户籍与房产信息核验一次完成。",
        Form(
            (
                _f("childName", "儿童姓名", T, max=20),
                _f("birthDate", "出生日期", D),
                _f("stage", "入学阶段", C, options=("小学", "初中")),
                _f("address", "居住地址", T, max=120),
                _f("ownsHome", "有自有住房", B),
            ),
            (Material("householdRegister", "户口簿"), Material("residence", "房产证或租赁证明")),
        ),
        ("EDU", "POLICE", "HOUSING"),
        0.2,
    ),
    (
        "PROPERTY",
        "二手房交易登记一件事",
        "存量房交易网签、税费缴纳、不动产登记一窗受理。",
        Form(
            (
                _f("buyerName", "买方姓名", T, max=40),
                _f("sellerName", "卖方姓名", T, max=40),
                _f("area", "建筑面积（平方米）", N),
                _f("price", "成交价（万元）", N),
                _f("mortgage", "办理按揭", B),
            ),
            (Material("contract", "买卖合同"), Material("titleDeed", "不动产权证书")),
        ),
        ("HOUSING", "TAX"),
        0.1,
    ),
)

SAMPLE_TEXT = {
    "hospital": ("区人民医院", "区妇幼保健院", "区中医院"),
    "pensionBank": (),
    "businessScope": ("日用百货销售；餐饮服务", "软件开发；信息技术咨询", "农产品种植与销售"),
    "address": ("城关街道人民路 12 号", "东门社区幸福里 3 幢", "新桥村 8 组 21 号"),
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚"


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))


def _value(field: Field, rng: random.Random, day: date) -> Any:
    match field.type:
        case FieldType.TEXT:
            if SAMPLE_TEXT.get(field.key):
                return rng.choice(SAMPLE_TEXT[field.key])
            if field.key == "companyName":
                place, trade = rng.choice(("椒江", "海门", "星明")), rng.choice(("科技", "商贸"))
                return f"台州市{place}{trade}有限公司"
            return _name(rng)
        case FieldType.ID_NUMBER:
            return f"33100{rng.randint(2, 3)}19{rng.randint(40, 99)}{rng.randint(1, 12):02d}" + (
                f"{rng.randint(1, 28):02d}{rng.randint(1000, 9999)}"
            )
        case FieldType.PHONE:
            return f"13{rng.randint(100000000, 999999999)}"
        case FieldType.NUMBER:
            return {
                "contributionYears": rng.randint(15, 40),
                "registeredCapital": rng.choice((10, 50, 100, 200)),
                "area": rng.randint(50, 160),
                "price": rng.randint(80, 400),
            }.get(field.key, rng.randint(1, 100))
        case FieldType.DATE:
            back = {"birthDate": rng.randint(1, 40)} if field.key == "birthDate" else {}
            return (day - timedelta(days=back.get("birthDate", rng.randint(1, 20)))).isoformat()
        case FieldType.BOOL:
            return rng.random() < 0.6
        case FieldType.CHOICE:
            return rng.choice(field.options)


def _hours(typical: float, rng: random.Random) -> float:
    """A department's time to decide: log-normal around its typical delay, 0.5 h to 15 days."""
    return min(360.0, max(0.5, rng.lognormvariate(math.log(typical), 0.6)))


def one_form_rows(data: DemoData, *, seed: int, as_of: date) -> list[tuple[Table, list[Row]]]:
    """(table, rows) in insert order."""
    rng = random.Random(seed + SEED_OFFSET)
    created = datetime.combine(as_of - timedelta(days=HISTORY_DAYS + 30), time(1), UTC)
    departments = [
        {"id": i, "code": code, "name": name, "created_at": created}
        for i, (code, name, _typical) in enumerate(DEPARTMENTS, start=1)
    ]
    dept_id = {d["code"]: d["id"] for d in departments}
    typical = {dept_id[code]: hours for code, _name, hours in DEPARTMENTS}
    types: list[Row] = []
    links: list[Row] = []
    for i, (code, name, description, form, depts, _share) in enumerate(SERVICE_TYPES, start=1):
        types.append(
            {
                "id": i,
                "code": code,
                "name": name,
                "description": description,
                "fields": form.fields_json(),
                "materials": form.materials_json(),
                "active": True,
                "created_at": created,
                "updated_at": created,
            }
        )
        links += [
            {"id": len(links) + k, "type_id": i, "department_id": dept_id[d]}
            for k, d in enumerate(depts, start=1)
        ]
    branch_tenant = {b["id"]: b["tenant_id"] for b in data.branches}
    members = data.members
    count = max(200, min(800, len(members) // 40))
    now = datetime.combine(as_of, time(0), UTC)
    shares = [s[5] for s in SERVICE_TYPES]
    applications: list[Row] = []
    approvals: list[Row] = []
    for app_id in range(1, count + 1):
        type_index = rng.choices(range(len(SERVICE_TYPES)), weights=shares)[0]
        code, _n, _d, form, depts, _s = SERVICE_TYPES[type_index]
        member = rng.choice(members)
        # Office hours (08:30-17:30 Beijing time = 00:30-09:30 UTC), over the past half year.
        day = as_of - timedelta(days=rng.randint(1, HISTORY_DAYS))
        submitted = datetime.combine(day, time(0, 30), UTC) + timedelta(
            minutes=rng.randint(0, 9 * 60)
        )
        decisions = {
            dept_id[d]: submitted + timedelta(hours=_hours(typical[dept_id[d]], rng)) for d in depts
        }
        if (as_of - day).days <= RECENT_DAYS:
            # Recent ones: some departments have not got to it yet.
            for dept in decisions:
                if rng.random() < 0.4:
                    decisions[dept] = now + timedelta(hours=_hours(typical[dept], rng))
        rejecter = rng.choice(list(decisions)) if rng.random() < REJECT_SHARE else None
        closed_at: datetime | None = max(decisions.values())
        status = ApplicationStatus.COMPLETED
        if rejecter is not None:
            status, closed_at = ApplicationStatus.REJECTED, decisions[rejecter]
        if closed_at is not None and closed_at >= now:
            status, closed_at = ApplicationStatus.PENDING, None
        for dept, at in decisions.items():
            row: Row = {
                "id": len(approvals) + 1,
                "application_id": app_id,
                "department_id": dept,
                "status": ApprovalStatus.PENDING.value,
                "note": None,
                "decided_by": None,
                "decided_at": None,
                "created_at": submitted,
            }
            if dept == rejecter and status is ApplicationStatus.REJECTED:
                row |= {
                    "status": ApprovalStatus.REJECTED.value,
                    "note": "材料不齐全，请补充后重新申请",
                }
            elif at < now and (closed_at is None or at <= closed_at):
                row |= {"status": ApprovalStatus.APPROVED.value, "note": "符合条件，同意办理"}
            elif status is ApplicationStatus.REJECTED:
                row |= {"status": ApprovalStatus.WITHDRAWN.value, "decided_at": closed_at}
            if row["status"] in (ApprovalStatus.APPROVED.value, ApprovalStatus.REJECTED.value):
                row |= {"decided_by": f"user:demo.{dept}", "decided_at": at}
            approvals.append(row)
        values = {
            f.key: _value(f, rng, day) for f in form.fields if f.required or rng.random() < 0.5
        }
        materials = [
            {
                "key": m.key,
                "name": f"{m.label}.pdf",
                "contentType": "application/pdf",
                "size": rng.randint(80_000, 4_000_000),
            }
            for m in form.materials
        ]
        applications.append(
            {
                "id": app_id,
                "service_type_id": type_index + 1,
                "tenant_id": branch_tenant[member["branch_id"]],
                "applicant_member_id": member["id"],
                "applicant_name": member["name"],
                "submitted_by": "demo",
                "values": json.dumps(values, ensure_ascii=False),
                "materials": json.dumps(materials, ensure_ascii=False),
                "status": status.value,
                "submitted_at": submitted,
                "completed_at": closed_at,
                "duration_seconds": None
                if closed_at is None
                else int((closed_at - submitted).total_seconds()),
            }
        )
    return [
        (OneFormDepartment.__table__, departments),  # type: ignore[list-item]
        (OneFormServiceType.__table__, types),  # type: ignore[list-item]
        (OneFormServiceDepartment.__table__, links),  # type: ignore[list-item]
        (OneFormApplication.__table__, applications),  # type: ignore[list-item]
        (OneFormApproval.__table__, approvals),  # type: ignore[list-item]
    ]
