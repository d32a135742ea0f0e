"""Reagents, reference standards and solutions as the QC analyst keeps them (TJ-7.6): receipt with a code
per container, issue and return, opening and the use period after it, retest, invalidation, destruction
before a witness, solutions prepared from usable containers, and the usability check a test relies on.
Every refusal changes nothing."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from helpers import actor, audit_entries, count_rows
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import Conflict, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import reagents
from pharmatrace.lims.reagent_models import Reagent, ReagentLogEntry, SolutionComponent
from pharmatrace.lims.reagent_schemas import (
    ComponentIn,
    DestructionCreate,
    InvalidationCreate,
    IssueCreate,
    ReagentReceive,
    RetestCreate,
    ReturnCreate,
    SolutionPrepare,
)
from pharmatrace.storage.engine import Database

ANALYST = "wangfang"


def code_of(db: Database, name: str) -> str:
    with db.sessions() as session:
        found = session.scalars(
            select(Reagent.code).where(Reagent.name == name).order_by(Reagent.code)
        ).first()
        assert found is not None, name
        return found


def reagent(db: Database, code: str) -> Reagent:
    with db.sessions() as session:
        return reagents.find(session, code)


def state(db: Database, code: str, at: datetime | None = None) -> reagents.Condition:
    with db.sessions() as session:
        return reagents.condition_of(session, reagents.find(session, code), at)


def log(db: Database, code: str) -> list[ReagentLogEntry]:
    with db.sessions() as session:
        return reagents.log_of(session, reagents.find(session, code).id)


def in_days(days: int) -> date:
    return reagents.today() + timedelta(days=days)


def receipt(**changes: object) -> ReagentReceive:
    values: dict[str, object] = {
        "kind": "reagent", "name": "正己烷", "grade": "色谱纯", "cas_no": "110-54-3",
        "manufacturer": "国药集团化学试剂有限公司", "lot_no": "H2611-01", "quantity": Decimal("500"), "unit": "mL",
        "expiry_date": in_days(400), "storage_condition": "阴凉通风处，远离火源", "location": "易燃试剂柜 A-2",
    }  # fmt: skip
    values.update(changes)
    return ReagentReceive.model_validate(values)


def receive(db: Database, data: ReagentReceive) -> list[str]:
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        made = reagents.receive(uow, data)
        uow.commit()
        return [r.code for r in made]


def issue(
    db: Database, code: str, quantity: str, purpose: str = "样品 S-2611-001 含量测定"
) -> ReagentLogEntry:
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        entry = reagents.issue(uow, code, IssueCreate(quantity=Decimal(quantity), purpose=purpose))
        uow.commit()
        return entry


@pytest.mark.clause("TJ-7.6")
def test_each_container_of_a_receipt_gets_its_own_code_and_log(db: Database) -> None:
    codes = receive(db, receipt(containers=3))
    today = clock.to_beijing(clock.now()).strftime("%y%m%d")
    assert len(codes) == 3 and len(set(codes)) == 3
    assert all(code.startswith(f"RG-{today}-") for code in codes)
    first = reagent(db, codes[0])
    assert first.remaining == Decimal("500") and first.created_by == ANALYST and first.opened_at is None
    assert [e.kind for e in log(db, codes[0])] == ["receipt"]
    assert state(db, codes[0]).state == "in_use"


@pytest.mark.clause("TJ-7.6")
def test_an_expired_lot_is_not_received(db: Database) -> None:
    before = count_rows(db, Reagent)
    with pytest.raises(Conflict, match="expired on") as refused:
        receive(db, receipt(expiry_date=in_days(-1)))
    assert "it is not received" in str(refused.value)
    with pytest.raises(ValueError, match="retest date cannot be after the expiry"):
        receipt(retest_date=in_days(500))
    with pytest.raises(ValueError, match="needs its source"):
        receipt(kind="reference_standard")
    assert count_rows(db, Reagent) == before


@pytest.mark.clause("TJ-7.6", "TJ-B.2.4.2")
def test_issue_opens_the_container_and_the_return_brings_back_what_is_left(db: Database) -> None:
    code = receive(db, receipt(open_use_days=90))[0]
    taken = issue(db, code, "200")
    assert reagent(db, code).remaining == Decimal("300")
    opened = reagent(db, code).opened_at
    assert opened is not None and taken.performed_at == opened
    assert state(db, code).out == Decimal("200")
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        reagents.record_return(uow, code, ReturnCreate(issue_id=taken.id, quantity=Decimal("150")))
        uow.commit()
    assert reagent(db, code).remaining == Decimal("450")
    assert [e.kind for e in log(db, code)] == ["receipt", "opening", "issue", "return"]
    assert [str(e.remaining_after) for e in log(db, code)] == ["500.0000", "500.0000", "300.0000", "450.0000"]
    assert state(db, code).out == Decimal(0)


@pytest.mark.clause("TJ-7.6")
def test_a_return_is_refused_twice_or_for_more_than_was_issued(db: Database) -> None:
    code = receive(db, receipt())[0]
    taken = issue(db, code, "100")
    with UnitOfWork(db, actor(db, ANALYST)) as uow, pytest.raises(Conflict, match="More cannot come back"):
        reagents.record_return(uow, code, ReturnCreate(issue_id=taken.id, quantity=Decimal("100.5")))
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        reagents.record_return(uow, code, ReturnCreate(issue_id=taken.id, quantity=Decimal("0")))
        uow.commit()
    with UnitOfWork(db, actor(db, ANALYST)) as uow, pytest.raises(Conflict, match="returned already"):
        reagents.record_return(uow, code, ReturnCreate(issue_id=taken.id, quantity=Decimal("0")))
    assert reagent(db, code).remaining == Decimal("400")
    assert [e.kind for e in log(db, code)].count("return") == 1


@pytest.mark.clause("TJ-7.6")
def test_an_expired_reagent_cannot_be_issued_and_the_refusal_is_recorded(db: Database) -> None:
    code = code_of(db, "冰醋酸")  # the demo's bottle whose expiry has passed
    before = reagent(db, code)
    with pytest.raises(reagents.ReagentUnusable) as refused:
        issue(db, code, "5")
    error = refused.value
    assert error.http_status == 409 and error.code == "reagent_unusable"
    assert code in str(error) and "冰醋酸" in str(error) and "It expired on" in str(error)
    after = reagent(db, code)
    assert (after.remaining, after.opened_at) == (before.remaining, before.opened_at)
    assert [e.kind for e in log(db, code)] == ["receipt"]
    recorded = audit_entries(db, event=reagents.USE_REFUSED_EVENT, object_id=str(after.id))
    assert len(recorded) == 1 and recorded[0].changes["refusals"] == [None, ["expired"]]


@pytest.mark.clause("TJ-7.6")
def test_more_than_is_left_is_refused(db: Database) -> None:
    code = receive(db, receipt(quantity=Decimal("10")))[0]
    with pytest.raises(Conflict, match=r"Only 10 mL are left"):
        issue(db, code, "10.5")
    assert reagent(db, code).remaining == Decimal("10") and reagent(db, code).opened_at is None


@pytest.mark.clause("TJ-7.6")
def test_a_container_emptied_by_an_issue_is_used_up_only_once_it_has_come_back(db: Database) -> None:
    code = receive(db, receipt(quantity=Decimal("10")))[0]
    taken = issue(db, code, "10")
    during = clock.now()
    assert state(db, code).state == "in_use"  # the analyst still holds it
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        reagents.record_return(uow, code, ReturnCreate(issue_id=taken.id, quantity=Decimal("0")))
        uow.commit()
    assert state(db, code).state == "used_up"
    with db.sessions() as session:
        assert reagents.require_usable(session, code, during).code == code  # the test ran before it came back
        with pytest.raises(reagents.ReagentUnusable, match="It is used up"):
            reagents.require_usable(session, code, clock.now())
    with pytest.raises(reagents.ReagentUnusable):
        issue(db, code, "1")


@pytest.mark.clause("TJ-7.6")
def test_the_use_period_after_opening_and_the_expiry_are_judged_at_the_time_asked(db: Database) -> None:
    code = receive(db, receipt(open_use_days=30, expiry_date=in_days(400)))[0]
    issue(db, code, "10")
    opened = reagent(db, code).opened_at
    assert opened is not None
    with db.sessions() as session:
        assert reagents.require_usable(session, code, opened + timedelta(days=29)).code == code
        with pytest.raises(reagents.ReagentUnusable, match=r"opened on .* used for 30 days after opening"):
            reagents.require_usable(session, code, opened + timedelta(days=30))
        with pytest.raises(reagents.ReagentUnusable, match="It expired on"):
            reagents.require_usable(session, code, reagents.day_end(in_days(400)))
        with pytest.raises(reagents.ReagentUnusable, match="not yet received"):
            reagents.require_usable(session, code, opened - timedelta(days=1))
    assert state(db, code, opened + timedelta(days=31)).state == "expired"


@pytest.mark.clause("TJ-7.6")
def test_a_passed_retest_date_stops_use_until_the_retest_is_recorded(db: Database) -> None:
    code = receive(db, receipt(retest_date=in_days(10)))[0]
    later = reagents.day_end(in_days(10))
    with db.sessions() as session, pytest.raises(reagents.ReagentUnusable, match="retest was due on"):
        reagents.require_usable(session, code, later)
    with UnitOfWork(db, actor(db, ANALYST)) as uow, pytest.raises(ValidationFailed, match="in the future"):
        reagents.record_retest(uow, code, RetestCreate(retest_date=in_days(0), reference="QC-R-2611-07"))
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        reagents.record_retest(uow, code, RetestCreate(retest_date=in_days(200), reference="QC-R-2611-07"))
        uow.commit()
    assert reagent(db, code).retest_date == in_days(200)
    with db.sessions() as session:
        assert reagents.require_usable(session, code, later).code == code
    assert [e.kind for e in log(db, code)] == ["receipt", "retest"]


@pytest.mark.clause("TJ-7.6", "TJ-B.2.4.2")
def test_invalidation_and_destruction_before_another_person(db: Database) -> None:
    code = receive(db, receipt())[0]
    taken = issue(db, code, "50")
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        reagents.invalidate(uow, code, InvalidationCreate(reason="瓶盖破损，疑似污染"))
        uow.commit()
    assert state(db, code).state == "expired"
    assert "declared invalid" in state(db, code).reasons[0].english()
    destruction = DestructionCreate(reason="失效试剂按 SOP-QC-021 交危废处置", witness="sunli")
    with UnitOfWork(db, actor(db, ANALYST)) as uow, pytest.raises(Conflict, match="still issued"):
        reagents.destroy(uow, code, destruction)
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        reagents.record_return(uow, code, ReturnCreate(issue_id=taken.id, quantity=Decimal("50")))
        uow.commit()
    for witness, message in (("wangfang", "another person"), ("nobody", "No active user")):
        with UnitOfWork(db, actor(db, ANALYST)) as uow, pytest.raises(ValidationFailed, match=message):
            reagents.destroy(uow, code, DestructionCreate(reason="失效试剂交危废处置", witness=witness))
    assert reagent(db, code).destroyed_at is None
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        entry = reagents.destroy(uow, code, destruction)
        uow.commit()
    assert entry.quantity == Decimal("500") and entry.witness == "sunli" and entry.witness_name == "孙丽"
    gone = reagent(db, code)
    assert gone.remaining == Decimal(0) and gone.destroyed_at is not None
    assert state(db, code).state == "destroyed"
    with UnitOfWork(db, actor(db, ANALYST)) as uow, pytest.raises(Conflict, match="has been destroyed"):
        reagents.destroy(uow, code, destruction)


def prepared(components: list[ComponentIn], **changes: object) -> SolutionPrepare:
    values: dict[str, object] = {
        "kind": "solution", "name": "0.1% 磷酸溶液", "concentration": Decimal("0.1"), "concentration_unit": "%",
        "quantity": Decimal("1000"), "unit": "mL", "validity_days": 30, "storage_condition": "密封，常温",
        "location": "试液架 S-01", "method": "取磷酸 1 mL，加水至 1000 mL", "components": components,
    }  # fmt: skip
    values.update(changes)
    return SolutionPrepare.model_validate(values)


@pytest.mark.clause("TJ-7.6", "TJ-B.2.4.2")
def test_a_solution_takes_its_components_and_never_outlives_them(db: Database) -> None:
    short = receive(db, receipt(name="磷酸", grade="分析纯", cas_no="7664-38-2", expiry_date=in_days(10)))[0]
    with UnitOfWork(db, actor(db, ANALYST)) as uow:
        solution = reagents.prepare_solution(uow, prepared([ComponentIn(code=short.lower(), quantity=Decimal("1"),
                                                                        unit="mL")]))  # fmt: skip
        uow.commit()
        code = solution.code
    made = reagent(db, code)
    assert code.startswith("SL-") and made.lot_no == code
    assert made.expiry_date == in_days(10)  # its own validity (30 days) would outlive the phosphoric acid
    assert reagent(db, short).remaining == Decimal("499")
    assert [e.kind for e in log(db, short)] == ["receipt", "opening", "consumption"]
    assert log(db, short)[-1].purpose.startswith(code)
    assert [e.kind for e in log(db, code)] == ["preparation"]
    with db.sessions() as session:
        assert (
            session.scalar(select(SolutionComponent.quantity).where(SolutionComponent.solution_id == made.id))
            == 1
        )


@pytest.mark.clause("TJ-7.6")
def test_a_solution_from_an_expired_reagent_is_refused_and_nothing_is_written(db: Database) -> None:
    good = receive(db, receipt())[0]
    expired = code_of(db, "冰醋酸")
    before = (count_rows(db, Reagent), count_rows(db, SolutionComponent), reagent(db, good).remaining)
    components = [ComponentIn(code=good, quantity=Decimal("5"), unit="mL"),
                  ComponentIn(code=expired, quantity=Decimal("5"), unit="mL")]  # fmt: skip
    with UnitOfWork(db, actor(db, ANALYST)) as uow, pytest.raises(reagents.ReagentUnusable, match=expired):
        reagents.prepare_solution(uow, prepared(components))
    assert (count_rows(db, Reagent), count_rows(db, SolutionComponent), reagent(db, good).remaining) == before
    assert [e.kind for e in log(db, good)] == ["receipt"]
    with UnitOfWork(db, actor(db, ANALYST)) as uow, pytest.raises(ValidationFailed, match="kept in mL"):
        reagents.prepare_solution(uow, prepared([ComponentIn(code=good, quantity=Decimal("5"), unit="g")]))
    with pytest.raises(ValueError, match="each component container once"):
        prepared([ComponentIn(code=good, quantity=Decimal("1"), unit="mL")] * 2)


@pytest.mark.clause("TJ-7.6")
def test_the_demo_inventory(db: Database) -> None:
    with db.sessions() as session:
        rows = {r.name: c for r, c in reagents.list_reagents(session)}
        assert rows["冰醋酸"].state == "expired"
        assert rows["氢氧化钠滴定液"].state == "in_use" and rows["氢氧化钠滴定液"].verification is not None
        assert {"甲醇", "乙腈", "磷酸", "丹酚酸B对照品"} <= set(rows)
        standard = session.scalar(select(Reagent).where(Reagent.kind == "reference_standard"))
        assert standard is not None and standard.source.startswith("中国食品药品检定研究院")
        due = {r.code: r for r in reagents.reminders(session, 30)}
        assert due[standard.code].due == "retest" and due[code_of(db, "冰醋酸")].days_left < 0
        expiring = reagents.list_reagents(session, expiring_days=30)
        assert standard.code in {r.code for r, _c in expiring}
        assert code_of(db, "冰醋酸") not in {r.code for r, _c in expiring}  # expired, not "expiring"
        assert {r.name for r, _c in reagents.list_reagents(session, state="expired")} == {"冰醋酸"}
