"""Demo plant: the completed batch's finished-product lot tested and certified (TJ-7.4, TJ-7.1, TJ-9.1, SH-6.2.5).

The completed demo batch (:mod:`pharmatrace.mes.history_demo`) handed its finished product to the warehouse at
completion (:mod:`pharmatrace.mes.handover`): a lot numbered as the batch, in quarantine. QC analyst 王芳
(``wangfang``) samples it under the finished-product sampling plan SP-FG (a fixed count of vials from the lot's
one pallet, test and retained samples), orders its test sample against the product's release specification
QS-FG-DH-001, and enters every item; QC reviewer 孙丽 (``sunli``) reviews each result with her signature, 王芳
issues the certificate of analysis (检验报告书) and 孙丽 signs it. The batch is then released by the qualified
person (:mod:`pharmatrace.qms.release_demo`).

It runs with the LIMS demo at the seed's real time (the specifications, instruments and reagents it needs are
seeded then, after the history). Everything goes through the services; idempotent (nothing is added once the
lot has a certificate). A database whose history predates the hand-over gets its lot handed over here first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import certificates, results, samples
from pharmatrace.lims.certificate_schemas import CertificateIssue, CertificateSign
from pharmatrace.lims.result_schemas import ResultEntry, ReviewDecision, TestOrderCreate
from pharmatrace.lims.sample_models import SamplingPlan
from pharmatrace.lims.sample_schemas import PlanCreate, SampleIssue, SampleReceive, SamplingCreate
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.wms import production

ANALYST, REVIEWER = "wangfang", "sunli"
PRODUCT = "FG-DH-0200"
SPEC = "QS-FG-DH-001"
PLAN = PlanCreate(
    code="SP-FG", name="成品取样（每批固定取样）", material_kind="finished_good", rule="fixed", fixed_count=1,
    quantity_per_container=Decimal(30), retained_per_container=Decimal(20), tool="洁净取样盘，按批随机抽取整支",
)  # fmt: skip

# item → the result as entered (QS-FG-DH-001 v1, every item within its limits)
PRODUCT_RESULTS: dict[str, dict[str, Any]] = {
    "性状": {"text": "本品为红棕色疏松块状物"},
    "鉴别": {"answer": "conforms"},
    "pH值": {"value": "6.1", "instrument_code": "PH-01"},
    "水分": {"value": "1.8"},
    "装量差异": {"answer": "conforms"},
    "可见异物": {"answer": "conforms"},
    "无菌": {"answer": "conforms"},
    "细菌内毒素": {"value": "0.12"},
    "含量测定（丹参素，以标示量计）": {
        "raws": {"A_s": "10125", "A_r": "10250", "C_r": "0.2000", "V": "1000", "L": "200"},
        "instrument_code": "HPLC-01",
    },
}


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _batch(db: Database) -> str | None:
    """The completed (or reviewed) demo batch of the product, the first one."""
    with db.sessions() as session:
        return session.scalar(
            select(BatchOrder.batch_no)
            .where(BatchOrder.product_code == PRODUCT, BatchOrder.status.in_(("completed", "reviewed")))
            .order_by(BatchOrder.id)
            .limit(1)
        )


def _handed_over(db: Database, batch_no: str) -> str | None:
    """The batch's lot number, handing it over first when the history predates the hand-over."""
    from pharmatrace.kernel.context import Actor
    from pharmatrace.mes import execution, handover

    with db.sessions() as session:
        if production.lot_of_batch(session, batch_no) is not None:
            return batch_no
    with UnitOfWork(
        db, Actor.system("demo-seed"), reason=f"batch {batch_no}: finished product handed over"
    ) as uow:
        lot = handover.hand_over(uow, execution.get_order(uow.session, batch_no))
        uow.commit()
        return lot.lot_number if lot is not None else None


def seed_certificate(db: Database, password: str) -> int:
    """Sample, test, review and certify the completed batch's lot; idempotent. Returns how many records were
    added."""
    batch_no = _batch(db)
    if batch_no is None:
        return 0
    lot_number = _handed_over(db, batch_no)
    if lot_number is None:
        return 0
    with db.sessions() as session:
        lot = production.lot_of_batch(session, lot_number)
        assert lot is not None
        if certificates.certificates_of_lot(session, lot.id) or lot.status not in (
            "quarantine",
            "under_test",
        ):
            return 0
        has_plan = session.scalar(select(SamplingPlan.id).where(SamplingPlan.code == PLAN.code)) is not None
    analyst, reviewer = _principal(db, ANALYST), _principal(db, REVIEWER)
    added = 0
    if not has_plan:
        with UnitOfWork(
            db, analyst.actor, reason="demo plant seed: the finished-product sampling plan"
        ) as uow:
            samples.create_plan(uow, analyst, PLAN)
            uow.commit()
            added += 1
    with UnitOfWork(db, analyst.actor, reason=f"release test of batch {batch_no}") as uow:
        record = samples.record_sampling(uow, analyst, SamplingCreate(
            lot=lot_number, purpose="release_test", place="成品库待验区（取样车）", conditions="20 °C，RH 45 %",
            remarks="随机抽取整支，检验样品与留样分别封装",
        ))  # fmt: skip
        sample = next(s for s in samples.samples_of_record(uow.session, record.id) if s.kind == "test")
        sample_code, quantity = sample.code, sample.quantity
        uow.commit()
    with UnitOfWork(db, analyst.actor) as uow:
        samples.receive(
            uow, analyst, sample_code, SampleReceive(quantity=quantity, condition="封口完好，标签清晰")
        )
        order = results.create_order(uow, analyst, TestOrderCreate(
            sample_code=sample_code, spec_code=SPEC, source="batch", source_ref=batch_no, analyst=ANALYST,
            note="成品放行检验",
        ))  # fmt: skip
        samples.issue(uow, analyst, sample_code, SampleIssue(quantity=quantity, note=f"检验 {order.code}"))
        tests = {t.item_name: t.id for t in order.tests}
        uow.commit()
    added += 2
    for item, given in PRODUCT_RESULTS.items():
        with UnitOfWork(db, analyst.actor) as uow:
            result_id = results.enter_result(uow, analyst, tests[item], ResultEntry.model_validate(given)).id
            uow.commit()
        with UnitOfWork(db, reviewer.actor) as uow:
            results.review(uow, reviewer, result_id, ReviewDecision(
                decision="approved", judgement="pass" if item == "性状" else None, comment="复核无误",
                password=password, login=REVIEWER,
            ))  # fmt: skip
            uow.commit()
        added += 2
    with UnitOfWork(db, analyst.actor) as uow:
        certificate_id = certificates.issue(uow, analyst, CertificateIssue(lot=lot_number, spec_code=SPEC)).id
        uow.commit()
    with UnitOfWork(db, reviewer.actor) as uow:
        certificates.sign(uow, reviewer, certificate_id, CertificateSign(
            comment="检验结果符合 QS-FG-DH-001 规定", password=password, login=REVIEWER,
        ))  # fmt: skip
        uow.commit()
    return added + 2
