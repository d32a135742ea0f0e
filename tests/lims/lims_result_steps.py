"""Shared steps of the result tests: the demo plant's lots sampled and ordered, results entered by the QC analyst
and reviewed by the QC reviewer, instrument files as the lab's instruments export them."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from lims_sampling_steps import MANNITOL, QUARANTINED, sample_lot, samples_of
from sqlalchemy import func, select

from helpers import LOGIN_BY_ROLE, actor, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.schemas import UserCreate
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import results
from pharmatrace.lims.reagent_models import Reagent
from pharmatrace.lims.result_models import (
    LabResult,
    OosCase,
    ResultFile,
    ResultRaw,
    ResultReagent,
    ResultReview,
    TestOrder,
)
from pharmatrace.lims.result_schemas import (
    ResultEntry,
    ResultRevision,
    RetestEntry,
    ReviewDecision,
    TestOrderCreate,
)
from pharmatrace.storage.engine import Database

ANALYST = LOGIN_BY_ROLE["qc_analyst"]  # wangfang: lims.result.enter
REVIEWER = LOGIN_BY_ROLE["qc_reviewer"]  # sunli: lims.result.review
D = Decimal
MANNITOL_SPEC = (
    "QS-EXC-MAN-001"  # 性状, 鉴别, 熔点, 干燥失重 ≤ 0.5 %, 细菌内毒素, 含量测定 98.0 ~ 102.0 % (formula)
)
DANSHEN_SPEC = "QS-HB-DS-001"  # … 水分 ≤ 13.0 %, 含量测定（丹酚酸B）≥ 3.0 % (HPLC external standard, formula)


def sampled(db: Database, supplier_lot: str = MANNITOL) -> str:
    """The test sample of a fresh sampling of the lot."""
    return samples_of(db, sample_lot(db, supplier_lot).id)["test"]


def order(db: Database, supplier_lot: str = MANNITOL, login: str = ANALYST, **fields: Any) -> dict[str, int]:
    """A test order for a fresh sample of the lot: item name → test ID (and ``"order"`` → the order ID)."""
    values: dict[str, Any] = {"sample_code": sampled(db, supplier_lot), "analyst": ANALYST}
    values.update(fields)
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        made = results.create_order(uow, who, TestOrderCreate(**values))
        uow.commit()
        return {"order": made.id, **{t.item_name: t.id for t in made.tests}}


def mannitol_order(db: Database) -> dict[str, int]:
    return order(db, MANNITOL, spec_code=MANNITOL_SPEC)


def danshen_order(db: Database) -> dict[str, int]:
    return order(db, QUARANTINED, spec_code=DANSHEN_SPEC)


def enter(
    db: Database, test_id: int, login: str = ANALYST, how: str = "enter_result", **fields: Any
) -> LabResult:
    """A result (or a new version: ``how`` = correct_result, reprocess_result, retest) entered by ``login``."""
    who = principal(db, login)
    schema = {"enter_result": ResultEntry, "correct_result": ResultRevision, "reprocess_result": ResultRevision,
              "retest": RetestEntry}[how]  # fmt: skip
    with UnitOfWork(db, who.actor) as uow:
        result = getattr(results, how)(uow, who, test_id, schema.model_validate(fields))
        uow.commit()
        _ = result.raws, result.reagents, result.reviews
        uow.session.expunge_all()
        return result  # type: ignore[no-any-return]


def review(db: Database, result_id: int, login: str = REVIEWER, who: Principal | None = None,
           **fields: Any) -> ResultReview:  # fmt: skip
    signer = who or principal(db, login)
    values: dict[str, Any] = {"decision": "approved", "password": DEMO_PASSWORD, "login": signer.login}
    values.update(fields)
    with UnitOfWork(db, signer.actor) as uow:
        row = results.review(uow, signer, result_id, ReviewDecision.model_validate(values))
        uow.commit()
        uow.session.expunge_all()
        return row


def attach(db: Database, test_id: int, data: bytes, fmt: str, name: str = "export.csv", login: str = ANALYST,
           **fields: Any) -> int:  # fmt: skip
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        row = results.attach_file(uow, who, test_id, data, name, fmt, **fields)
        uow.commit()
        return row.id


def reagent_code(db: Database, name: str) -> str:
    with db.sessions() as session:
        found = session.scalars(
            select(Reagent.code).where(Reagent.name == name).order_by(Reagent.code)
        ).first()
        assert found is not None, name
        return found


def state_of(db: Database, test_id: int) -> str:
    with db.sessions() as session:
        return results.test_state(results.get_test(session, test_id))


def versions(db: Database, test_id: int) -> list[LabResult]:
    with db.sessions() as session:
        found = list(results.get_test(session, test_id).results)
        for r in found:
            _ = r.raws, r.reagents, r.reviews
        session.expunge_all()
        return found


def counts(db: Database) -> tuple[int, ...]:
    """Orders, results, raw values, reagents used, files, reviews, OOS cases: a refusal leaves them as they were."""
    with db.sessions() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (TestOrder, LabResult, ResultRaw, ResultReagent, ResultFile, ResultReview, OosCase)
        )


def second_analyst(db: Database, login: str = "xuli", roles: tuple[str, ...] = ("qc_analyst",)) -> Principal:
    """Another QC employee, created by the administrator (business roles only)."""
    with UnitOfWork(db, actor(db, "sysadmin"), reason="a second QC analyst for the test") as uow:
        identity.create_user(uow, UserCreate(login=login, full_name="徐丽", employee_no=f"E-{login}",
                                             department="质量控制部", position="检验员", password=DEMO_PASSWORD,
                                             roles=list(roles)))  # fmt: skip
        uow.commit()
    return principal(db, login)


def also_reviewer(db: Database, login: str = ANALYST) -> Principal:
    """The analyst as if they also held the review permission (a grant the role design never makes)."""
    who = principal(db, login)
    return dataclasses.replace(who, permissions=who.permissions | {"lims.result.review"})


BALANCE_CSV = (
    b"Balance,BAL-QC-01\nModel,XPR225DR\nSerial,B949001122\n\n"
    b"ID,Net,Unit,Date,Time,Stable\n"
    b"W_r,0.01012,g,2026-11-28,09:12:40,Yes\n"
    b"W_s,0.20015,g,2026-11-28,09:15:02,Yes\n"
)
HPLC_CSV = (
    "Report,Summary\nInstrument,HPLC-01\nProcessing Method,DS-SAB-01\nProcessing Version,1\n"
    "Integration,peak width 0.10 min; threshold 50\n\n"
    "Injection,Sample Type,Sample Name,Peak Name,RT,Area\n"
    "1,Standard,丹酚酸B对照品,丹酚酸B,12.41,1523400\n"
    "2,Standard,丹酚酸B对照品,丹酚酸B,12.40,1523600\n"
    "3,Sample,供试品,丹酚酸B,12.39,1402230\n"
    "4,Sample,供试品,丹酚酸B,12.41,1402250\n"
).encode()
PH_CSV = (
    "Instrument,PH-01\nElectrode,InLab Expert Pro\n\n"
    "Sample ID,pH,Temperature,Time\nBUFFER-7,7.00,25.0,09:00\n{code},6.12,25.1,09:20\n"
)
