"""Test orders, result entry, instrument data, reprocessing, retests, review and OOS detection.

TJ-7.3 (检验记录), TJ-7.4 (检测管理), TJ-7.7 (超标结果), TJ-10.1.3.4 (二次处理的数据), TJ-10.5.2.a (计算和修约),
TJ-B.2.4.1.4 and TJ-B.2.4.3. Every write goes through the caller's unit of work; a refused command changes nothing.

* **Orders** (:func:`create_order`): a sample (test or stability sample, not disposed of) against an effective
  specification version that applies to its material — one order per sample and version, one test per test item.
  The source says why: receipt, batch, stability pull point. Tests are assigned to holders of
  ``lims.result.enter`` (:func:`assign`).
* **Results** (:func:`enter_result`): by the test's analyst (an unassigned test is taken by whoever enters it).
  Raw values typed in or read from instrument files kept as raw data (:func:`attach_file`,
  :mod:`pharmatrace.lims.instrument_files`); the instrument must be calibrated and usable at the time of the test
  (:func:`pharmatrace.lims.instruments.require_calibrated`), every reagent usable then
  (:func:`pharmatrace.lims.reagents.require_usable`). The value is computed at full precision, rounded once by
  GB/T 8170 and judged (:func:`pharmatrace.lims.specs.measure`); formula, raw values, computed and reported value
  are all kept. The history of the same item for the same material is checked for a trend
  (:func:`flag_out_of_trend`, :mod:`pharmatrace.lims.stats`).
* **OOT follows the history** (TJ-7.7): the reviewed history changes when a result joins it — its approval, or
  the closure of an OOS investigation, when the approved retest that replaced an invalidated result (or the
  confirmed result) becomes the test's history point. Then every result of the same material and item still
  awaiting review is re-evaluated (:func:`reevaluate_trend`): where its flag or findings change, an append-only
  :class:`OotEvaluation` row says so, with the reason. A reviewer may also re-evaluate one result awaiting review
  (:func:`reevaluate_result`). An approved result keeps the flag it was approved with.
* **New versions**: :func:`correct_result` and :func:`reprocess_result` (TJ-10.1.3.4: the processing method and
  parameters of each version kept) supersede the latest version with a reason; :func:`retest` adds a new result
  linked to the original. Nothing is overwritten: results are append-only.
* **OOS** (TJ-7.7): a failing result is flagged at once and an :class:`OosCase` (phase I, open) names it. The
  result is then locked: no correction, no reprocessing, no return to the analyst; a retest only within its
  investigation. A descriptive result the reviewer judges failing opens a case the same way.
* **Review** (TJ-7.4, :func:`review`): a holder of ``lims.result.review`` approves or returns the latest version,
  signing the decision row, which names the version's content hash. Whoever entered any version of the test may
  not review it. When every test is approved, the order is complete with its verdict (derived, never stored).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.equipment import service as equipment
from pharmatrace.equipment.models import Equipment
from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.audit import plain_value
from pharmatrace.kernel.errors import N_, Conflict, NotFound, NotPermitted, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.numbers import plain_number
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import instrument_files, instruments, reagents, samples, specs, stats
from pharmatrace.lims.judgement import NUMERIC_LIMITS
from pharmatrace.lims.result_models import (
    LabResult,
    LabTest,
    OosCase,
    OotEvaluation,
    ResultFile,
    ResultRaw,
    ResultReagent,
    ResultReview,
    TestOrder,
)
from pharmatrace.lims.result_schemas import (
    FilePublic,
    HistoryPoint,
    OosCasePublic,
    OotEvaluationPublic,
    OrderDetail,
    OrderPublic,
    RawPublic,
    ReagentUsedPublic,
    ResultEntry,
    ResultPublic,
    ResultRevision,
    RetestEntry,
    ReviewDecision,
    ReviewPublic,
    SignaturePublic,
    TestDetail,
    TestOrderCreate,
    TestPublic,
)
from pharmatrace.lims.sample_models import Sample
from pharmatrace.lims.specs_models import SpecificationItem, SpecificationVersion
from pharmatrace.lims.specs_schemas import Measurement
from pharmatrace.storage.engine import Database

ENTER = "lims.result.enter"
REVIEW = "lims.result.review"
APPROVE_ACTION = "lims.result.review"  # the signable actions (kernel/esign/policy.py)
RETURN_ACTION = "lims.result.return"
ENTRY_REFUSED_EVENT = "lims.result.entry.refused"  # an unusable instrument or reagent (TJ-7.4, TJ-7.6)
REVIEW_TYPE = "lims_result_review"
TESTABLE_KINDS = ("test", "stability")
SPENT_STATES = ("disposed", "destroyed")
DIRECT = "result"  # the raw entry of an item without a formula: the measured value itself
TREND_HISTORY = 30  # results of history the trend rules look at (the longest window of the default rules)
DECIDED = "approved"

ORDER_STATES = ("requested", "in_testing", "oos", "complete", "void")
ORDER_STATE_LABELS = {
    "requested": N_("Requested"),
    "in_testing": N_("In testing"),
    "oos": N_("OOS under investigation"),
    "complete": N_("Complete"),
    "void": N_("Void"),
}
TEST_STATES = ("pending", "awaiting_review", "returned", "approved", "oos")
TEST_STATE_LABELS = {
    "pending": N_("To be tested"),
    "awaiting_review": N_("Awaiting review"),
    "returned": N_("Returned to the analyst"),
    "approved": N_("Approved"),
    "oos": N_("OOS under investigation"),
}
SOURCE_LABELS = {
    "receipt": N_("Incoming lot"),
    "batch": N_("Production batch"),
    "stability": N_("Stability pull point"),
    "other": N_("Other"),
}
KIND_LABELS = {
    "entry": N_("Entered"),
    "correction": N_("Correction"),
    "reprocess": N_("Reprocessed"),
    "retest": N_("Retest"),
}
VERDICT_LABELS = {"pass": N_("Pass"), "fail": N_("Fail"), "review": N_("Judged by the reviewer")}
DECISION_LABELS = {"approved": N_("Approved"), "returned": N_("Returned")}


class ResultLocked(Conflict):
    """An OOS result is locked (TJ-7.7): it changes only through its OOS investigation."""

    code = "result_locked"


class SelfReview(NotPermitted):
    """The analyst may not review their own results (TJ-7.4, segregation of duties)."""

    code = "result_self_review"


# --- finding ---------------------------------------------------------------------------------------------


def get_order(session: Session, order_id: int) -> TestOrder:
    order = session.get(TestOrder, order_id)
    if order is None:
        raise NotFound(N_("No test order {id}"), id=order_id)
    return order


def order_by_code(session: Session, code: str) -> TestOrder:
    order = session.scalar(select(TestOrder).where(TestOrder.code == code.strip().upper()))
    if order is None:
        raise NotFound(N_("No test order {code}"), code=code.strip())
    return order


def get_test(session: Session, test_id: int) -> LabTest:
    test = session.get(LabTest, test_id)
    if test is None:
        raise NotFound(N_("No test {id}"), id=test_id)
    return test


def get_result(session: Session, result_id: int) -> LabResult:
    result = session.get(LabResult, result_id)
    if result is None:
        raise NotFound(N_("No test result {id}"), id=result_id)
    return result


def get_file(session: Session, file_id: int) -> ResultFile:
    found = session.get(ResultFile, file_id)
    if found is None:
        raise NotFound(N_("No instrument file {id}"), id=file_id)
    return found


def case_by_code(session: Session, code: str) -> OosCase:
    case = session.scalar(select(OosCase).where(OosCase.code == code.strip().upper()))
    if case is None:
        raise NotFound(N_("No OOS case {code}"), code=code.strip())
    return case


def item_of(session: Session, test: LabTest) -> SpecificationItem:
    item = session.get(SpecificationItem, test.spec_item_id)
    assert item is not None
    return item


def orders_of_sample(session: Session, sample_id: int) -> list[TestOrder]:
    return list(
        session.scalars(select(TestOrder).where(TestOrder.sample_id == sample_id).order_by(TestOrder.id))
    )


# --- states, derived ------------------------------------------------------------------------------------


def open_case(test: LabTest) -> OosCase | None:
    return next((c for c in test.oos_cases if c.status == "open"), None)


def locked(result: LabResult) -> bool:
    """A result with an OOS case is locked: no correction, reprocessing or return (TJ-7.7)."""
    return any(c.result_id == result.id for c in result.test.oos_cases)


def latest(test: LabTest) -> LabResult | None:
    return test.results[-1] if test.results else None


def decision_of(result: LabResult) -> ResultReview | None:
    return result.reviews[-1] if result.reviews else None


def test_state(test: LabTest) -> str:
    """``pending`` → ``awaiting_review`` → ``approved`` (or ``returned``, back to the analyst); ``oos`` while an
    OOS case of the test is open, whatever was entered since."""
    last = latest(test)
    if last is None:
        return "pending"
    if open_case(test) is not None:
        return "oos"
    decided = decision_of(last)
    if decided is None:
        return "awaiting_review"
    return "approved" if decided.decision == DECIDED else "returned"


def verdict_of(result: LabResult) -> str:
    """The result's verdict: the automatic one, or the reviewer's judgement of a descriptive result."""
    decided = decision_of(result)
    if result.outcome == "review" and decided is not None and decided.judgement is not None:
        return decided.judgement
    return result.outcome


def test_verdict(test: LabTest) -> str | None:
    state = test_state(test)
    last = latest(test)
    if state == "oos":
        return "fail"
    if state != "approved" or last is None:
        return None
    return verdict_of(last)


def order_state(order: TestOrder) -> str:
    if order.voided_at is not None:
        return "void"
    states = [test_state(t) for t in order.tests]
    if "oos" in states:
        return "oos"
    if states and all(s == "approved" for s in states):
        return "complete"
    if all(s == "pending" for s in states):
        return "requested"
    return "in_testing"


def order_verdict(order: TestOrder) -> str | None:
    """``pass`` or ``fail`` once the order is complete (``fail`` as soon as an OOS is open); else None."""
    state = order_state(order)
    if state == "oos":
        return "fail"
    if state != "complete":
        return None
    return "fail" if any(test_verdict(t) == "fail" for t in order.tests) else "pass"


# --- orders (TJ-7.4) -------------------------------------------------------------------------------------


def _spec_for(session: Session, sample: Sample, data: TestOrderCreate) -> SpecificationVersion:
    """The effective version the order is tested against: named, or the material's release specification."""
    if data.spec_code is None:
        purpose = "shelf_life" if data.source == "stability" else "release"
        found = specs.effective_specs(session, sample.material_code, purpose)
        if len(found) != 1:
            raise Conflict(
                N_("Choose the specification for {material}: {choices}"), material=sample.material_code,
                choices=", ".join(v.specification.code for v in found) or "—",
            )  # fmt: skip
        return found[0]
    version = specs.effective_version(session, data.spec_code)
    if version is None:
        raise Conflict(N_("Specification {code} has no effective version"), code=data.spec_code)
    if data.spec_version is not None and data.spec_version != version.version:
        raise Conflict(
            N_("Version {version} of {code} is not in force: test against the effective version {effective}"),
            version=data.spec_version, code=version.specification.code, effective=version.version,
        )  # fmt: skip
    if sample.material_code not in {m.material_code for m in version.materials}:
        raise Conflict(N_("Specification {code} does not apply to {material}"), code=version.specification.code,
                       material=sample.material_code)  # fmt: skip
    return version


def _analyst(session: Session, login: str) -> tuple[str, str]:
    """An active user who may enter results (holds ``lims.result.enter`` and is qualified for it)."""
    user = identity.find_user(session, login)
    if user is None or not user.active:
        raise NotFound(N_("No active user “{login}”"), login=login)
    if not identity.principal_of(user).can(ENTER):
        raise Conflict(
            N_("{name} ({login}) may not enter test results"), name=user.full_name, login=user.login
        )
    return user.login, user.full_name


def create_order(uow: UnitOfWork, principal: Principal, data: TestOrderCreate) -> TestOrder:
    """A test order for a sample against an effective specification version, one test per test item.

    The contract the stability helper calls when a pull point is pulled (``source="stability"``)."""
    principal.require(ENTER)
    session = uow.session
    sample = samples.sample_by_code(session, data.sample_code)
    if sample.kind not in TESTABLE_KINDS:
        raise Conflict(N_("The sample {code} is a retained sample: it is not tested"), code=sample.code)
    if samples.state_of(sample) in SPENT_STATES:
        raise Conflict(N_("The sample {code} has been disposed of"), code=sample.code)
    version = _spec_for(session, sample, data)
    taken = session.scalar(
        select(TestOrder.code).where(
            TestOrder.sample_id == sample.id,
            TestOrder.spec_version_id == version.id,
            TestOrder.voided_at.is_(None),
        )
    )
    if taken is not None:
        raise Conflict(N_("The sample {sample} is already ordered against {spec} v{version}: {order}"),
                       sample=sample.code, spec=version.specification.code, version=version.version,
                       order=taken)  # fmt: skip
    if not version.items:
        raise Conflict(N_("Specification {code} has no test items"), code=version.specification.code)
    analyst = _analyst(session, data.analyst) if data.analyst else None
    code = samples.next_code(session, "JY")
    uow.reason = uow.reason or f"test order {code}"
    now = clock.now()
    order = TestOrder(
        code=code, sample_id=sample.id, sample_code=sample.code, lot_id=sample.lot_id, lot_number=sample.lot_number,
        material_id=sample.material_id, material_code=sample.material_code, material_name=sample.material_name,
        spec_version_id=version.id, spec_code=version.specification.code, spec_version=version.version,
        spec_title=version.title, source=data.source, source_ref=data.source_ref, note=data.note,
        requested_at=now, requested_by=principal.login, requested_by_name=principal.full_name,
    )  # fmt: skip
    session.add(order)
    session.flush()
    for item in version.items:
        test = LabTest(order_id=order.id, spec_item_id=item.id, position=item.position, item_name=item.name)
        if analyst is not None:
            _set_analyst(test, analyst, principal.login, now)
        session.add(test)
    session.flush()
    session.refresh(order, ["tests"])
    return order


def _set_analyst(test: LabTest, analyst: tuple[str, str], by: str, at: datetime) -> None:
    test.analyst, test.analyst_name = analyst
    test.assigned_at = at
    test.assigned_by = by


def _locked_test(uow: UnitOfWork, test_id: int) -> LabTest:
    """The test, its row locked until commit (versions are numbered per test)."""
    session = uow.session
    session.execute(select(LabTest.id).where(LabTest.id == test_id).with_for_update())
    test = get_test(session, test_id)
    session.refresh(test)
    if test.order.voided_at is not None:
        raise Conflict(N_("The test order {code} is void"), code=test.order.code)
    return test


def assign(uow: UnitOfWork, principal: Principal, test_id: int, analyst_login: str) -> LabTest:
    """Assign a test (to be tested, or returned) to an analyst who may enter results: taken over, or handed on."""
    principal.require(ENTER)
    test = _locked_test(uow, test_id)
    if test_state(test) not in ("pending", "returned"):
        raise Conflict(N_("Only a test to be tested or returned can be assigned"))
    analyst = _analyst(uow.session, analyst_login)
    if test.analyst == analyst[0]:
        raise Conflict(N_("The test is assigned to {login} already"), login=analyst[0])
    uow.reason = uow.reason or f"test assigned to {analyst[0]}"
    _set_analyst(test, analyst, principal.login, clock.now())
    uow.session.flush()
    return test


def void_order(uow: UnitOfWork, principal: Principal, order_id: int, reason: str) -> TestOrder:
    """Void an order nothing was entered for (a wrong specification chosen, a sample replaced)."""
    principal.require(ENTER)
    order = get_order(uow.session, order_id)
    if order.voided_at is not None:
        raise Conflict(N_("The test order {code} is void"), code=order.code)
    if any(t.results for t in order.tests):
        raise Conflict(N_("The test order {code} has results: it cannot be voided"), code=order.code)
    uow.void(order, reason)
    return order


# --- instrument files (TJ-10.1.3.3.a) --------------------------------------------------------------------


def attach_file(uow: UnitOfWork, principal: Principal, test_id: int, data: bytes, file_name: str, fmt: str,
                *, peak: str = "") -> ResultFile:  # fmt: skip
    """Keep an instrument's export with the test, as raw data: stored under its SM3, read into values that a
    result version may then use (``file_ids``). A file that does not read as its format is refused."""
    principal.require(ENTER)
    test = _locked_test(uow, test_id)
    _check_analyst(test, principal)
    parsed = instrument_files.parse(fmt, data, sample_code=test.order.sample_code, peak=peak)
    stored = instrument_files.keep(uow.db, data, file_name)
    uow.reason = uow.reason or f"instrument file {stored.file_name} kept for test {test.id}"
    row = ResultFile(
        test_id=test.id, sm3=stored.sm3, size=stored.size, file_name=stored.file_name, media_type=stored.media_type,
        format=fmt, instrument_code=parsed.instrument, parsed=ledger.canonical_text(parsed.stored()),
        uploaded_at=clock.now(), uploaded_by=principal.login, uploaded_by_name=principal.full_name,
    )  # fmt: skip
    uow.session.add(row)
    uow.session.flush()
    return row


def parsed_of(row: ResultFile) -> dict[str, Any]:
    loaded = json.loads(row.parsed)
    assert isinstance(loaded, dict)
    return loaded


def files_of(session: Session, test_id: int) -> list[ResultFile]:
    return list(
        session.scalars(select(ResultFile).where(ResultFile.test_id == test_id).order_by(ResultFile.id))
    )


def file_intact(db: Database, row: ResultFile) -> bool:
    """Whether the kept file still matches its SM3 (re-hashed now)."""
    try:
        instrument_files.open_file(db, row.sm3)
    except instrument_files.RawFileTampered:
        return False
    return True


# --- entering results (TJ-7.3) ---------------------------------------------------------------------------


def _check_analyst(test: LabTest, principal: Principal) -> None:
    if test.analyst is not None and test.analyst != principal.login:
        raise NotPermitted(N_("Test {item} of {order} is assigned to {name} ({login})"), item=test.item_name,
                           order=test.order.code, name=test.analyst_name or "", login=test.analyst)  # fmt: skip


def _tested_at(order: TestOrder, given: datetime | None, now: datetime) -> datetime:
    moment = given or now
    if moment > now:
        raise ValidationFailed(N_("The time of the test is in the future"))
    if moment < order.requested_at:
        raise ValidationFailed(N_("The time of the test is before the order was requested"))
    return moment


@dataclass(frozen=True, slots=True)
class _Raw:
    name: str
    label: str
    value: Decimal
    unit: str
    file: ResultFile | None = None
    detail: str = ""


def _inputs(item: SpecificationItem) -> list[dict[str, str]]:
    return specs.raw_inputs_of(item)


def _file_values(
    uow: UnitOfWork, test: LabTest, file_ids: Sequence[int]
) -> list[tuple[ResultFile, dict[str, Any]]]:
    """The files named, each of this test and still matching its SM3 (re-hashed now)."""
    found = []
    for file_id in file_ids:
        row = get_file(uow.session, file_id)
        if row.test_id != test.id:
            raise Conflict(N_("The file {name} belongs to another test"), name=row.file_name)
        instrument_files.open_file(uow.db, row.sm3)
        found.append((row, parsed_of(row)))
    return found


def _raws(item: SpecificationItem, entry: ResultEntry,
          from_files: Sequence[tuple[ResultFile, dict[str, Any]]]) -> list[_Raw]:  # fmt: skip
    """The raw entries of a numeric result: typed in or read from files, in the formula's units."""
    if not item.formula:
        given: list[_Raw] = []
        if entry.value is not None:
            given.append(_Raw(DIRECT, item.name, entry.value, item.unit))
        for row, parsed in from_files:
            for value in parsed["values"]:
                given.append(
                    _Raw(DIRECT, item.name, Decimal(value["value"]), item.unit, row, value.get("detail", ""))
                )
        if len(given) != 1:
            raise ValidationFailed(
                N_("Give one value for {item}: typed in or read from one file"), item=item.name
            )
        return given
    inputs = {i["name"]: i for i in _inputs(item)}
    raws: dict[str, _Raw] = {}
    for name, value in entry.raws.items():
        spec = inputs.get(name)
        if spec is None:
            raise ValidationFailed(N_("{name} is not an input of the formula"), name=name)
        raws[name] = _Raw(name, spec.get("label", ""), value, spec.get("unit", ""))
    for row, parsed in from_files:
        for value in parsed["values"]:
            name = value["name"]
            spec = inputs.get(name)
            if spec is None:
                raise ValidationFailed(N_("The file {file} gives {name}, which is not an input of the formula"),
                                       file=row.file_name, name=name)  # fmt: skip
            if name in raws:
                raise ValidationFailed(N_("{name} is given twice"), name=name)
            wanted = spec.get("unit", "")
            number = instrument_files.convert(Decimal(value["value"]), value.get("unit", ""), wanted, name)
            detail = value.get("detail", "")
            if value.get("unit") and value["unit"] != wanted:
                detail = f"{detail} ({value['value']} {value['unit']})".strip()
            raws[name] = _Raw(name, spec.get("label", ""), number, wanted, row, detail)
    return [raws[name] for name in inputs if name in raws] + [r for n, r in raws.items() if n not in inputs]


def _instrument(
    uow: UnitOfWork, code: str | None, files: Sequence[ResultFile], at: datetime
) -> Equipment | None:
    """The result's instrument (given, else the one the measuring file names: an HPLC or pH meter before a
    balance), calibrated and usable at the time of the test (TJ-7.4); so must be every instrument a file used
    comes from (the balance of the weighings too)."""
    session = uow.session
    for named in sorted({f.instrument_code for f in files if f.instrument_code}):
        instruments.require_calibrated(session, named, at)
    if code is None:
        ranked = sorted((f for f in files if f.instrument_code), key=lambda f: f.format == "balance_csv")
        code = ranked[0].instrument_code if ranked else None
    return instruments.require_calibrated(session, code, at) if code is not None else None


def _verdict_input(item: SpecificationItem, entry: ResultEntry, raws: list[_Raw]) -> Measurement:
    if item.limit_type in NUMERIC_LIMITS:
        if not raws:
            raise ValidationFailed(N_("Give the result, or the raw values of its formula"))
        if item.formula:
            return Measurement(raws={r.name: r.value for r in raws})
        return Measurement(value=raws[0].value)
    if item.limit_type == "conforms":
        if entry.answer is None:
            raise ValidationFailed(N_("The result of this test is “conforms” or “does not conform”"))
        return Measurement(answer=entry.answer)
    if entry.text is None:
        raise ValidationFailed(N_("Describe what was observed"))
    return Measurement(text=entry.text)


def _processing(entry: ResultEntry, files: Iterable[tuple[ResultFile, dict[str, Any]]]) -> dict[str, Any]:
    """The processing method and parameters of this version: the analyst's, and each file's own (TJ-10.1.3.4.c)."""
    found: dict[str, Any] = {}
    if entry.processing:
        found["note"] = entry.processing
    for row, parsed in files:
        stated = {k: v for k, v in parsed.get("header", {}).items()
                  if k in ("Processing Method", "Processing Version", "Integration", "Method")}  # fmt: skip
        if stated:
            found[row.sm3] = stated
    return found


def content_of(result: LabResult, raws: list[list[str | None]], used: list[list[str]]) -> dict[str, Any]:
    """What a result version says, as plain data: what ``content_sm3`` hashes and a review decides on.
    ``raws``: ``[name, value, unit, source, file SM3]`` in order; ``used``: ``[code, lot, expiry]`` of reagents."""
    return {
        "test_id": result.test_id, "seq": result.seq, "kind": result.kind, "supersedes_id": result.supersedes_id,
        "retest_of_id": result.retest_of_id, "oos_case_code": result.oos_case_code, "reason": result.reason,
        "tested_at": plain_value(result.tested_at), "entered_by": result.entered_by,
        "instrument_code": result.instrument_code, "method": result.method, "method_sop": result.method_sop,
        "formula": result.formula, "processing": json.loads(result.processing), "computed": result.computed,
        "reported": result.reported, "answer": result.answer, "text": result.text_result, "unit": result.unit,
        "limit": result.limit_text, "decimals": result.decimals, "rounding": result.rounding,
        "outcome": result.outcome, "raws": raws, "reagents": sorted(used),
    }  # fmt: skip


def stored_content(session: Session, result: LabResult) -> dict[str, Any]:
    """The content of a result version as its rows hold it now."""
    sm3 = {f.id: f.sm3 for f in files_of(session, result.test_id)}
    raws: list[list[str | None]] = [
        [r.name, r.value, r.unit, r.source, sm3.get(r.file_id) if r.file_id else None] for r in result.raws
    ]
    return content_of(result, raws, [[r.code, r.lot_no, r.expiry_date.isoformat()] for r in result.reagents])


def content_hash(content: dict[str, Any]) -> str:
    return crypto.sm3(ledger.canonical(content)).hex()


def _write(uow: UnitOfWork, principal: Principal, test: LabTest, entry: ResultEntry, *, kind: str, reason: str = "",
           supersedes: LabResult | None = None, retest_of: LabResult | None = None,
           oos_case: OosCase | None = None) -> LabResult:  # fmt: skip
    """One result version: checks the instrument and reagents at the time of the test, computes, rounds once,
    judges, keeps every raw entry, and opens an OOS case for a failing result."""
    session = uow.session
    _check_analyst(test, principal)
    now = clock.now()
    tested_at = _tested_at(test.order, entry.tested_at, now)
    item = item_of(session, test)
    numeric = item.limit_type in NUMERIC_LIMITS
    if entry.file_ids and not numeric:
        raise ValidationFailed(
            N_("Instrument files give numbers: {item} is not a numeric test"), item=item.name
        )
    if (entry.raws or entry.value is not None) and not numeric:
        raise ValidationFailed(N_("{item} is not judged on a number"), item=item.name)
    if kind == "reprocess" and not numeric:
        raise Conflict(N_("Only a numeric result is reprocessed from its raw data"))
    files = _file_values(uow, test, entry.file_ids)
    raws = _raws(item, entry, files) if numeric else []
    processing = _processing(entry, files)
    if kind == "reprocess" and not processing:
        raise ValidationFailed(N_("Say which processing method and parameters this version uses"))
    try:
        instrument = _instrument(uow, entry.instrument_code, [f for f, _ in files], tested_at)
        used = [reagents.require_usable(session, code, tested_at) for code in entry.reagent_codes]
    except (instruments.InstrumentUnusable, reagents.ReagentUnusable) as refused:
        # TJ-7.4, TJ-7.6: an attempt to test with an unusable instrument or reagent is recorded on the test
        uow.refuse(
            refused, ENTRY_REFUSED_EVENT, "lims_test", test.id,
            changes={"item": [None, test.item_name], "tested_at": [None, plain_value(tested_at)],
                     "instrument": [None, entry.instrument_code], "reagents": [None, list(entry.reagent_codes)],
                     "refusals": [None, [r.code for r in refused.reasons]]},
        )  # fmt: skip
    verdict = specs.measure(item, _verdict_input(item, entry, raws))
    if test.analyst is None:
        _set_analyst(test, (principal.login, principal.full_name), principal.login, now)
    calibration = None
    if instrument is not None:
        calibration = equipment.calibration_status(instrument, tested_at).valid_until
    uow.reason = uow.reason or reason or f"result of {test.item_name} entered"
    result = LabResult(
        test_id=test.id, seq=(test.results[-1].seq + 1) if test.results else 1, kind=kind,
        supersedes_id=supersedes.id if supersedes else None, retest_of_id=retest_of.id if retest_of else None,
        oos_case_code=oos_case.code if oos_case else None, reason=reason, tested_at=tested_at, entered_at=now,
        entered_by=principal.login, entered_by_name=principal.full_name,
        instrument_id=instrument.id if instrument else None, instrument_code=instrument.code if instrument else "",
        instrument_name=instrument.name if instrument else "", calibrated_until=calibration, method=item.method,
        method_sop=item.method_sop, formula=item.formula, processing=ledger.canonical_text(processing),
        computed=_text(verdict.computed, full=True), reported=_text(verdict.reported),
        answer=entry.answer if item.limit_type == "conforms" else None,
        text_result=entry.text if item.limit_type == "text" else None, unit=item.unit,
        limit_text=verdict.limit[:500], decimals=item.decimals, rounding=item.rounding, outcome=verdict.outcome,
        verdict_reason=verdict.reason[:200], comment=entry.comment, content_sm3="",
    )  # fmt: skip
    if verdict.reported is not None:
        findings = flag_out_of_trend(session, material_code=test.order.material_code, item_name=test.item_name,
                                     value=verdict.reported)  # fmt: skip
        result.oot, result.oot_findings = _oot_values(findings)
    kept = [(raw, _text(raw.value, full=True) or "0", "file" if raw.file else "manual") for raw in raws]
    result.content_sm3 = content_hash(content_of(
        result, [[raw.name, value, raw.unit, source, raw.file.sm3 if raw.file else None] for raw, value, source in kept],
        [[r.code, r.lot_no, r.expiry_date.isoformat()] for r in used],
    ))  # fmt: skip
    session.add(result)
    session.flush()
    for position, (raw, value, source) in enumerate(kept, start=1):
        session.add(ResultRaw(
            result_id=result.id, position=position, name=raw.name, label=raw.label[:64], value=value, unit=raw.unit,
            source=source, file_id=raw.file.id if raw.file else None, detail=raw.detail[:500],
        ))  # fmt: skip
    for reagent in used:
        session.add(ResultReagent(result_id=result.id, reagent_id=reagent.id, code=reagent.code, name=reagent.name,
                                  lot_no=reagent.lot_no, expiry_date=reagent.expiry_date))  # fmt: skip
    session.flush()
    session.refresh(result, ["raws", "reagents", "reviews"])
    session.refresh(test, ["results"])
    if verdict.outcome == "fail" and oos_case is None:
        open_oos(uow, result, principal)
    return result


def _text(value: Decimal | None, *, full: bool = False) -> str | None:
    """A number as kept: the computed value with every digit it has (no exponent), the reported one as rounded."""
    if value is None:
        return None
    if full:
        return plain_number(value)
    return format(value, "f")


def flag_out_of_trend(session: Session, *, material_code: str, item_name: str,
                      value: Decimal) -> list[stats.Finding] | None:  # fmt: skip
    """The trend rules (:mod:`pharmatrace.lims.stats`, its default rules) the new value breaks against the reviewed
    history of the same test item for the same material (TJ-7.7, OOT); None when the history is too short for
    every rule, so nothing could be judged."""
    history = results_for(session, material_code=material_code, item_name=item_name, limit=TREND_HISTORY)
    found = stats.assess([float(p.value) for p in history], float(value))
    if len(found.skipped) == len(stats.DEFAULT_RULES):
        return None
    return found.findings


def _oot_values(findings: list[stats.Finding] | None) -> tuple[bool | None, str]:
    """The flag (None: nothing could be judged) and the findings as kept (canonical JSON)."""
    return None if findings is None else bool(findings), ledger.canonical_text(
        [{"rule": f.rule, "message": f.message, "params": {k: str(v) for k, v in f.params.items()}}
         for f in findings or []]
    )  # fmt: skip


def oot_of(result: LabResult) -> tuple[bool | None, str]:
    """A result's out-of-trend flag and findings now: its latest re-evaluation's, else those it was entered with."""
    if result.oot_evaluations:
        last = result.oot_evaluations[-1]
        return last.oot, last.oot_findings
    return result.oot, result.oot_findings


def awaiting_review(session: Session, *, material_code: str, item_name: str) -> list[LabResult]:
    """The numeric results of a material's test item still awaiting review: the latest version of each test, not
    yet decided (an approved result keeps the flag it was approved with)."""
    rows = session.scalars(
        select(LabResult)
        .join(LabTest, LabTest.id == LabResult.test_id)
        .join(TestOrder, TestOrder.id == LabTest.order_id)
        .where(TestOrder.material_code == material_code, TestOrder.voided_at.is_(None),
               LabTest.item_name == item_name, LabResult.reported.is_not(None))
        .order_by(LabResult.id)
    ).unique()  # fmt: skip
    return [r for r in rows if latest(r.test) is r and not r.reviews]


def _reevaluate(uow: UnitOfWork, principal: Principal, result: LabResult, reason: str,
                *, always: bool) -> OotEvaluation | None:  # fmt: skip
    """The result judged again against the reviewed history as it stands; a row when asked (``always``) or when
    the flag or findings change."""
    assert result.reported is not None
    order = result.test.order
    found = _oot_values(flag_out_of_trend(uow.session, material_code=order.material_code,
                                          item_name=result.test.item_name, value=Decimal(result.reported)))  # fmt: skip
    if not always and found == oot_of(result):
        return None
    row = OotEvaluation(result_id=result.id, oot=found[0], oot_findings=found[1], reason=reason[:500],
                        evaluated_at=clock.now(), evaluated_by=principal.login,
                        evaluated_by_name=principal.full_name)  # fmt: skip
    uow.session.add(row)
    uow.session.flush()
    uow.session.refresh(result, ["oot_evaluations"])
    return row


def reevaluate_trend(uow: UnitOfWork, principal: Principal, *, material_code: str, item_name: str,
                     reason: str) -> list[OotEvaluation]:  # fmt: skip
    """After the reviewed history of a material's test item changed (or its trend rules did), every result of it
    still awaiting review judged again (TJ-7.7): a row with ``reason`` for each whose flag or findings change.
    Called by the unit of work's own change (an approval, an OOS closure): no permission of its own."""
    found = []
    for result in awaiting_review(uow.session, material_code=material_code, item_name=item_name):
        row = _reevaluate(uow, principal, result, reason, always=False)
        if row is not None:
            found.append(row)
    return found


def trend_history_changed(uow: UnitOfWork, principal: Principal, test: LabTest, reason: str) -> None:
    """When the test's latest version became a point of the reviewed history, the results awaiting review of the
    same material and item follow it."""
    last = latest(test)
    if last is not None and last.reported is not None and test_state(test) == "approved":
        reevaluate_trend(uow, principal, material_code=test.order.material_code, item_name=test.item_name,
                         reason=reason)  # fmt: skip


def reevaluate_result(
    uow: UnitOfWork, principal: Principal, result_id: int, reason: str = ""
) -> OotEvaluation:
    """The reviewer's explicit re-evaluation of a result awaiting review against the reviewed history now (TJ-7.7);
    recorded whatever it finds. An approved or returned result, an earlier version, or one not judged on a number
    is refused."""
    principal.require(REVIEW)
    session = uow.session
    test = _locked_test(uow, get_result(session, result_id).test_id)
    result = get_result(session, result_id)
    if latest(test) is not result or result.reviews:
        raise Conflict(N_("Only a result awaiting review is re-evaluated: an approved one keeps the flag it was "
                          "approved with"))  # fmt: skip
    if result.reported is None:
        raise Conflict(N_("{item} is not judged on a number: it has no trend"), item=test.item_name)
    why = reason.strip() or "OOT re-evaluated by the reviewer"
    uow.reason = uow.reason or why
    row = _reevaluate(uow, principal, result, why, always=True)
    assert row is not None
    return row


def enter_result(uow: UnitOfWork, principal: Principal, test_id: int, entry: ResultEntry) -> LabResult:
    """The first result of a test, by its analyst (TJ-7.3)."""
    principal.require(ENTER)
    test = _locked_test(uow, test_id)
    if test.results:
        raise Conflict(
            N_("{item} has a result already: correct it, reprocess it or retest"), item=test.item_name
        )
    return _write(uow, principal, test, entry, kind="entry")


def _revisable(test: LabTest) -> LabResult:
    """The latest version, if a new version may supersede it: not approved, not locked by an OOS."""
    last = latest(test)
    if last is None:
        raise Conflict(N_("{item} has no result yet"), item=test.item_name)
    if locked(last):
        case = next(c for c in test.oos_cases if c.result_id == last.id)
        raise ResultLocked(
            N_("The result of {item} is out of specification and locked: it changes only through the OOS "
               "investigation {case}"),
            item=test.item_name, case=case.code,
        )  # fmt: skip
    decided = decision_of(last)
    if decided is not None and decided.decision == DECIDED:
        raise Conflict(
            N_("The result of {item} is approved: it is not changed any more"), item=test.item_name
        )
    return last


def correct_result(uow: UnitOfWork, principal: Principal, test_id: int, entry: ResultRevision) -> LabResult:
    """A corrected version of the latest result, with the reason (e.g. the reviewer's return)."""
    principal.require(ENTER)
    test = _locked_test(uow, test_id)
    last = _revisable(test)
    return _write(uow, principal, test, entry, kind="correction", reason=entry.reason, supersedes=last,
                  oos_case=_case_of(uow.session, last))  # fmt: skip


def reprocess_result(uow: UnitOfWork, principal: Principal, test_id: int, entry: ResultRevision) -> LabResult:
    """Reprocessing (TJ-10.1.3.4): re-integrated or recomputed raw data as a new version, with its processing
    method and parameters and the reason; the earlier versions stay as they were."""
    principal.require(ENTER)
    test = _locked_test(uow, test_id)
    last = _revisable(test)
    return _write(uow, principal, test, entry, kind="reprocess", reason=entry.reason, supersedes=last,
                  oos_case=_case_of(uow.session, last))  # fmt: skip


def _case_of(session: Session, result: LabResult) -> OosCase | None:
    """The OOS investigation a version belongs to (a retest under investigation, and its corrections)."""
    return case_by_code(session, result.oos_case_code) if result.oos_case_code else None


def retest(uow: UnitOfWork, principal: Principal, test_id: int, entry: RetestEntry) -> LabResult:
    """A retest: a new result linked to the original, which is never overwritten. While an OOS case of the
    test is open, only within that investigation (its code given); an approved result is not retested."""
    principal.require(ENTER)
    test = _locked_test(uow, test_id)
    last = latest(test)
    if last is None:
        raise Conflict(N_("{item} has no result yet"), item=test.item_name)
    case = open_case(test)
    if case is not None:
        if entry.oos_case != case.code:
            raise ResultLocked(
                N_("The result of {item} is out of specification and locked: a retest is made only within the "
                   "OOS investigation {case}"),
                item=test.item_name, case=case.code,
            )  # fmt: skip
        original = get_result(uow.session, case.result_id)
        return _write(uow, principal, test, entry, kind="retest", reason=entry.reason, retest_of=original,
                      oos_case=case)  # fmt: skip
    if entry.oos_case is not None:
        raise Conflict(N_("The OOS case {case} is not open on this test"), case=entry.oos_case)
    decided = decision_of(last)
    if decided is not None and decided.decision == DECIDED:
        raise Conflict(N_("The result of {item} is approved: it is not retested"), item=test.item_name)
    return _write(uow, principal, test, entry, kind="retest", reason=entry.reason, retest_of=last)


# --- OOS (TJ-7.7, TJ-B.2.4.3) ----------------------------------------------------------------------------


def open_oos(uow: UnitOfWork, result: LabResult, principal: Principal) -> OosCase:
    """The OOS case a failing result opens at once: phase I laboratory investigation, open."""
    session = uow.session
    test = result.test
    order = test.order
    shown = result.reported if result.reported is not None else (result.answer or result.text_result or "")
    case = OosCase(
        code=samples.next_code(session, "OOS"), result_id=result.id, test_id=test.id, order_id=order.id,
        sample_code=order.sample_code, lot_number=order.lot_number, material_name=order.material_name,
        item_name=test.item_name, limit_text=result.limit_text, result_text=f"{shown} {result.unit}".strip()[:200],
        phase="I", status="open", opened_at=clock.now(), opened_by=principal.login,
        opened_by_name=principal.full_name,
    )  # fmt: skip
    session.add(case)
    session.flush()
    session.refresh(test, ["oos_cases"])
    return case


def list_oos(session: Session, *, status: str = "") -> list[OosCase]:
    query = select(OosCase).order_by(OosCase.id.desc())
    if status:
        query = query.where(OosCase.status == status)
    return list(session.scalars(query))


# --- review (TJ-7.4) -------------------------------------------------------------------------------------


def review(uow: UnitOfWork, principal: Principal, result_id: int, body: ReviewDecision) -> ResultReview:
    """The second person's signed decision on the latest version of a test's result: approved, or returned to
    the analyst with the reason. Whoever entered a version of the test may not review it."""
    principal.require(REVIEW)
    session = uow.session
    test = _locked_test(uow, get_result(session, result_id).test_id)
    result = get_result(session, result_id)
    if latest(test) is not result:
        raise Conflict(N_("A newer version of this result exists: review that one"))
    if result.reviews:
        raise Conflict(N_("This result version has been reviewed already"))
    if principal.login in {r.entered_by for r in test.results}:
        raise SelfReview(N_("The analyst may not review their own results"))
    if body.decision == "returned" and locked(result):
        raise ResultLocked(N_("An OOS result goes to its investigation, not back to the analyst"))
    judged = body.judgement if body.decision == DECIDED and result.outcome == "review" else None
    if body.decision == DECIDED and result.outcome == "review" and judged is None:
        raise ValidationFailed(N_("Judge the descriptive result: pass or fail"))
    if content_hash(stored_content(session, result)) != result.content_sm3:
        raise Conflict(N_("The content of this result does not match its hash"))
    esign.authenticate_signer(uow.db, principal, body.password, body.login)
    uow.reason = uow.reason or (body.comment if body.decision == "returned" else "result reviewed")
    row = ResultReview(
        result_id=result.id, decision=body.decision, judgement=judged, comment=body.comment,
        content_sm3=result.content_sm3, reviewed_at=clock.now(), reviewed_by=principal.login,
        reviewed_by_name=principal.full_name,
    )  # fmt: skip
    esign.add_signed_decision(uow, principal, row,
                              action_code=APPROVE_ACTION if body.decision == DECIDED else RETURN_ACTION,
                              password=body.password, login=body.login)  # fmt: skip
    session.refresh(result, ["reviews"])
    if judged == "fail" and not locked(result):
        open_oos(uow, result, principal)
    if body.decision == DECIDED:
        trend_history_changed(uow, principal, test, f"re-evaluated after result {result.id} of {test.order.code} "
                                               "was approved and joined the reviewed history")  # fmt: skip
    return row


# --- worklists and history --------------------------------------------------------------------------------


def open_orders(session: Session, *, limit: int = 500) -> list[TestOrder]:
    query = select(TestOrder).where(TestOrder.voided_at.is_(None)).order_by(TestOrder.id.desc()).limit(limit)
    return list(session.scalars(query).unique())


def list_orders(session: Session, *, state: str = "", text: str = "", limit: int = 300) -> list[TestOrder]:
    query = select(TestOrder).order_by(TestOrder.id.desc()).limit(limit)
    found = list(session.scalars(query).unique())
    needle = text.strip().upper()
    if needle:
        found = [o for o in found if needle in o.code or needle in o.sample_code or needle in o.lot_number.upper()
                 or needle in o.material_code or needle in o.material_name.upper()]  # fmt: skip
    if state:
        found = [o for o in found if order_state(o) == state]
    return found


def worklist(session: Session, login: str) -> tuple[list[LabTest], list[LabTest]]:
    """An analyst's open tests (to be tested or returned, assigned to them), and the unassigned ones."""
    mine, free = [], []
    for order in reversed(open_orders(session)):
        for test in order.tests:
            if test_state(test) not in ("pending", "returned"):
                continue
            if test.analyst == login:
                mine.append(test)
            elif test.analyst is None:
                free.append(test)
    return mine, free


def review_queue(session: Session) -> list[LabTest]:
    """Tests whose latest result waits for the second person's review (oldest first), and OOS results not yet
    reviewed."""
    found = []
    for order in reversed(open_orders(session)):
        for test in order.tests:
            last = latest(test)
            if last is not None and not last.reviews and test_state(test) in ("awaiting_review", "oos"):
                found.append(test)
    return found


def results_for(session: Session, *, material_code: str, item_name: str, limit: int) -> list[HistoryPoint]:
    """The latest reviewed (approved) reported values of a test item for a material, oldest first, at most
    ``limit`` of them: the history the trend rules judge a new result against (contract of lims/stats.py)."""
    rows = session.scalars(
        select(LabResult)
        .join(LabTest, LabTest.id == LabResult.test_id)
        .join(TestOrder, TestOrder.id == LabTest.order_id)
        .where(
            TestOrder.material_code == material_code.strip().upper(),
            TestOrder.voided_at.is_(None),
            LabTest.item_name == item_name,
            LabResult.reported.is_not(None),
        )
    ).unique()
    points = []
    for result in rows:
        test = result.test
        if latest(test) is not result or test_state(test) != "approved" or result.reported is None:
            continue
        order = test.order
        points.append(HistoryPoint(value=Decimal(result.reported), tested_at=result.tested_at, order_code=order.code,
                                   sample_code=order.sample_code, lot_number=order.lot_number,
                                   result_id=result.id))  # fmt: skip
    points.sort(key=lambda p: (p.tested_at, p.result_id))
    return points[-limit:] if limit > 0 else []


# --- reading ----------------------------------------------------------------------------------------------


def review_public(session: Session, row: ResultReview) -> ReviewPublic:
    signatures = [
        SignaturePublic(action=s.action, meaning=s.meaning, signer_login=s.signer_login, signer_name=s.signer_name,
                        signed_at=s.signed_at, status=s.status)
        for s in esign.manifestations(session, REVIEW_TYPE, str(row.id))
    ]  # fmt: skip
    return ReviewPublic(
        id=row.id, decision=row.decision, judgement=row.judgement, comment=row.comment, content_sm3=row.content_sm3,
        reviewed_at=row.reviewed_at, reviewed_by=row.reviewed_by, reviewed_by_name=row.reviewed_by_name,
        signatures=signatures,
    )  # fmt: skip


def result_public(session: Session, result: LabResult) -> ResultPublic:
    test = result.test
    return ResultPublic(
        id=result.id, test_id=result.test_id, seq=result.seq, kind=result.kind, supersedes_id=result.supersedes_id,
        retest_of_id=result.retest_of_id, oos_case_code=result.oos_case_code, reason=result.reason,
        tested_at=result.tested_at, entered_at=result.entered_at, entered_by=result.entered_by,
        entered_by_name=result.entered_by_name, instrument_code=result.instrument_code,
        instrument_name=result.instrument_name, calibrated_until=result.calibrated_until, method=result.method,
        method_sop=result.method_sop, formula=result.formula, processing=json.loads(result.processing),
        computed=result.computed, reported=result.reported, answer=result.answer, text=result.text_result,
        unit=result.unit, limit=result.limit_text, decimals=result.decimals, rounding=result.rounding,
        outcome=verdict_of(result), verdict_reason=result.verdict_reason, oot=oot_of(result)[0],
        oot_findings=json.loads(oot_of(result)[1]), oot_at_entry=result.oot,
        oot_evaluations=[OotEvaluationPublic(id=e.id, oot=e.oot, oot_findings=json.loads(e.oot_findings),
                                             reason=e.reason, evaluated_at=e.evaluated_at,
                                             evaluated_by=e.evaluated_by, evaluated_by_name=e.evaluated_by_name)
                         for e in result.oot_evaluations],
        comment=result.comment, content_sm3=result.content_sm3,
        current=latest(test) is result, locked=locked(result),
        raws=[RawPublic(name=r.name, label=r.label, value=r.value, unit=r.unit, source=r.source, file_id=r.file_id,
                        detail=r.detail) for r in result.raws],
        reagents=[ReagentUsedPublic(code=r.code, name=r.name, lot_no=r.lot_no, expiry_date=r.expiry_date)
                  for r in result.reagents],
        reviews=[review_public(session, r) for r in result.reviews],
    )  # fmt: skip


def file_public(row: ResultFile) -> FilePublic:
    parsed = parsed_of(row)
    return FilePublic(
        id=row.id, test_id=row.test_id, sm3=row.sm3, size=row.size, file_name=row.file_name, format=row.format,
        instrument_code=row.instrument_code, values=parsed.get("values", []), header=parsed.get("header", {}),
        uploaded_at=row.uploaded_at, uploaded_by=row.uploaded_by, uploaded_by_name=row.uploaded_by_name,
    )  # fmt: skip


def oos_public(session: Session, case: OosCase) -> OosCasePublic:
    order = session.get(TestOrder, case.order_id)
    return OosCasePublic(
        id=case.id, code=case.code, result_id=case.result_id, test_id=case.test_id, order_id=case.order_id,
        order_code=order.code if order else "", sample_code=case.sample_code, lot_number=case.lot_number,
        material_name=case.material_name, item_name=case.item_name, limit=case.limit_text, result=case.result_text,
        phase=case.phase, status=case.status, opened_at=case.opened_at, opened_by=case.opened_by,
        opened_by_name=case.opened_by_name,
    )  # fmt: skip


def test_public(session: Session, test: LabTest) -> TestPublic:
    item = item_of(session, test)
    last = latest(test)
    return TestPublic(
        id=test.id, order_id=test.order_id, order_code=test.order.code, position=test.position,
        item_name=test.item_name, method=item.method, unit=item.unit, limit=specs.item_public(item).limit,
        limit_type=item.limit_type, analyst=test.analyst, analyst_name=test.analyst_name, state=test_state(test),
        verdict=test_verdict(test), latest=result_public(session, last) if last is not None else None,
    )  # fmt: skip


def test_detail(session: Session, test: LabTest) -> TestDetail:
    return TestDetail(
        **test_public(session, test).model_dump(),
        results=[result_public(session, r) for r in test.results],
        files=[file_public(f) for f in files_of(session, test.id)],
        oos_cases=[oos_public(session, c) for c in test.oos_cases],
    )


def order_public(order: TestOrder) -> OrderPublic:
    return OrderPublic(
        id=order.id, code=order.code, sample_code=order.sample_code, lot_number=order.lot_number,
        material_code=order.material_code, material_name=order.material_name, spec_code=order.spec_code,
        spec_version=order.spec_version, spec_title=order.spec_title, source=order.source,
        source_ref=order.source_ref, note=order.note, requested_at=order.requested_at,
        requested_by=order.requested_by, requested_by_name=order.requested_by_name, state=order_state(order),
        verdict=order_verdict(order), voided_at=order.voided_at, void_reason=order.void_reason,
    )  # fmt: skip


def order_detail(session: Session, order: TestOrder) -> OrderDetail:
    return OrderDetail(
        **order_public(order).model_dump(), tests=[test_public(session, t) for t in order.tests]
    )


def translated_findings(findings: Iterable[dict[str, Any]], translate: Callable[..., str]) -> list[str]:
    """OOT findings as the reader reads them (a direction word is itself a msgid)."""
    shown = []
    for finding in findings:
        params = {k: translate(v) if k in ("direction", "where") else v for k, v in finding["params"].items()}
        shown.append(translate(finding["message"], **params))
    return shown
