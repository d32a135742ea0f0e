"""The material data set of the Tianjin guide (TJ-B.2.2.1, 表 B.3 物料管理数据集): one record per lot.

===== ========= ========== ===========================================================================
short name      type       PharmaTrace
===== ========= ========== ===========================================================================
WLMC  物料名称  字符型     the lot's material name
WLBM  物料编码  字符型     the material code of the master data (e.g. ``HB-DS-001``)
WLPH  物料批号  字符型     the internal lot number given at receipt by the site's code rule (wms.codes)
SCRQ  生产日期  日期型     the manufacture date, ``YYYYMMDD``
YXQ   有效期    日期型     the expiry date, ``YYYYMMDD`` (none for a material without a shelf life)
GYS   供应商    字符型     the supplier's name
SL    数量      浮点型     the lot's quantity in its unit (the sum of its containers at receipt)
WLZT  物料状态  字符型     the status in the guide's words: 待验, 检验中, 已放行, 不放行, 已过期, 暂停使用
===== ========= ========== ===========================================================================

Void lots (a receipt started in error) are no material and are left out of the export.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.exchange.datasets import DataSet, Item, register, register_source
from pharmatrace.wms.models import LOT_STATUSES, Lot

# TJ-B.2.2.1 WLZT: "处于待验、检验中、已放行、不放行等等状态" — exchanged data is in the guide's words.
LOT_STATUS_WORDS: dict[str, str] = {
    "quarantine": "待验",
    "under_test": "检验中",
    "released": "已放行",
    "rejected": "不放行",
    "expired": "已过期",
    "on_hold": "暂停使用",
}
assert set(LOT_STATUS_WORDS) == set(LOT_STATUSES)

MATERIAL_DATA_SET = register(
    DataSet(
        "TJ-B.2.2.1",
        "物料管理数据集",
        (
            Item("WLMC", "物料名称", "字符型", lambda lot: lot.material.name),
            Item("WLBM", "物料编码", "字符型", lambda lot: lot.material.code),
            Item("WLPH", "物料批号", "字符型", lambda lot: lot.lot_number),
            Item("SCRQ", "生产日期", "日期型", lambda lot: lot.manufacture_date),
            Item("YXQ", "有效期", "日期型", lambda lot: lot.expiry_date),
            Item("GYS", "供应商", "字符型", lambda lot: lot.supplier.name),
            Item("SL", "数量", "浮点型", lambda lot: lot.quantity),
            Item("WLZT", "物料状态", "字符型", lambda lot: LOT_STATUS_WORDS[lot.status]),
        ),
    )
)


def lots_for_exchange(session: Session) -> Iterable[Lot]:
    """Every lot that is not void, oldest first (the source of the TJ-B.2.2.1 export)."""
    return session.scalars(select(Lot).where(Lot.voided_at.is_(None)).order_by(Lot.id)).unique()


register_source(MATERIAL_DATA_SET.clause, lots_for_exchange, permission="wms.material.view")
