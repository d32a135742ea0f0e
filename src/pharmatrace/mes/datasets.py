"""The production data sets of the Tianjin guide: weighing (TJ-B.2.2.2) and the four tables of TJ-B.2.3
(生产操作数据集): the batch production record, deviations, line clearance and the batch packaging record.
Exchanged data is in Chinese (the guide's words); an item PharmaTrace keeps no data for is exported empty
(``null`` in JSON), never made up. Lists inside one item are joined with ``；`` in recipe order.

TJ-B.2.2.2 (表 B.4 称量管理数据集): one record per weighing record.

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

TJ-B.2.3.1 (表 B.6 生产电子批记录数据集): one record per started batch and production process (生产工序 = a
unit procedure of the control recipe whose stage is ``production`` or ``inspection``; the ``packaging`` stage
is the packaging record, TJ-B.2.3.4). "The process's steps" below are its steps with recorded evidence.

====== =========== ========== ==================================================================================
short name         type       PharmaTrace
====== =========== ========== ==================================================================================
CPBM   产品编码    字符型     the batch order's product code
CPMC   产品名称    字符型     the batch order's product name
CPGG   产品规格    字符型     the strength/pack part of the product name, else empty (as in TJ-B.2.2.2)
CPPH   产品批号    字符型     the batch number
PL     批量        字符型     the batch size with its unit (``10000 支``)
SCKSSJ 生产开始时间 日期时间型 the start of the batch's first step
SCJSSJ 生产结束时间 日期时间型 the completion of the batch (its last step done); empty while it runs
SCGX   生产工序    字符型     the unit procedure's code and name (``UP-EXT 中药材提取``)
GXKSSJ 工序开始时间 日期时间型 the first start of a step of the process
GXJSSJ 工序结束时间 日期时间型 the last completion of a step of the process, once every step is completed
SBBH   设备编号    字符型     the equipment checked before use in the process's pre-use checks and the balances
                              of its weighing records (the room is not equipment)
SBMC   设备名称    字符型     their names, in the same order
CZR    操作人      字符型     the performers of the process's steps (name and log-in)
FHR    复核人      字符型     the second signers of its steps (verifier, supervisor, QA on the floor)
GJGYCS 关键工艺参数 字符型     the CPP steps' values: name, value, unit, and the limit exceeded if any
RGCZJL 人工操作记录 字符型     instructions followed, values entered, pre-use checks and line clearances with
                              their results, each value's observation time and late-entry reason (补录), and
                              the visual inspection counts of an inspection process (人工观察、清场、检查)
ZJKZJG 中间控制结果 字符型     the IPC steps' controls: name, result, unit, 合格/不合格
GXWLPH 工序物料平衡 字符型     the yield steps: the yield (%) against its limits
====== =========== ========== ==================================================================================

TJ-B.2.3.2 (表 B.7 生产偏差记录数据集): one record per deviation opened through the deviation seam.

======= ============== ========== ==========================================================================
short name             type       PharmaTrace
======= ============== ========== ==========================================================================
PCMS    偏差描述       字符型     the description (batch, step and the exception's text)
PCFSSJ  偏差发生时间   日期时间型 when it occurred (the exception's time)
JJCLCS  紧急处理措施   字符型     the immediate actions the supervisor recorded with the decision
SYXCPBM 受影响产品编码 字符型     the affected products' codes
SYXCPMC 受影响产品名称 字符型     their names from the material master (empty for a code it does not know)
SYXCPPH 受影响产品批号 字符型     the affected batch numbers
PCJLR   偏差记录人     字符型     the supervisor who raised it (name and log-in)
PCFHR   偏差复核人     字符型     its reviewer; empty until the QMS reviews deviations (the seam sets none)
======= ============== ========== ==========================================================================

TJ-B.2.3.3 (表 B.8 清场电子记录数据集): one record per completed ``line_clearance`` step.

====== ========== ====== ======================================================================================
short name        type   PharmaTrace
====== ========== ====== ======================================================================================
CZJBH  操作间编号 字符型 the room of the step's operation, as recorded
CPMC   产品名称   字符型 the product, as recorded
CPPH   产品批号   字符型 the batch number, as recorded
SCGX   生产工序   字符型 the unit procedure the clearance belongs to (code and name)
QCRQ   清场日期   日期型 the day the clearance was completed (Beijing time)
JCXM   检查项目   字符型 the checklist items, in order
JCJG   检查结果   字符型 each item's result (合格, 不合格, 不适用), in the same order
QCRY   清场人员   字符型 the performer (name and log-in)
QCFHR  清场复核人 字符型 the second signer; empty while the second signature is pending
====== ========== ====== ======================================================================================

TJ-B.2.3.4 (表 B.9 电子批包装记录数据集): one record per printed packaging material verified on a packaging
record (one record with empty material items while none is). "The packaging steps" are the steps of the
control recipe's ``packaging`` stage.

======= ============== ========== ===========================================================================
short name             type       PharmaTrace
======= ============== ========== ===========================================================================
CPMC    产品名称       字符型     the packaging record's product name
CPGG    产品规格       字符型     the strength/pack part of the product name, else empty
CPPH    产品批号       字符型     the finished product's batch number
BZGG    包装规格       字符型     the pack size of the record (``10 支/盒``)
SCRQ    生产日期       日期型     the manufacture date of the record
YXRQ    有效日期       日期型     the expiry date computed from it and the product's shelf life
BZCZDSJ 包装操作时间   日期时间型 the first start of a packaging step (else the record's opening)
BZCLMC  包装材料名称   字符型     the printed material's name
BZCLPH  包装材料批号   字符型     its lot number as verified
SYSL    使用数量       浮点型     the pieces used, from its reconciliation; empty before it
SBBH    设备编号       字符型     the equipment of the packaging steps' pre-use checks and weighings
SBMC    设备名称       字符型     their names (the packaging line is a name on the record, not equipment)
GJGYCS  关键工艺参数   字符型     the packaging steps' CPP values
RGCZJL  人工操作记录   字符型     the packaging steps' manual records (as in TJ-B.2.3.1)
CZR     操作人         字符型     the performers of the packaging steps
FHR     复核人         字符型     their second signers
JCJL    检查记录       字符型     the pre-packaging line check items with results, and each check of the
                                  printed batch number and expiry date
JCR     检查人         字符型     who performed the line check and the print checks
FXSHR   放行审核人     字符型     empty: the release of the finished product belongs to the QMS, not built yet
SHR     审核人         字符型     the QA reviewer who signed the batch record review (TJ-6.4.7)
======= ============== ========== ===========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.exchange.datasets import DataSet, Item, register, register_source
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.mes import execution
from pharmatrace.mes.dispensing_models import WeighingRecord
from pharmatrace.mes.execution_models import BatchOrder, StepExecution
from pharmatrace.mes.packaging_models import (
    DEFECTS,
    MaterialReconciliation,
    PackagingLineCheck,
    PackagingRecord,
    PrintDataCheck,
    PrintedMaterialCheck,
    VisualInspection,
)
from pharmatrace.mes.recipe_schemas import Step, UnitProcedure
from pharmatrace.mes.review_models import BatchReview
from pharmatrace.qms.deviation_models import Deviation  # owned by the QMS (TJ-6.4.4)
from pharmatrace.wms.models import Material

PERMISSION = "mes.batch.view"
SEPARATOR = "；"

# TJ-B.2.2.2 CJZT "秤具的校验状态" in the guide's words (as equipment.service does for TJ-B.2.1 JYZT).
CALIBRATION_WORDS: dict[str, str] = {
    "calibrated": "已校验",
    "not_calibrated": "未校验",
    "out_of_tolerance": "校验不合格",
    "expired": "已过期",
    "not_required": "无需校验",
}
CHECK_WORDS = {"pass": "合格", "fail": "不合格", "na": "不适用"}
FLAG_WORDS = {"alert": "（超出警戒限）", "action": "（超出行动限）"}
DEFECT_WORDS = {
    "particles": "可见异物",
    "glass": "玻璃屑",
    "fill_volume": "装量",
    "cracks": "裂瓶",
    "cosmetic": "外观",
    "other": "其他",
}
assert set(DEFECT_WORDS) == set(DEFECTS)


def product_spec(name: str) -> str:
    """``注射用丹红冻干粉 200 mg/支`` → ``200 mg/支``: the part after the first space when it names a
    strength per unit; the batch order keeps no separate specification."""
    _, _, rest = name.partition(" ")
    return rest.strip() if "/" in rest else ""


def _joined(items: Iterable[str]) -> str | None:
    """Distinct non-empty items in their order, joined; None when there is none (no data, nothing invented)."""
    kept = list(dict.fromkeys(i for i in items if i))
    return SEPARATOR.join(kept) if kept else None


class _People:
    """Log-in → ``name（login）``, as the other data sets name people (read once per export)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._names: dict[str, str] = {}

    def __call__(self, login: str | None) -> str:
        if not login:
            return ""
        if login not in self._names:
            name = self._session.scalar(select(User.full_name).where(User.login == login))
            self._names[login] = f"{name}（{login}）" if name else login
        return self._names[login]


# --- TJ-B.2.2.2 weighing -------------------------------------------------------------------------------


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


register_source(WEIGHING_DATA_SET.clause, weighings_for_exchange, permission=PERMISSION)


# --- what the steps of a batch recorded, by unit procedure --------------------------------------------


@dataclass(frozen=True, slots=True)
class _Done:
    """A step of the batch with its recipe step and the evidence it recorded (once completed)."""

    row: StepExecution
    step: Step
    record: dict[str, Any]

    @property
    def completed(self) -> bool:
        return self.row.state in ("signing", "done")


@dataclass(frozen=True, slots=True)
class _Unit:
    unit: UnitProcedure
    steps: list[_Done]

    @property
    def name(self) -> str:
        return f"{self.unit.code} {self.unit.name}"

    @property
    def recorded(self) -> list[_Done]:
        return [d for d in self.steps if d.completed]


def _units(session: Session, order: BatchOrder) -> list[_Unit]:
    """The batch's unit procedures in recipe order, each with its steps as executed."""
    body = execution.control_body(session, order)
    rows = {
        r.step_code: r
        for r in session.scalars(select(StepExecution).where(StepExecution.batch_order_id == order.id))
    }
    return [
        _Unit(unit, [_Done(rows[s.code], s, json.loads(rows[s.code].record))
                     for op in unit.operations for s in op.steps if s.code in rows])
        for unit in body.unit_procedures
    ]  # fmt: skip


def _started_orders(session: Session) -> Iterator[BatchOrder]:
    yield from session.scalars(
        select(BatchOrder).where(BatchOrder.started_at.is_not(None)).order_by(BatchOrder.id)
    )


def _values(done: _Done) -> list[tuple[str, str, str]]:
    """(name, value as shown with its unit, the limit word) of each value the step recorded: the recipe's
    parameters in order, then anything else recorded."""
    names = {p.code: p.name for p in done.step.parameters}
    recorded: dict[str, Any] = done.record.get("values") or {}
    out: list[tuple[str, str, str]] = []
    for code in [c for c in names if c in recorded] + sorted(set(recorded) - set(names)):
        item = recorded[code]
        if isinstance(item, dict):
            shown = f"{item.get('shown') or item.get('value')} {item.get('unit') or ''}".strip()
            out.append((str(names.get(code, code)), shown, FLAG_WORDS.get(str(item.get("flag")), "")))
    return out


def _equipment(session: Session, order: BatchOrder, steps: Sequence[_Done]) -> list[tuple[str, str]]:
    """(code, name) of the equipment the steps checked before use, then the balances they weighed on."""
    found: dict[str, str] = {}
    for done in steps:
        room = done.record.get("room")
        for unit in done.record.get("equipment") or []:
            if isinstance(unit, dict) and unit.get("code") and unit.get("code") != room:
                found.setdefault(str(unit["code"]), str(unit.get("name", "")))
    codes = [d.row.step_code for d in steps]
    if codes:
        for code, name in session.execute(
            select(WeighingRecord.scale_code, WeighingRecord.scale_name)
            .where(WeighingRecord.batch_order_id == order.id, WeighingRecord.step_code.in_(codes))
            .order_by(WeighingRecord.id)
        ):  # fmt: skip
            found.setdefault(str(code), str(name))
    return list(found.items())


def _cpp(steps: Sequence[_Done]) -> str | None:
    return _joined(
        f"{name} {shown}{flag}" for d in steps if d.step.type == "cpp" for name, shown, flag in _values(d)
    )


def _ipc(steps: Sequence[_Done]) -> str | None:
    names = {c.code: c.name for d in steps for c in d.step.controls}
    return _joined(
        f"{names.get(code, code)} {c.get('value', '')} {c.get('unit') or ''}".strip()
        + f" {CHECK_WORDS.get(str(c.get('result')), '')}"
        for d in steps if d.step.type == "ipc"
        for code, c in (d.record.get("controls") or {}).items()
    )  # fmt: skip


def _balance(steps: Sequence[_Done]) -> str | None:
    out = []
    for d in steps:
        if d.step.type != "yield":
            continue
        item = (d.record.get("values") or {}).get("yield_pct") or {}
        limits = d.record.get("limits") or {}
        out.append(f"{d.step.name} 收率 {item.get('shown') or item.get('value')} %（限度 {limits.get('low_pct')}"
                   f"～{limits.get('high_pct')} %）")  # fmt: skip
    return _joined(out)


def _manual(steps: Sequence[_Done]) -> list[str]:
    """TJ-B.2.3.1 RGCZJL (人工观察、清场、检查等): what people did and entered by hand, step by step."""
    out = []
    for d in steps:
        kind, record = d.step.type, d.record
        if kind == "instruction" and record.get("acknowledged"):
            text = f"{d.step.name}：已按指令操作"
        elif kind == "data_entry":
            text = f"{d.step.name}：" + "，".join(f"{n} {v}{f}" for n, v, f in _values(d))
        elif kind in ("pre_use_check", "line_clearance"):
            text = f"{d.step.name}：" + "，".join(
                f"{c.get('item')} {CHECK_WORDS.get(str(c.get('result')), c.get('result'))}"
                for c in record.get("checks") or []
            )
        else:
            continue
        if record.get("observed_at"):
            text += f"（观察时间 {record['observed_at']}"
            text += f"，补录原因：{record['late_reason']}）" if record.get("late_reason") else "）"
        if record.get("note"):
            text += f"（备注：{record['note']}）"
        out.append(text)
    return out


def _inspections(session: Session, order: BatchOrder, steps: Sequence[_Done]) -> list[str]:
    """The visual inspection counts (灯检, 人工观察) recorded on these steps by the packaging record."""
    codes = [d.row.step_code for d in steps]
    if not codes:
        return []
    rows = session.scalars(
        select(VisualInspection)
        .join(PackagingRecord, PackagingRecord.id == VisualInspection.record_id)
        .where(PackagingRecord.batch_order_id == order.id, VisualInspection.step_code.in_(codes))
        .order_by(VisualInspection.id)
    )
    out = []
    for v in rows:
        defects = "，".join(f"{DEFECT_WORDS[d]} {getattr(v, d)}" for d in DEFECTS if getattr(v, d))
        out.append(
            f"灯检 {v.inspected}：合格 {v.good}，剔除 {v.rejected}" + (f"（{defects}）" if defects else "")
        )
    return out


# --- TJ-B.2.3.1 batch production record ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessRecord:
    """One production process (工序) of one batch, as TJ-B.2.3.1 exchanges it."""

    order: BatchOrder
    process: str
    started: datetime | None
    ended: datetime | None
    equipment: list[tuple[str, str]]
    operators: str | None
    reviewers: str | None
    cpp: str | None
    manual: str | None
    ipc: str | None
    balance: str | None


def process_records(session: Session) -> Iterator[ProcessRecord]:
    """Every started batch's production and inspection processes that have a started step, in recipe order."""
    people = _People(session)
    for order in _started_orders(session):
        for unit in _units(session, order):
            if unit.unit.stage == "packaging":
                continue
            starts = [d.row.started_at for d in unit.steps if d.row.started_at is not None]
            if not starts:
                continue
            recorded = unit.recorded
            ends = [d.row.completed_at for d in recorded if d.row.completed_at is not None]
            manual = _manual(recorded)
            if unit.unit.stage == "inspection":
                manual += _inspections(session, order, recorded)
            yield ProcessRecord(
                order=order, process=unit.name, started=min(starts),
                ended=max(ends) if ends and len(recorded) == len(unit.steps) else None,
                equipment=_equipment(session, order, recorded),
                operators=_joined(people(d.row.performed_by) for d in recorded),
                reviewers=_joined(people(d.row.verified_by) for d in recorded),
                cpp=_cpp(recorded), manual=_joined(manual), ipc=_ipc(recorded), balance=_balance(recorded),
            )  # fmt: skip


def _codes(pairs: list[tuple[str, str]]) -> str | None:
    return _joined(code for code, _name in pairs)


def _names(pairs: list[tuple[str, str]]) -> str | None:
    kept = [name or code for code, name in pairs]
    return SEPARATOR.join(kept) if kept else None


BATCH_RECORD_DATA_SET = register(
    DataSet(
        "TJ-B.2.3.1",
        "生产电子批记录",
        (
            Item("CPBM", "产品编码", "字符型", lambda r: r.order.product_code),
            Item("CPMC", "产品名称", "字符型", lambda r: r.order.product_name),
            Item("CPGG", "产品规格", "字符型", lambda r: product_spec(r.order.product_name)),
            Item("CPPH", "产品批号", "字符型", lambda r: r.order.batch_no),
            Item("PL", "批量", "字符型", lambda r: f"{plain_number(r.order.batch_size)} {r.order.unit}"),
            Item("SCKSSJ", "生产开始时间", "日期时间型", lambda r: r.order.started_at),
            Item("SCJSSJ", "生产结束时间", "日期时间型", lambda r: r.order.completed_at),
            Item("SCGX", "生产工序", "字符型", lambda r: r.process),
            Item("GXKSSJ", "工序开始时间", "日期时间型", lambda r: r.started),
            Item("GXJSSJ", "工序结束时间", "日期时间型", lambda r: r.ended),
            Item("SBBH", "设备编号", "字符型", lambda r: _codes(r.equipment)),
            Item("SBMC", "设备名称", "字符型", lambda r: _names(r.equipment)),
            Item("CZR", "操作人", "字符型", lambda r: r.operators),
            Item("FHR", "复核人", "字符型", lambda r: r.reviewers),
            Item("GJGYCS", "关键工艺参数", "字符型", lambda r: r.cpp),
            Item("RGCZJL", "人工操作记录", "字符型", lambda r: r.manual),
            Item("ZJKZJG", "中间控制结果", "字符型", lambda r: r.ipc),
            Item("GXWLPH", "工序物料平衡", "字符型", lambda r: r.balance),
        ),
    ),
    process_records,
    permission=PERMISSION,
)


# --- TJ-B.2.3.2 deviations -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeviationRecord:
    deviation: Deviation
    product_names: str | None
    recorder: str
    reviewer: str | None


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def deviation_records(session: Session) -> Iterator[DeviationRecord]:
    """Every deviation opened through the seam (:mod:`pharmatrace.mes.deviation_seam`), oldest first."""
    people = _People(session)

    def name(code: str) -> str:
        return session.scalar(select(Material.name).where(Material.code == code)) or ""

    for deviation in session.scalars(select(Deviation).order_by(Deviation.id)):
        yield DeviationRecord(
            deviation=deviation,
            product_names=_joined(name(code) for code in _split(deviation.affected_products)),
            recorder=people(deviation.recorded_by),
            reviewer=people(deviation.reviewer) or None,
        )


DEVIATION_DATA_SET = register(
    DataSet(
        "TJ-B.2.3.2",
        "生产偏差记录",
        (
            Item("PCMS", "偏差描述", "字符型", lambda r: r.deviation.description),
            Item("PCFSSJ", "偏差发生时间", "日期时间型", lambda r: r.deviation.occurred_at),
            Item("JJCLCS", "紧急处理措施", "字符型", lambda r: r.deviation.immediate_actions),
            Item(
                "SYXCPBM",
                "受影响产品编码",
                "字符型",
                lambda r: _joined(_split(r.deviation.affected_products)),
            ),
            Item("SYXCPMC", "受影响产品名称", "字符型", lambda r: r.product_names),
            Item(
                "SYXCPPH", "受影响产品批号", "字符型", lambda r: _joined(_split(r.deviation.affected_batches))
            ),
            Item("PCJLR", "偏差记录人", "字符型", lambda r: r.recorder),
            Item("PCFHR", "偏差复核人", "字符型", lambda r: r.reviewer),
        ),
    ),
    deviation_records,
    permission=PERMISSION,
)


# --- TJ-B.2.3.3 line clearance -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClearanceRecord:
    room: str
    product: str
    batch_no: str
    process: str
    completed: datetime | None
    items: str | None
    results: str | None
    performer: str
    verifier: str | None


def clearance_records(session: Session) -> Iterator[ClearanceRecord]:
    """Every completed line clearance step (TJ-6.4.5), batch by batch in recipe order."""
    people = _People(session)
    for order in _started_orders(session):
        for unit in _units(session, order):
            for done in unit.recorded:
                if done.step.type != "line_clearance":
                    continue
                clearance = done.record.get("clearance") or {}
                checks = done.record.get("checks") or []
                yield ClearanceRecord(
                    room=str(clearance.get("room") or ""), product=str(clearance.get("product") or ""),
                    batch_no=str(clearance.get("batch_no") or order.batch_no), process=unit.name,
                    completed=done.row.completed_at, items=_joined(str(c.get("item")) for c in checks),
                    results=SEPARATOR.join(CHECK_WORDS.get(str(c.get("result")), str(c.get("result")))
                                           for c in checks) or None,
                    performer=people(done.row.performed_by), verifier=people(done.row.verified_by) or None,
                )  # fmt: skip


CLEARANCE_DATA_SET = register(
    DataSet(
        "TJ-B.2.3.3",
        "清场电子记录",
        (
            Item("CZJBH", "操作间编号", "字符型", lambda r: r.room or None),
            Item("CPMC", "产品名称", "字符型", lambda r: r.product),
            Item("CPPH", "产品批号", "字符型", lambda r: r.batch_no),
            Item("SCGX", "生产工序", "字符型", lambda r: r.process),
            Item("QCRQ", "清场日期", "日期型", lambda r: r.completed),
            Item("JCXM", "检查项目", "字符型", lambda r: r.items),
            Item("JCJG", "检查结果", "字符型", lambda r: r.results),
            Item("QCRY", "清场人员", "字符型", lambda r: r.performer),
            Item("QCFHR", "清场复核人", "字符型", lambda r: r.verifier),
        ),
    ),
    clearance_records,
    permission=PERMISSION,
)


# --- TJ-B.2.3.4 batch packaging record -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PackagingMaterialRecord:
    record: PackagingRecord
    operated_at: datetime
    material: PrintedMaterialCheck | None
    used: int | None
    equipment: list[tuple[str, str]]
    cpp: str | None
    manual: str | None
    operators: str | None
    reviewers: str | None
    checks: str | None
    checkers: str | None
    examiner: str | None


def packaging_records(session: Session) -> Iterator[PackagingMaterialRecord]:
    """Every packaging record, one record per printed material verified on it (TJ-6.4.6)."""
    people = _People(session)
    for record in session.scalars(select(PackagingRecord).order_by(PackagingRecord.id)):
        order = execution.get_order(session, record.batch_order_id)
        steps = [d for u in _units(session, order) if u.unit.stage == "packaging" for d in u.steps]
        recorded = [d for d in steps if d.completed]
        starts = [d.row.started_at for d in steps if d.row.started_at is not None]
        line = session.scalar(select(PackagingLineCheck).where(PackagingLineCheck.record_id == record.id))
        prints = list(session.scalars(
            select(PrintDataCheck).where(PrintDataCheck.record_id == record.id).order_by(PrintDataCheck.id)
        ))  # fmt: skip
        checks = [] if line is None else [
            f"{c['item']} {CHECK_WORDS.get(c['result'], c['result'])}" for c in json.loads(line.checks)
        ]  # fmt: skip
        checks += [f"{p.material_code} 打印批号 {p.printed_batch_no}、有效期 {p.printed_expiry.isoformat()}：与本批一致"
                   for p in prints]  # fmt: skip
        review = session.scalar(select(BatchReview).where(BatchReview.batch_order_id == order.id))
        common: dict[str, Any] = {
            "record": record, "operated_at": min(starts) if starts else record.created_at,
            "equipment": _equipment(session, order, recorded), "cpp": _cpp(recorded),
            "manual": _joined(_manual(recorded)),
            "operators": _joined(people(d.row.performed_by) for d in recorded),
            "reviewers": _joined(people(d.row.verified_by) for d in recorded), "checks": _joined(checks),
            "checkers": _joined([people(line.performed_by) if line else "", *(people(p.checked_by) for p in prints)]),
            "examiner": f"{review.reviewed_by_name}（{review.reviewed_by}）" if review else None,
        }  # fmt: skip
        materials = list(session.scalars(
            select(PrintedMaterialCheck).where(PrintedMaterialCheck.record_id == record.id)
            .order_by(PrintedMaterialCheck.id)
        ))  # fmt: skip
        if not materials:
            yield PackagingMaterialRecord(material=None, used=None, **common)
        for material in materials:
            used = session.scalar(
                select(MaterialReconciliation.used).where(
                    MaterialReconciliation.material_check_id == material.id
                )
            )
            yield PackagingMaterialRecord(material=material, used=used, **common)


def _material(r: PackagingMaterialRecord, read: Callable[[PrintedMaterialCheck], str]) -> str | None:
    return None if r.material is None else (read(r.material) or None)


PACKAGING_DATA_SET = register(
    DataSet(
        "TJ-B.2.3.4",
        "电子批包装记录",
        (
            Item("CPMC", "产品名称", "字符型", lambda r: r.record.product_name),
            Item("CPGG", "产品规格", "字符型", lambda r: product_spec(r.record.product_name)),
            Item("CPPH", "产品批号", "字符型", lambda r: r.record.batch_no),
            Item("BZGG", "包装规格", "字符型", lambda r: r.record.pack_size or None),
            Item("SCRQ", "生产日期", "日期型", lambda r: r.record.manufacture_date),
            Item("YXRQ", "有效日期", "日期型", lambda r: r.record.expiry_date),
            Item("BZCZDSJ", "包装操作时间", "日期时间型", lambda r: r.operated_at),
            Item("BZCLMC", "包装材料名称", "字符型", lambda r: _material(r, lambda m: m.material_name)),
            Item("BZCLPH", "包装材料批号", "字符型", lambda r: _material(r, lambda m: m.lot_number)),
            Item("SYSL", "使用数量", "浮点型", lambda r: r.used),
            Item("SBBH", "设备编号", "字符型", lambda r: _codes(r.equipment)),
            Item("SBMC", "设备名称", "字符型", lambda r: _names(r.equipment)),
            Item("GJGYCS", "关键工艺参数", "字符型", lambda r: r.cpp),
            Item("RGCZJL", "人工操作记录", "字符型", lambda r: r.manual),
            Item("CZR", "操作人", "字符型", lambda r: r.operators),
            Item("FHR", "复核人", "字符型", lambda r: r.reviewers),
            Item("JCJL", "检查记录", "字符型", lambda r: r.checks),
            Item("JCR", "检查人", "字符型", lambda r: r.checkers),
            Item("FXSHR", "放行审核人", "字符型", lambda r: None),  # the release is the QMS's (not built yet)
            Item("SHR", "审核人", "字符型", lambda r: r.examiner),
        ),
    ),
    packaging_records,
    permission=PERMISSION,
)
