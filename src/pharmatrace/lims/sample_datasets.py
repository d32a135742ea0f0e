"""The sample data sets of the Tianjin guide (TJ-B.2.4.1, 表 B.10–B.15 样品管理), from the samples' lifecycle.

========================= ============================================================================
data set                  one record per …
========================= ============================================================================
TJ-B.2.4.1.1 取样         sample taken: YPMC the material's name and the kind of sample, PH the lot, QYJS
                          the containers sampled of the lot's (``3/20``), QYL the sample's quantity with
                          unit, QYSJ/QYR when and who (the sampling record), YPCCTJ its storage condition
TJ-B.2.4.1.2 样品接收     receipt in the lab: YPL the amount received, JSSJ/JSR when and who
TJ-B.2.4.1.3 样品存放     storage step (stored, or put into retention): CFDD the location, SBMC/SBBH the
                          storage equipment (empty when none was named), HJTJ the conditions
TJ-B.2.4.1.5 剩余样品处理 disposal of a remaining test sample or destruction of a retained sample: SYL what
                          was left, XHL what was destroyed, ZT 已处置 / 已销毁, CZRY the person with the
                          witness, CZDD the site, CZFF the method, CZSJ the time
TJ-B.2.4.1.6 留样         retained sample: SL its quantity, YXQ the lot's expiry (``YYYYMMDD``), LYQX the
                          retention due date (``YYYYMMDD``) or 未确定 while a batch's expiry is unknown,
                          LYDD where it is kept, BCTJ its storage condition
========================= ============================================================================

TJ-B.2.4.1.4 (样品检验) belongs to test results and is mapped by the results area. Exchanged text is Chinese:
the guide's words, and the kinds of sample in Chinese (检验样品, 留样, 稳定性样品).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.exchange.datasets import DataSet, Item, register
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.lims import samples
from pharmatrace.lims.sample_models import Sample, SampleEvent

KIND_WORDS = {"test": "检验样品", "retained": "留样", "stability": "稳定性样品"}
DISPOSAL_WORDS = {"dispose": "已处置", "destroy": "已销毁"}
OPEN_WORD = "未确定"
PERMISSION = "lims.view"


def _name(sample: Sample) -> str:
    return f"{sample.material_name} {KIND_WORDS[sample.kind]}"


def _amount(value: Decimal | None, unit: str) -> str | None:
    return None if value is None else f"{plain_number(value)} {unit}"


def _person(login: str, name: str) -> str:
    return f"{name}（{login}）"


SAMPLING = register(
    DataSet(
        "TJ-B.2.4.1.1",
        "取样数据集",
        (
            Item("YPMC", "样品名称", "字符型", _name),
            Item("PH", "批号", "字符型", lambda s: s.lot_number),
            Item(
                "QYJS", "取样件数", "字符型", lambda s: f"{s.record.sample_count}/{s.record.containers_total}"
            ),
            Item("QYL", "取样量", "字符型", lambda s: _amount(s.quantity, s.unit)),
            Item("QYSJ", "取样时间", "日期时间型", lambda s: s.record.sampled_at),
            Item("QYR", "取样人", "字符型", lambda s: _person(s.record.sampled_by, s.record.sampled_by_name)),
            Item("YPCCTJ", "样品储存条件", "字符型", lambda s: s.storage_condition),
        ),
    ),
    lambda session: session.scalars(select(Sample).order_by(Sample.id)).unique(),
    permission=PERMISSION,
)


def _events(*names: str) -> Callable[[Session], Iterable[SampleEvent]]:
    def records(session: Session) -> Iterable[SampleEvent]:
        query = select(SampleEvent).where(SampleEvent.event.in_(names)).order_by(SampleEvent.id)
        return session.scalars(query).unique()

    return records


RECEIPT = register(
    DataSet(
        "TJ-B.2.4.1.2",
        "样品接收数据集",
        (
            Item("YPMC", "样品名称", "字符型", lambda e: _name(e.sample)),
            Item("PH", "批号", "字符型", lambda e: e.sample.lot_number),
            Item("YPL", "样品量", "字符型", lambda e: _amount(e.quantity, e.unit)),
            Item("JSSJ", "接收时间", "日期时间型", lambda e: e.done_at),
            Item("JSR", "接收人", "字符型", lambda e: _person(e.done_by, e.done_by_name)),
        ),
    ),
    _events("receive"),
    permission=PERMISSION,
)

STORAGE = register(
    DataSet(
        "TJ-B.2.4.1.3",
        "样品存放数据集",
        (
            Item("YPMC", "样品名称", "字符型", lambda e: _name(e.sample)),
            Item("PH", "批号", "字符型", lambda e: e.sample.lot_number),
            Item("CFDD", "存放地点", "字符型", lambda e: e.location),
            Item("SBMC", "设备名称", "字符型", lambda e: e.equipment_name),
            Item("SBBH", "设备编号", "字符型", lambda e: e.equipment_code),
            Item("HJTJ", "环境条件", "字符型", lambda e: e.conditions),
        ),
    ),
    _events("store", "retain"),
    permission=PERMISSION,
)

DISPOSAL = register(
    DataSet(
        "TJ-B.2.4.1.5",
        "剩余样品处理数据集",
        (
            Item("YPMC", "样品名称", "字符型", lambda e: _name(e.sample)),
            Item("PH", "批号", "字符型", lambda e: e.sample.lot_number),
            Item("SYL", "剩余量", "字符型", lambda e: _amount(e.remaining, e.unit)),
            Item("XHL", "销毁量", "字符型", lambda e: _amount(e.quantity, e.unit)),
            Item("ZT", "状态", "字符型", lambda e: DISPOSAL_WORDS[e.event]),
            Item(
                "CZRY",
                "处置人员",
                "字符型",
                lambda e: (
                    f"{_person(e.done_by, e.done_by_name)}，监督人 {_person(e.witness, e.witness_name)}"
                ),
            ),
            Item("CZDD", "处置地点", "字符型", lambda e: e.location),
            Item("CZFF", "处置方法", "字符型", lambda e: e.method),
            Item("CZSJ", "处置时间", "日期时间型", lambda e: e.done_at),
        ),
    ),
    _events("dispose", "destroy"),
    permission=PERMISSION,
)


@dataclass(frozen=True, slots=True)
class RetainedRow:
    """A retained sample with what its data set needs besides the row: retention, expiry, place."""

    sample: Sample
    retention: samples.Retention
    location: str


def _retained(session: Session) -> Iterable[RetainedRow]:
    for sample in session.scalars(
        select(Sample).where(Sample.kind == "retained").order_by(Sample.id)
    ).unique():
        kept = samples.storage_place(sample)
        yield RetainedRow(sample, samples.retention_of(session, sample.lot_id), kept.location if kept else "")


def _date(value: object) -> str:
    from datetime import date

    return value.strftime("%Y%m%d") if isinstance(value, date) else OPEN_WORD


RETAINED = register(
    DataSet(
        "TJ-B.2.4.1.6",
        "留样数据集",
        (
            Item("YPMC", "样品名称", "字符型", lambda r: _name(r.sample)),
            Item("PH", "批号", "字符型", lambda r: r.sample.lot_number),
            Item("SL", "数量", "浮点型", lambda r: r.sample.quantity),
            Item(
                "YXQ",
                "有效期",
                "字符型",
                lambda r: _date(r.retention.lot_expiry) if r.retention.lot_expiry else None,
            ),
            Item("LYQX", "留样期限", "字符型", lambda r: _date(r.retention.until)),
            Item("LYDD", "留样地点", "字符型", lambda r: r.location),
            Item("BCTJ", "保存条件", "字符型", lambda r: r.sample.storage_condition),
        ),
    ),
    _retained,
    permission=PERMISSION,
)
