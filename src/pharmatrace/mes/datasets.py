"""The weighing data set of the Tianjin guide (TJ-B.2.2.2, 表 B.4 称量管理数据集): one record per weighing.

===== ========= ========== ===========================================================================
short name      type       PharmaTrace
===== ========= ========== ===========================================================================
CJMC  秤具名称  字符型     the scale's name in the equipment register, as at the weighing
CJBH  秤具编号  字符型     the scale's equipment code (e.g. ``SC-01``)
CJZT  秤具状态  字符型     its calibration status when it weighed: 已校验, 未校验, 校验不合格, 已过期
CJJD  秤具精度  字符型     the readability d with its unit (``0.01 kg``)
CPMC  产品名称  字符型     the product of the batch order
CPGG  产品规格  字符型     the strength/pack part of the product name (``200 mg/支``), else empty
CPPH  产品批号  字符型     the batch number
WLMC  物料名称  字符型     the weighed material's name
WLPH  物料批号  字符型     the internal lot number of the container weighed from
CLZL  称量重量  字符型     the net weight with the scale's unit, as read (``50.02 kg``)
CLR   称量人    字符型     the weigher's name and log-in
CLRQ  称量日期  日期型     the day of the weighing (Beijing time), ``YYYYMMDD``
===== ========= ========== ===========================================================================
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.exchange.datasets import DataSet, Item, register, register_source
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.mes.dispensing_models import WeighingRecord

# TJ-B.2.2.2 CJZT "秤具的校验状态" in the guide's words (as equipment.service does for TJ-B.2.1 JYZT).
CALIBRATION_WORDS: dict[str, str] = {
    "calibrated": "已校验",
    "not_calibrated": "未校验",
    "out_of_tolerance": "校验不合格",
    "expired": "已过期",
    "not_required": "无需校验",
}


def product_spec(name: str) -> str:
    """``注射用丹红冻干粉 200 mg/支`` → ``200 mg/支``: the part after the first space when it names a
    strength per unit; the batch order keeps no separate specification."""
    _, _, rest = name.partition(" ")
    return rest.strip() if "/" in rest else ""


def _weight(record: WeighingRecord) -> str:
    return f"{plain_number(record.net)} {record.weight_unit}"


WEIGHING_DATA_SET = register(
    DataSet(
        "TJ-B.2.2.2",
        "称量管理数据集",
        (
            Item("CJMC", "秤具名称", "字符型", lambda r: r.scale_name),
            Item("CJBH", "秤具编号", "字符型", lambda r: r.scale_code),
            Item(
                "CJZT",
                "秤具状态",
                "字符型",
                lambda r: CALIBRATION_WORDS.get(r.calibration_status, r.calibration_status),
            ),
            Item("CJJD", "秤具精度", "字符型", lambda r: f"{plain_number(r.readability)} {r.weight_unit}"),
            Item("CPMC", "产品名称", "字符型", lambda r: r.product_name),
            Item("CPGG", "产品规格", "字符型", lambda r: product_spec(r.product_name)),
            Item("CPPH", "产品批号", "字符型", lambda r: r.batch_no),
            Item("WLMC", "物料名称", "字符型", lambda r: r.material_name),
            Item("WLPH", "物料批号", "字符型", lambda r: r.lot_number),
            Item("CLZL", "称量重量", "字符型", _weight),
            Item("CLR", "称量人", "字符型", lambda r: f"{r.weighed_by_name}（{r.weighed_by}）"),
            Item("CLRQ", "称量日期", "日期型", lambda r: r.weighed_at),
        ),
    )
)


def weighings_for_exchange(session: Session) -> Iterable[WeighingRecord]:
    """Every weighing record, oldest first (the source of the TJ-B.2.2.2 export)."""
    return session.scalars(select(WeighingRecord).order_by(WeighingRecord.id))


register_source(WEIGHING_DATA_SET.clause, weighings_for_exchange, permission="mes.batch.view")
