"""Volumetric standard solutions (滴定液, TJ-7.6, ChP 通则 8006): standardized by one analyst, re-standardized by
a second person, each round signed; only then usable. The concentration is the mean of both analysts' means,
rounded once by GB/T 8170 to four significant figures."""

from __future__ import annotations

from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import audit_entries, count_rows, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotPermitted, SegregationOfDuties
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.schemas import UserCreate
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import reagents
from pharmatrace.lims.reagent_models import Reagent, Standardization
from pharmatrace.lims.reagent_schemas import ComponentIn, IssueCreate, SolutionPrepare, StandardizationCreate
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

ANALYST, REVIEWER = "wangfang", "sunli"


def titrant(db: Database) -> str:
    """A fresh 0.1 mol/L sodium hydroxide titrant prepared from the demo's saturated solution."""
    with db.sessions() as session:
        saturated = session.scalar(select(Reagent.code).where(Reagent.name == "氢氧化钠饱和溶液"))
    assert saturated is not None
    data = SolutionPrepare(kind="volumetric_solution", name="氢氧化钠滴定液", concentration=Decimal("0.1"),
                           concentration_unit="mol/L", quantity=Decimal("500"), unit="mL", validity_days=30,
                           storage_condition="聚乙烯塑料瓶，密塞", location="滴定液架 T-03",
                           method="取澄清的氢氧化钠饱和溶液 2.8 mL，加新沸过的冷水使成 500 mL",
                           components=[ComponentIn(code=saturated, quantity=Decimal("2.8"), unit="mL")])  # fmt: skip
    with UnitOfWork(db, principal(db, ANALYST).actor) as uow:
        made = reagents.prepare_solution(uow, data)
        uow.commit()
        return made.code


def round_of(*results: str, password: str = DEMO_PASSWORD, login: str | None = None) -> StandardizationCreate:
    return StandardizationCreate(results=[Decimal(r) for r in results], method="基准邻苯二甲酸氢钾，酚酞指示液",
                                 password=password, login=login)  # fmt: skip


def standardize(db: Database, code: str, *results: str, login: str = ANALYST) -> Standardization:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        row = reagents.standardize(uow, who, code, round_of(*results, login=login))
        uow.commit()
        return row


def verify(db: Database, code: str, *results: str, login: str = REVIEWER) -> Standardization:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        row = reagents.verify_standardization(uow, who, code, round_of(*results, login=login))
        uow.commit()
        return row


@pytest.mark.clause("TJ-7.6", "TJ-7.3")
@pytest.mark.parametrize(
    ("value", "rounded"),
    [
        ("0.10025", "0.1002"),  # exactly half: to the even digit (四舍六入五成双)
        ("0.10035", "0.1004"),
        ("0.100251", "0.1003"),  # more than half
        ("0.100249", "0.1002"),
        ("0.099996", "0.1000"),  # rounding up into the next decade keeps four figures
        ("1.00250", "1.002"),
        ("0.050125", "0.05012"),
    ],
)
def test_four_significant_figures_by_gbt_8170(value: str, rounded: str) -> None:
    assert str(reagents.significant(Decimal(value))) == rounded


@pytest.mark.clause("TJ-7.6")
def test_the_relative_average_deviation_of_replicates() -> None:
    figures = reagents.round_figures([Decimal("0.1000"), Decimal("0.1002"), Decimal("0.1004")])
    assert figures.mean == Decimal("0.1002")
    assert round(figures.relative_deviation_pct, 4) == Decimal("0.1331")  # (0.0002 + 0 + 0.0002) / 3 / 0.1002
    assert not figures.within_limit
    assert reagents.between_deviation_pct(Decimal("0.1000"), Decimal("0.1001")) < Decimal("0.1")


@pytest.mark.clause("TJ-7.6", "TJ-10.2")
def test_standardized_verified_and_rounded_once(db: Database) -> None:
    code = titrant(db)
    first = standardize(db, code, "0.10024", "0.10026", "0.10025")
    assert first.accepted and first.concentration is None
    with db.sessions() as session, pytest.raises(reagents.ReagentUnusable, match="not standardized"):
        reagents.require_usable(session, code, first.performed_at)
    second = verify(db, code, "0.10025", "0.10025", "0.10025")
    # both means are 0.10025: half-even to four figures gives 0.1002, and F 1.0025 → 1.002
    assert second.accepted and second.primary_id == first.id
    assert second.concentration == Decimal("0.1002") and second.f_factor == Decimal("1.002")
    assert second.between_deviation_pct == Decimal(0)
    with db.sessions() as session:
        assert reagents.require_usable(session, code, second.performed_at).code == code
        signed = session.scalars(
            select(Signature).where(Signature.object_type == "lims_standardization").order_by(Signature.id)
        ).all()
    mine = [
        (s.object_id, s.action, s.meaning, s.signer_login)
        for s in signed
        if s.object_id in {str(first.id), str(second.id)}
    ]
    assert mine == [
        (str(first.id), "lims.standardization.perform", "performed", ANALYST),
        (str(second.id), "lims.standardization.verify", "verified", REVIEWER),
    ]
    with pytest.raises(Conflict, match="standardized and verified already"):
        standardize(db, code, "0.1002", "0.1002", "0.1002")


@pytest.mark.clause("TJ-7.6")
def test_an_unstandardized_titrant_cannot_be_issued(db: Database) -> None:
    code = titrant(db)
    with db.sessions() as session:
        before = reagents.find(session, code).remaining
    with (
        UnitOfWork(db, principal(db, ANALYST).actor) as uow,
        pytest.raises(reagents.ReagentUnusable) as refused,
    ):
        reagents.issue(uow, code, IssueCreate(quantity=Decimal("25"), purpose="含量测定（酸碱滴定）"))
    assert "is not standardized and verified by a second person" in str(refused.value)
    with db.sessions() as session:
        assert reagents.find(session, code).remaining == before
    assert audit_entries(db, event=reagents.USE_REFUSED_EVENT)[-1].changes["refusals"] == [
        None,
        ["not_standardized"],
    ]


@pytest.mark.clause("TJ-7.6", "TJ-10.2")
def test_the_analyst_who_standardized_cannot_verify(db: Database) -> None:
    with UnitOfWork(
        db, principal(db, "sysadmin").actor, reason="a QC lead holding both laboratory roles"
    ) as uow:
        user = identity.create_user(uow, UserCreate(
            login="qclead", full_name="钱强", employee_no="E3099", department="质量控制部", position="QC主管",
            password=DEMO_PASSWORD, roles=["qc_analyst", "qc_reviewer"],
        ))  # fmt: skip
        user.must_change_password = False
        uow.commit()
    code = titrant(db)
    first = standardize(db, code, "0.10024", "0.10026", "0.10025", login="qclead")
    rows, signatures = count_rows(db, Standardization), count_rows(db, Signature)
    with pytest.raises(SegregationOfDuties) as refused:
        verify(db, code, "0.10025", "0.10025", "0.10025", login="qclead")
    assert str(refused.value) == f"The analyst who standardized {code} cannot also verify it"
    assert (count_rows(db, Standardization), count_rows(db, Signature)) == (rows, signatures)
    recorded = audit_entries(db, event=reagents.STANDARDIZATION_REFUSED_EVENT)
    assert recorded[-1].changes["primary"] == [None, first.id] and recorded[-1].actor_login == "qclead"
    with pytest.raises(NotPermitted):  # the analyst holds no review permission at all
        verify(db, code, "0.10025", "0.10025", "0.10025", login=ANALYST)
    assert verify(db, code, "0.10025", "0.10025", "0.10025").accepted


@pytest.mark.clause("TJ-7.6")
def test_rounds_outside_the_limits_are_kept_but_not_accepted(db: Database) -> None:
    code = titrant(db)
    scattered = standardize(db, code, "0.1000", "0.1002", "0.1004")
    assert not scattered.accepted
    with pytest.raises(Conflict, match="no accepted standardization to verify"):
        verify(db, code, "0.1002", "0.1002", "0.1002")
    first = standardize(db, code, "0.10020", "0.10021", "0.10022")
    apart = verify(db, code, "0.10040", "0.10041", "0.10042")  # 0.2 % from the first analyst
    assert (
        not apart.accepted
        and apart.concentration is None
        and apart.between_deviation_pct == Decimal("0.1994")
    )
    with db.sessions() as session, pytest.raises(reagents.ReagentUnusable):
        reagents.require_usable(session, code, apart.performed_at)
    agreed = verify(db, code, "0.10021", "0.10022", "0.10023")
    assert agreed.accepted and agreed.primary_id == first.id and agreed.concentration == Decimal("0.1002")
    with db.sessions() as session:
        roles = [r.role for r in reagents.rounds_of(session, reagents.find(session, code).id)]
    assert roles == ["primary", "primary", "verification", "verification"]


@pytest.mark.clause("TJ-7.6", "TJ-10.2")
def test_a_wrong_password_writes_no_round(db: Database) -> None:
    code = titrant(db)
    before = count_rows(db, Standardization)
    who = principal(db, ANALYST)
    with UnitOfWork(db, who.actor) as uow, pytest.raises(AuthenticationFailed):
        reagents.standardize(
            uow, who, code, round_of("0.1002", "0.1002", "0.1002", password="wrong", login=ANALYST)
        )
    assert count_rows(db, Standardization) == before


@pytest.mark.clause("TJ-7.6", "SH-7.1.2")
def test_through_the_api_only_a_reviewer_verifies(db: Database) -> None:
    code = titrant(db)
    body = {"results": ["0.10025", "0.10024", "0.10026"], "password": DEMO_PASSWORD}
    with TestClient(create_app(db)) as client:
        analyst, reviewer = token(client, ANALYST), token(client, REVIEWER)
        done = client.post(f"/api/v1/lims/solutions/{code}/standardizations", headers=analyst,
                           json={**body, "login": ANALYST})  # fmt: skip
        assert done.status_code == 201, done.text
        assert done.json()["role"] == "primary" and done.json()["results"] == body["results"]
        refused = client.post(f"/api/v1/lims/solutions/{code}/verifications", headers=analyst, json=body)
        assert refused.status_code == 403
        too_few = client.post(f"/api/v1/lims/solutions/{code}/verifications", headers=reviewer,
                              json={"results": ["0.1002", "0.1002"], "password": DEMO_PASSWORD, "login": REVIEWER})  # fmt: skip
        assert too_few.status_code == 422
        verified = client.post(f"/api/v1/lims/solutions/{code}/verifications", headers=reviewer,
                               json={**body, "login": REVIEWER})  # fmt: skip
        assert verified.status_code == 201, verified.text
        assert verified.json()["concentration"] == "0.1002" and verified.json()["f_factor"] == "1.002"
        detail = client.get(f"/api/v1/lims/reagents/{code}", headers=reviewer).json()
    assert detail["state"] == "in_use" and detail["standardized_concentration"] == "0.1002"
