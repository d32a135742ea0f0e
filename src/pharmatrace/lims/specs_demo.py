"""Demo plant: the demo specifications: herbs, excipients, the product (TJ-7.2).

Written by the QC reviewer 孙丽 (``sunli``, ``lims.spec.author``) and approved by the qualified person 赵敏
(``zhaomin``, ``lims.spec.approve``) with her electronic signature, through the service, so the demo obeys the
same rules as real work. 丹参 has two specifications (the pharmacopoeia's and a stricter in-house one); the
product 注射用丹红冻干粉 has a release and a shelf-life specification; the vial specification waits in review
for its approval. Idempotent: a specification that exists is left as it is.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import specs
from pharmatrace.lims.specs_models import Specification
from pharmatrace.lims.specs_schemas import ItemIn, SpecificationCreate
from pharmatrace.storage.engine import Database

AUTHOR, APPROVER = "sunli", "zhaomin"
CHP_I = "《中国药典》2025年版一部"
CHP_II = "《中国药典》2025年版二部"


def _item(
    name: str,
    limit_type: str,
    *,
    lower: str | None = None,
    upper: str | None = None,
    unit: str = "",
    decimals: int = 1,
    method: str = "",
    requirement: str = "",
    formula: str = "",
    raws: tuple[tuple[str, str, str], ...] = (),
) -> ItemIn:
    data: dict[str, Any] = {
        "name": name,
        "limit_type": limit_type,
        "unit": unit,
        "decimals": decimals,
        "method": method,
        "requirement": requirement,
        "formula": formula,
        "raw_inputs": [{"name": n, "label": label, "unit": u} for n, label, u in raws],
        "lower": Decimal(lower) if lower is not None else None,
        "upper": Decimal(upper) if upper is not None else None,
    }
    return ItemIn.model_validate(data)


def _text(name: str, requirement: str, method: str = "") -> ItemIn:
    return _item(name, "text", decimals=0, requirement=requirement, method=method)


def _conforms(name: str, requirement: str, method: str = "") -> ItemIn:
    return _item(name, "conforms", decimals=0, requirement=requirement, method=method)


HPLC_EXTERNAL = (
    ("A_s", "供试品峰面积", ""),
    ("A_r", "对照品峰面积", ""),
    ("W_r", "对照品称样量", "mg"),
    ("W_s", "供试品称样量", "mg"),
    ("P", "对照品纯度（小数）", ""),
)
PRODUCT_ASSAY = (
    ("A_s", "供试品峰面积", ""),
    ("A_r", "对照品峰面积", ""),
    ("C_r", "对照品溶液浓度", "mg/mL"),
    ("V", "供试品溶液体积", "mL"),
    ("L", "每支丹参素标示量", "mg"),
)


def _product_items(*, water: str, assay_low: str, release: bool) -> list[ItemIn]:
    items = [
        _text("性状", "本品为红棕色疏松块状物或粉末"),
        _conforms(
            "鉴别",
            "薄层色谱中，在与丹参、红花对照药材色谱相应的位置上，显相同颜色的斑点",
            "通则0502 薄层色谱法",
        ),
        _item("pH值", "range", lower="5.0", upper="7.0", method="通则0631 pH值测定法"),
        _item("水分", "le", upper=water, unit="%", method="通则0832 第一法（费休氏法）"),
    ]
    if release:
        items.append(_conforms("装量差异", "应符合规定", "通则0102 注射剂 装量差异"))
    items += [
        _conforms("可见异物", "应符合规定", "通则0904 可见异物检查法"),
        _conforms("无菌", "应符合规定", "通则1101 无菌检查法"),
        _item("细菌内毒素", "le", upper="0.50", unit="EU/mg", decimals=2, method="通则1143 细菌内毒素检查法"),
        _item(
            "含量测定（丹参素，以标示量计）",
            "range",
            lower=assay_low,
            upper="110.0",
            unit="%",
            method="通则0512 高效液相色谱法，外标法",
            formula="assay = (A_s / A_r) * C_r * V / L * 100",
            raws=PRODUCT_ASSAY,
        ),
    ]
    return items


def demo_specifications() -> list[tuple[SpecificationCreate, bool]]:
    """The demo specifications, each with whether it is approved (else left in review)."""
    danshen_chp = SpecificationCreate(
        code="QS-HB-DS-001",
        category="herb",
        title="丹参（中药材）质量标准",
        basis=CHP_I,
        standard_kind="pharmacopoeia",
        purpose="release",
        material_codes=["HB-DS-001"],
        change_summary="首次发布",
        items=[
            _text("性状", "根茎短粗，根长圆柱形，表面棕红色或暗棕红色；质硬而脆，断面疏松；气微，味微苦涩"),
            _conforms(
                "鉴别",
                "薄层色谱中，在与丹参对照药材、丹参酮ⅡA对照品色谱相应的位置上，显相同颜色的斑点",
                "通则0502 薄层色谱法",
            ),
            _item("水分", "le", upper="13.0", unit="%", method="通则0832 第二法（烘干法）"),
            _item("总灰分", "le", upper="10.0", unit="%", method="通则2302 灰分测定法"),
            _item("酸不溶性灰分", "le", upper="3.0", unit="%", method="通则2302 灰分测定法"),
            _item("水溶性浸出物", "ge", lower="35.0", unit="%", method="通则2201 冷浸法"),
            _item(
                "含量测定（丹酚酸B）",
                "ge",
                lower="3.0",
                unit="%",
                method="通则0512 高效液相色谱法，外标法",
                formula="salvianolic_b = (A_s / A_r) * (W_r / W_s) * P * 100",
                raws=HPLC_EXTERNAL,
            ),
        ],
    )
    danshen_in_house = SpecificationCreate(
        code="QS-HB-DS-002",
        category="herb",
        title="丹参（中药材）企业内控质量标准",
        basis="企业内控标准",
        standard_kind="in_house",
        purpose="release",
        material_codes=["HB-DS-001"],
        change_summary="注射剂用药材内控：水分、灰分与丹酚酸B严于药典",
        items=[
            _item("水分", "le", upper="12.0", unit="%", method="通则0832 第二法（烘干法）"),
            _item("总灰分", "le", upper="8.0", unit="%", method="通则2302 灰分测定法"),
            _item(
                "含量测定（丹酚酸B）",
                "ge",
                lower="4.0",
                unit="%",
                method="通则0512 高效液相色谱法，外标法",
                formula="salvianolic_b = (A_s / A_r) * (W_r / W_s) * P * 100",
                raws=HPLC_EXTERNAL,
            ),
        ],
    )
    sanqi = SpecificationCreate(
        code="QS-HB-SQ-001",
        category="herb",
        title="三七（中药材）质量标准",
        basis=CHP_I,
        standard_kind="pharmacopoeia",
        purpose="release",
        material_codes=["HB-SQ-001"],
        change_summary="首次发布",
        items=[
            _text("性状", "主根呈类圆锥形或圆柱形，表面灰褐色或灰黄色；体重，质坚实；气微，味苦回甜"),
            _conforms(
                "鉴别",
                "薄层色谱中，在与对照药材、对照品色谱相应的位置上，显相同颜色的斑点",
                "通则0502 薄层色谱法",
            ),
            _item("水分", "le", upper="14.0", unit="%", method="通则0832 第二法（烘干法）"),
            _item("总灰分", "le", upper="6.0", unit="%", method="通则2302 灰分测定法"),
            _item("醇溶性浸出物", "ge", lower="16.0", unit="%", method="通则2201 热浸法（甲醇）"),
            _item(
                "含量测定（人参皂苷Rg1、Rb1及三七皂苷R1总量）",
                "ge",
                lower="5.0",
                unit="%",
                method="通则0512 高效液相色谱法",
            ),
        ],
    )
    mannitol = SpecificationCreate(
        code="QS-EXC-MAN-001",
        category="excipient",
        title="甘露醇（注射用）质量标准",
        basis=CHP_II,
        standard_kind="pharmacopoeia",
        purpose="both",
        material_codes=["EXC-MAN-01"],
        change_summary="首次发布",
        items=[
            _text("性状", "白色结晶或结晶性粉末；无臭，味甜"),
            _conforms("鉴别", "红外光吸收图谱应与对照的图谱一致", "通则0402 红外分光光度法"),
            _item("熔点", "range", lower="166.0", upper="170.0", unit="℃", method="通则0612 熔点测定法"),
            _item("干燥失重", "le", upper="0.5", unit="%", method="通则0831 干燥失重测定法"),
            _item("细菌内毒素", "lt", upper="2.5", unit="EU/g", method="通则1143 细菌内毒素检查法"),
            _item(
                "含量测定",
                "range",
                lower="98.0",
                upper="102.0",
                unit="%",
                method="高碘酸钠氧化，硫代硫酸钠滴定液（0.05 mol/L）滴定，并将滴定结果用空白试验校正",
                formula="mannitol = (V_b - V_s) * F * 0.9109 * 10 / W * 100",
                raws=(
                    ("V_b", "空白试验消耗滴定液", "mL"),
                    ("V_s", "供试品消耗滴定液", "mL"),
                    ("F", "滴定液浓度校正因子", ""),
                    ("W", "供试品称样量", "mg"),
                ),
            ),
        ],
    )
    product_release = SpecificationCreate(
        code="QS-FG-DH-001",
        category="finished_product",
        title="注射用丹红冻干粉成品放行质量标准",
        basis="注射用丹红冻干粉企业内控质量标准",
        standard_kind="in_house",
        purpose="release",
        document_number="SPEC-DH-001",
        material_codes=["FG-DH-0200"],
        change_summary="首次发布",
        items=_product_items(water="3.0", assay_low="90.0", release=True),
    )
    product_shelf_life = SpecificationCreate(
        code="QS-FG-DH-002",
        category="finished_product",
        title="注射用丹红冻干粉货架期质量标准",
        basis="注射用丹红冻干粉企业内控质量标准",
        standard_kind="in_house",
        purpose="shelf_life",
        document_number="SPEC-DH-001",
        material_codes=["FG-DH-0200"],
        change_summary="首次发布",
        items=_product_items(water="3.5", assay_low="85.0", release=False),
    )
    vial = SpecificationCreate(
        code="QS-PP-VIAL-001",
        category="primary_packaging",
        title="10 mL 中硼硅玻璃管制注射剂瓶质量标准",
        basis="YBB00302002-2015 中硼硅玻璃管制注射剂瓶",
        standard_kind="in_house",
        purpose="release",
        material_codes=["PP-VIAL-10"],
        change_summary="首次发布",
        items=[
            _conforms("外观", "应无色透明，不得有裂纹、气泡、结石等缺陷"),
            _item(
                "瓶身外径",
                "range",
                lower="21.80",
                upper="22.20",
                unit="mm",
                decimals=2,
                method="游标卡尺测量",
            ),
            _conforms("121 ℃颗粒耐水性", "应符合1级", "YBB00252003-2015"),
            _item("内应力", "le", upper="40", unit="nm/mm", decimals=0, method="YBB00162003-2015 偏光应力仪"),
        ],
    )
    return [
        (danshen_chp, True),
        (danshen_in_house, True),
        (sanqi, True),
        (mannitol, True),
        (product_release, True),
        (product_shelf_life, True),
        (vial, False),
    ]


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def seed_specifications(db: Database, password: str) -> int:
    """Add what is missing; idempotent. Returns how many records were added."""
    with db.sessions() as session:
        existing = set(session.scalars(select(Specification.code)))
    author, approver = _principal(db, AUTHOR), _principal(db, APPROVER)
    added = 0
    for body, approved in demo_specifications():
        if body.code in existing:
            continue
        with UnitOfWork(db, author.actor, reason="demo plant seed: specifications") as uow:
            version = specs.create_specification(uow, author, body)
            specs.submit(uow, author, version.id)
            version_id = version.id
            uow.commit()
        if approved:
            with UnitOfWork(db, approver.actor) as uow:
                specs.approve(
                    uow, approver, version_id, password=password, login=APPROVER, comment="经审核，同意发布"
                )
                uow.commit()
        added += 1
    return added
