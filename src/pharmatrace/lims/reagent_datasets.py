"""The reagent and reference-standard data set of the Tianjin guide (TJ-B.2.4.2, 表 B.16 试剂、标准品管理数据集).

One record per event of a container, oldest first: its receipt (入库), issue or use in a preparation (领用),
return (归还), invalidation (失效), destruction (销毁), the preparation of a solution (配制), and the
accepted standardization of a volumetric solution (标定). Every record carries the container's basic
information; the group of its event is filled and the other groups are empty. The table names the expiry
date (YXRQ) three times (basic information, preparation, standardization): each is the container's
expiry, so the three always agree.

====== ================= ====== ================================================================
short  name              type   PharmaTrace
====== ================= ====== ================================================================
SJBZPMC 试剂/标准品名称   字符型 the container's name
GG     规格              字符型 the grade (色谱纯, 对照品…); a solution's target concentration
PH     批号              字符型 the supplier's lot; a solution's own code
PH01   瓶号              字符型 the container code on the label
YXRQ   有效日期          日期型 the expiry date (usable through that day)
CJ     厂家              字符型 the manufacturer; empty for a solution prepared here
ZCTJ   储存条件          字符型 the storage condition
RKSJ/RKR/RKWZ            receipt: time, who (name and log-in), where stored
LYR/LYSJ/LYSL            issue or use in a preparation: who, when, quantity taken
GHSJ/GHR/GHSL            return: when, who, quantity brought back
CZSJ/CZR/YY              invalidation: when, who, why
XHSJ/XHR/XHSL            destruction: when, who, quantity destroyed
SYMC/SYPH/PZR/PZSJ/PZND  preparation: solution name and code, who, day, target concentration
BZRYMC/BZRYPH/BDSJ/BDR/BDND  standardization: name and code, day, both analysts, the concentration
====== ================= ====== ================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.exchange.datasets import DataSet, Item, register, register_source
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.lims.reagent_models import Reagent, ReagentLogEntry, Standardization

EVENT_KINDS = ("receipt", "issue", "consumption", "return", "invalidation", "destruction", "preparation")


@dataclass(frozen=True)
class ReagentEvent:
    """One event of a container: a usage-log entry, or an accepted standardization with its first round."""

    reagent: Reagent
    at: datetime
    entry: ReagentLogEntry | None = None
    verification: Standardization | None = None
    primary: Standardization | None = None


def _who(login: str, name: str) -> str:
    return f"{name}（{login}）"


def _on(*kinds: str, get: Callable[[ReagentLogEntry], Any]) -> Callable[[ReagentEvent], Any]:
    """A value of the event's usage-log entry when it is of one of ``kinds``, else empty."""

    def value(event: ReagentEvent) -> Any:
        entry = event.entry
        return get(entry) if entry is not None and entry.kind in kinds else None

    return value


def _quantity(entry: ReagentLogEntry) -> Any:
    return entry.quantity


def _performer(entry: ReagentLogEntry) -> str:
    return _who(entry.performed_by, entry.performed_by_name)


def _concentration(reagent: Reagent) -> str:
    return f"{plain_number(reagent.concentration)} {reagent.concentration_unit}"


def _grade(event: ReagentEvent) -> str | None:
    reagent = event.reagent
    if reagent.prepared:
        return _concentration(reagent)
    return reagent.grade or None


def _expiry(event: ReagentEvent) -> date:
    return event.reagent.expiry_date


def _standardized(get: Callable[[ReagentEvent], Any]) -> Callable[[ReagentEvent], Any]:
    return lambda event: get(event) if event.verification is not None else None


def _analysts(event: ReagentEvent) -> str:
    assert event.verification is not None
    assert event.primary is not None
    first, second = event.primary, event.verification
    return f"{_who(first.performed_by, first.performed_by_name)}；{_who(second.performed_by, second.performed_by_name)}"


def _standardized_on(event: ReagentEvent) -> datetime:
    assert event.verification is not None
    return event.verification.performed_at


def _standardized_concentration(event: ReagentEvent) -> str:
    assert event.verification is not None
    return f"{plain_number(event.verification.concentration)} {event.reagent.concentration_unit}"


REAGENT_DATA_SET = register(
    DataSet(
        "TJ-B.2.4.2",
        "试剂、标准品管理数据集",
        (
            Item("SJBZPMC", "试剂/标准品名称", "字符型", lambda e: e.reagent.name),
            Item("GG", "规格", "字符型", _grade),
            Item("PH", "批号", "字符型", lambda e: e.reagent.lot_no),
            Item("PH01", "瓶号", "字符型", lambda e: e.reagent.code),
            Item("YXRQ", "有效日期", "日期型", _expiry),
            Item("CJ", "厂家", "字符型", lambda e: e.reagent.manufacturer or None),
            Item("ZCTJ", "储存条件", "字符型", lambda e: e.reagent.storage_condition),
            Item("RKSJ", "入库时间", "日期时间型", _on("receipt", get=lambda x: x.performed_at)),
            Item("RKR", "入库人", "字符型", _on("receipt", get=_performer)),
            Item("RKWZ", "入库位置", "字符型", lambda e: e.reagent.location if e.entry and e.entry.kind == "receipt" else None),
            Item("LYR", "领用人", "字符型", _on("issue", "consumption", get=_performer)),
            Item("LYSJ", "领用时间", "日期时间型", _on("issue", "consumption", get=lambda x: x.performed_at)),
            Item("LYSL", "领用数量", "浮点型", _on("issue", "consumption", get=_quantity)),
            Item("GHSJ", "归还时间", "日期时间型", _on("return", get=lambda x: x.performed_at)),
            Item("GHR", "归还人", "字符型", _on("return", get=_performer)),
            Item("GHSL", "归还数量", "浮点型", _on("return", get=_quantity)),
            Item("CZSJ", "操作时间", "日期时间型", _on("invalidation", get=lambda x: x.performed_at)),
            Item("CZR", "操作人", "字符型", _on("invalidation", get=_performer)),
            Item("YY", "原因", "字符型", _on("invalidation", get=lambda x: x.reason)),
            Item("XHSJ", "销毁时间", "日期时间型", _on("destruction", get=lambda x: x.performed_at)),
            Item("XHR", "销毁人", "字符型", _on("destruction", get=_performer)),
            Item("XHSL", "销毁数量", "浮点型", _on("destruction", get=_quantity)),
            Item("SYMC", "试液名称", "字符型", lambda e: e.reagent.name if e.entry and e.entry.kind == "preparation" else None),
            Item("SYPH", "试液批号", "字符型", lambda e: e.reagent.code if e.entry and e.entry.kind == "preparation" else None),
            Item("PZR", "配制人", "字符型", _on("preparation", get=_performer)),
            Item("PZSJ", "配制时间", "日期型", _on("preparation", get=lambda x: x.performed_at)),
            Item("PZND", "配制浓度", "字符型", lambda e: _concentration(e.reagent) if e.entry and e.entry.kind == "preparation" else None),
            Item("YXRQ", "有效日期", "日期型", _expiry),
            Item("BZRYMC", "标准溶液名称", "字符型", _standardized(lambda e: e.reagent.name)),
            Item("BZRYPH", "标准溶液批号", "字符型", _standardized(lambda e: e.reagent.code)),
            Item("BDSJ", "标定时间", "日期型", _standardized(_standardized_on)),
            Item("BDR", "标定人", "字符型", _standardized(_analysts)),
            Item("BDND", "标定浓度", "字符型", _standardized(_standardized_concentration)),
            Item("YXRQ", "有效日期", "日期型", _expiry),
        ),
    )
)  # fmt: skip


def reagent_events(session: Session) -> Iterable[ReagentEvent]:
    """Every container event the data set describes, oldest first (the source of the TJ-B.2.4.2 export)."""
    reagents = {r.id: r for r in session.scalars(select(Reagent))}
    events = [
        ReagentEvent(reagents[e.reagent_id], e.performed_at, entry=e)
        for e in session.scalars(select(ReagentLogEntry).where(ReagentLogEntry.kind.in_(EVENT_KINDS)))
    ]
    rounds = {r.id: r for r in session.scalars(select(Standardization))}
    for row in rounds.values():
        if row.role == "verification" and row.accepted and row.primary_id is not None:
            events.append(ReagentEvent(reagents[row.solution_id], row.performed_at, verification=row,
                                       primary=rounds[row.primary_id]))  # fmt: skip
    return sorted(events, key=lambda e: (e.at, e.reagent.id, e.entry.id if e.entry else 0))


def reagent_data_set(event: ReagentEvent) -> dict[str, Any]:
    """One event as TJ-B.2.4.2 short names (dates ``YYYYMMDD``, date-times ``YYYYMMDDThhmmss``)."""
    return REAGENT_DATA_SET.record(event)


register_source(REAGENT_DATA_SET.clause, reagent_events, permission="lims.view")
