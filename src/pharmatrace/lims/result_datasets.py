"""The testing data sets of the Tianjin guide (TJ-B.2.4.1.4 表 B.13 样品检验, TJ-B.2.4.3 表 B.17 超标结果关联的电子记录).

========================= ============================================================================
data set                  one record per …
========================= ============================================================================
TJ-B.2.4.1.4 样品检验     result version (every version is kept, so every one is exchanged): YPMC the
                          material and the sample code, PH the lot, JYYJ the specification (code, version,
                          title), JYFF the method (and its SOP), JYYL empty (the amount issued is on the
                          sample's lifecycle, B.2.4.1), JYXM the test item, ZLBZ the limit, JYJG the result
                          with its verdict, JYRY the analyst, FHRY the reviewer of that version (empty while
                          not reviewed), JYSJ the time of the test
TJ-B.2.4.3 超标结果       OOS case: the failing result's sample, lot, item, method and SOP, limit, result,
                          analyst, reviewer, time; the reagents used (names and lots joined by "；", SJSYYXQ
                          the earliest expiry among them), the instrument (SBMC, SBBH) and SBZT its
                          operating status now with its calibration validity at the time of the test
========================= ============================================================================

Exchanged text is Chinese: the guide's words (合格 / 不合格 / 待复核判定, 符合规定 / 不符合规定).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.equipment.models import Equipment
from pharmatrace.exchange.datasets import DataSet, Item, register
from pharmatrace.kernel import clock
from pharmatrace.lims import results
from pharmatrace.lims.result_models import LabResult, OosCase

PERMISSION = "lims.view"
VERDICT_WORDS = {"pass": "合格", "fail": "不合格", "review": "待复核判定"}
ANSWER_WORDS = {"conforms": "符合规定", "does_not_conform": "不符合规定"}
OPERATING_WORDS = {"standby": "备用", "running": "运行中", "stopped": "停机", "fault": "故障"}


def _person(login: str | None, name: str | None) -> str | None:
    return f"{name}（{login}）" if login else None


def _shown(result: LabResult) -> str:
    if result.reported is not None:
        value = f"{result.reported} {result.unit}".strip()
    elif result.answer is not None:
        value = ANSWER_WORDS[result.answer]
    else:
        value = result.text_result or ""
    return f"{value}（{VERDICT_WORDS[results.verdict_of(result)]}）"


def _limit(result: LabResult) -> str:
    return f"{result.limit_text} {result.unit}".strip() if result.reported is not None else result.limit_text


def _method(result: LabResult) -> str:
    return f"{result.method}（{result.method_sop}）" if result.method_sop else result.method


def _reviewer(result: LabResult) -> str | None:
    decided = results.decision_of(result)
    return _person(decided.reviewed_by, decided.reviewed_by_name) if decided else None


def _sample(result: LabResult) -> str:
    order = result.test.order
    return f"{order.material_name}（{order.sample_code}）"


def _versions(session: Session) -> Iterable[LabResult]:
    return session.scalars(select(LabResult).order_by(LabResult.id)).unique()


INSPECTION = register(
    DataSet(
        "TJ-B.2.4.1.4",
        "样品检验数据集",
        (
            Item("YPMC", "样品名称", "字符型", _sample),
            Item("PH", "批号", "字符型", lambda r: r.test.order.lot_number),
            Item(
                "JYYJ",
                "检验依据",
                "字符型",
                lambda r: f"{r.test.order.spec_code} v{r.test.order.spec_version} {r.test.order.spec_title}",
            ),
            Item("JYFF", "检验方法", "字符型", _method),
            Item("JYYL", "检验用量", "字符型", lambda r: None),
            Item("JYXM", "检验项目", "字符型", lambda r: r.test.item_name),
            Item("ZLBZ", "质量标准", "字符型", _limit),
            Item("JYJG", "检验结果", "字符型", _shown),
            Item("JYRY", "检验人员", "字符型", lambda r: _person(r.entered_by, r.entered_by_name)),
            Item("FHRY", "复核人员", "字符型", _reviewer),
            Item("JYSJ", "检验时间", "日期时间型", lambda r: r.tested_at),
        ),
    ),
    _versions,
    permission=PERMISSION,
)


@dataclass(frozen=True, slots=True)
class OosRow:
    """An OOS case with the failing result and the instrument it was measured on."""

    case: OosCase
    result: LabResult
    instrument: Equipment | None


def _cases(session: Session) -> Iterable[OosRow]:
    for case in session.scalars(select(OosCase).order_by(OosCase.id)):
        result = results.get_result(session, case.result_id)
        instrument = session.get(Equipment, result.instrument_id) if result.instrument_id else None
        yield OosRow(case, result, instrument)


def _expiry(row: OosRow) -> date | None:
    return min((r.expiry_date for r in row.result.reagents), default=None)


def _status(row: OosRow) -> str | None:
    if row.instrument is None:
        return None
    word = OPERATING_WORDS.get(row.instrument.operating_status, row.instrument.operating_status)
    until = row.result.calibrated_until
    if until is None:
        return word
    return f"{word}；检验时校验有效至 {clock.to_beijing(until):%Y-%m-%d}"


OOS = register(
    DataSet(
        "TJ-B.2.4.3",
        "超标结果关联的电子记录数据集",
        (
            Item("YPMC", "样品名称", "字符型", lambda o: _sample(o.result)),
            Item("YPPH", "样品批号", "字符型", lambda o: o.case.lot_number),
            Item("CBDJYXM", "超标的检验项目", "字符型", lambda o: o.case.item_name),
            Item("JYFF", "检验方法", "字符型", lambda o: o.result.method),
            Item("JDSOP", "检定SOP", "字符型", lambda o: o.result.method_sop),
            Item("ZLBZ", "质量标准", "字符型", lambda o: _limit(o.result)),
            Item("JYJG", "检验结果", "字符型", lambda o: _shown(o.result)),
            Item(
                "JYRY", "检验人员", "字符型", lambda o: _person(o.result.entered_by, o.result.entered_by_name)
            ),
            Item("FHRY", "复核人员", "字符型", lambda o: _reviewer(o.result)),
            Item("JYSJ", "检验时间", "日期时间型", lambda o: o.result.tested_at),
            Item(
                "SJSYMC",
                "试剂/试液名称",
                "字符型",
                lambda o: "；".join(r.name for r in o.result.reagents) or None,
            ),
            Item(
                "SJSYPH",
                "试剂/试液批号",
                "字符型",
                lambda o: "；".join(r.lot_no for r in o.result.reagents) or None,
            ),
            Item("SJSYYXQ", "试剂/试液有效期", "日期型", _expiry),
            Item("SBMC", "设备名称", "字符型", lambda o: o.result.instrument_name or None),
            Item("SBBH", "设备编号", "字符型", lambda o: o.result.instrument_code or None),
            Item("SBZT", "设备状态", "字符型", _status),
        ),
    ),
    _cases,
    permission=PERMISSION,
)
