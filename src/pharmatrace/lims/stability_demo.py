"""Demo plant: the stability chambers and a long-term stability study of the product (SH-6.2.3).

* Chambers, through the equipment register (by 吴昊, ``wuhao``): STB-CH-01 (long-term, 25 °C/60 % RH) and
  STB-CH-02 (accelerated, 40 °C/75 % RH), qualified (temperature and humidity mapping) and their sensors
  calibrated, in service.
* The study: 孙丽 (``sunli``) writes the long-term protocol of 注射用丹红冻干粉 (FG-DH-0200) on its batches from
  the MES, in STB-CH-01, pull points 0, 3, 6, 9, 12, 18, 24 and 36 months (± 7 days), against the shelf-life
  specification QS-FG-DH-002 (含量测定, 水分 and pH值 trended); 赵敏 (``zhaomin``) approves it with her signature;
  王芳 (``wangfang``) places 100 vials of each batch in the chamber and pulls T0.

The product's batches are MES batch orders; a batch handed to the warehouse as a lot (``mes.handover``) is
sampled for stability through the samples service first; a batch without a lot gets the study's own sample code
and its T0 pull no test order (the study's page says so). Everything goes
through the services. Idempotent: chambers whose code exists and a study that exists are left alone.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from pharmatrace.equipment import service as equipment
from pharmatrace.equipment.models import Equipment
from pharmatrace.equipment.schemas import EquipmentCreate, LogEntryCreate
from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import stability
from pharmatrace.lims.stability_models import StabilityStudy
from pharmatrace.lims.stability_schemas import PlacementCreate, PullCreate, StudyCreate
from pharmatrace.storage.engine import Database

PRODUCT = "FG-DH-0200"
SHELF_LIFE_SPEC = "QS-FG-DH-002"
AUTHOR, APPROVER, ANALYST, ENGINEER = "sunli", "zhaomin", "wangfang", "wuhao"
LONG_TERM = "25 °C ± 2 °C / 60 % RH ± 5 % RH"
CHAMBERS = (
    EquipmentCreate(code="STB-CH-01", name="药品稳定性试验箱（长期 25 °C/60 % RH）", equipment_class="other",
                    model="SHH-500GD-2", manufacturer="重庆永生实验仪器厂", serial_no="YS2024-0517",
                    location="QC 稳定性考察室", calibration_interval_days=365, qualification_interval_days=365),
    EquipmentCreate(code="STB-CH-02", name="药品稳定性试验箱（加速 40 °C/75 % RH）", equipment_class="other",
                    model="SHH-250SD", manufacturer="重庆永生实验仪器厂", serial_no="YS2024-0518",
                    location="QC 稳定性考察室", calibration_interval_days=365, qualification_interval_days=365),
)  # fmt: skip
ATTRIBUTES = ("含量测定（丹参素，以标示量计）", "水分", "pH值")


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def seed_chambers(db: Database) -> int:
    """The stability chambers in the equipment register: qualified, calibrated, in service."""
    engineer = _principal(db, ENGINEER)
    added = 0
    now = clock.now()
    with UnitOfWork(db, engineer.actor, reason="demo plant seed: stability chambers") as uow:
        codes = set(uow.session.scalars(select(Equipment.code)))
        for data in CHAMBERS:
            if data.code in codes:
                continue
            item = equipment.create_equipment(uow, data)
            equipment.record_equipment_entry(uow, item.id, LogEntryCreate(
                kind="qualification", description="温湿度分布验证（空载、满载）合格", result="pass",
                reference=f"VR-{data.code}",
            ), performed_at=now - timedelta(days=120))  # fmt: skip
            equipment.change_lifecycle(uow, item.id, "in_service")
            equipment.set_operating_status(uow, item.id, "running")
            equipment.record_equipment_entry(uow, item.id, LogEntryCreate(
                kind="calibration", description="温湿度传感器校准合格", result="pass", reference=f"JZ-{data.code}",
            ), performed_at=now - timedelta(days=90))  # fmt: skip
            added += 1
        uow.commit()
    return added


def _batches(db: Database) -> list[str]:
    """The product's batch orders in the MES, completed ones first (not cancelled)."""
    from pharmatrace.mes.execution_models import BatchOrder

    with db.sessions() as session:
        orders = session.scalars(
            select(BatchOrder).where(BatchOrder.product_code == PRODUCT, BatchOrder.status != "cancelled")
        )
        found = sorted(orders.unique(), key=lambda o: (o.status not in ("completed", "reviewed"), o.id))
        return [o.batch_no for o in found[:3]]


def _stability_sample(db: Database, analyst: Principal, batch_no: str) -> str | None:
    """A batch handed to the warehouse as a lot (``mes.handover``) is sampled for stability through the samples
    service (100 vials, received); a batch without a lot gets the study's own code (None)."""
    from pharmatrace.lims import samples
    from pharmatrace.lims.sample_schemas import SampleReceive, SamplingCreate
    from pharmatrace.wms import production

    with db.sessions() as session:
        if production.lot_of_batch(session, batch_no) is None:
            return None
    with UnitOfWork(db, analyst.actor, reason=f"stability samples of batch {batch_no}") as uow:
        record = samples.record_sampling(uow, analyst, SamplingCreate(
            lot=batch_no, purpose="stability", quantity_per_container=Decimal(100),
            retained_per_container=Decimal(0), place="成品库（取样车）",
        ))  # fmt: skip
        sample = samples.samples_of_record(uow.session, record.id)[0]
        samples.receive(
            uow, analyst, sample.code, SampleReceive(quantity=sample.quantity, condition="包装完好")
        )
        uow.commit()
        return sample.code


def seed_stability(db: Database, password: str) -> int:
    """Add what is missing; idempotent. Returns how many records were added."""
    added = seed_chambers(db)
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(StabilityStudy)):
            return added
    batches = _batches(db)
    if not batches:
        return added  # no batch of the product yet: nothing to put on stability
    author, approver, analyst = (_principal(db, login) for login in (AUTHOR, APPROVER, ANALYST))
    with UnitOfWork(db, author.actor, reason="demo plant seed: stability protocol") as uow:
        study = stability.create_study(uow, author, StudyCreate(
            title="注射用丹红冻干粉长期稳定性考察", material_code=PRODUCT, study_type="long_term",
            condition=LONG_TERM, chamber_code="STB-CH-01", spec_code=SHELF_LIFE_SPEC,
            attributes=list(ATTRIBUTES), pull_months=[0, 3, 6, 9, 12, 18, 24, 36], window_days=7,
            start_date=stability.today(), pull_quantity=Decimal(10), batches=batches,
        ))  # fmt: skip
        code = study.code
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        stability.approve(
            uow, approver, code, password=password, login=APPROVER, comment="方案符合要求，同意执行"
        )
        uow.commit()
    for batch in batches:
        sample_code = _stability_sample(db, analyst, batch)
        with UnitOfWork(db, analyst.actor) as uow:
            stability.place(uow, analyst, code, PlacementCreate(
                batch_no=batch, sample_code=sample_code, quantity=Decimal(100), position="第 2 层 A 盘",
                note="市售包装，西林瓶直立放置",
            ))  # fmt: skip
            uow.commit()
    with UnitOfWork(db, analyst.actor) as uow:
        stability.pull(uow, analyst, code, PullCreate(months=0, note="T0 取样"))
        uow.commit()
    return added + 2 + len(batches) * 2
