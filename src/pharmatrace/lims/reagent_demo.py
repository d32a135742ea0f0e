"""Demo plant: the QC laboratory's instruments, reagents, reference standards and solutions (TJ-7.6, TJ-7.4).

Idempotent: instruments whose code exists are left alone; the reagents are added only while there are none.
Times are relative to the moment of seeding, imported as if from the paper records:

* instruments (through the equipment register, in the room 理化室): HPLC-01, PH-01 and BAL-QC-01 calibrated
  and valid; UV-01 whose calibration has expired;
* reagents: 甲醇 (色谱纯, two bottles, one issued and returned), 乙腈 (色谱纯), 磷酸 (分析纯), 氢氧化钠 and
  邻苯二甲酸氢钾 (基准试剂) for the titrant, and 冰醋酸 whose expiry has passed;
* the reference standard 丹酚酸B对照品 from 中检院, retest due within the month;
* 氢氧化钠饱和溶液, and from it 氢氧化钠滴定液 (0.1 mol/L) standardized by 王芳 and re-standardized by 孙丽.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from pharmatrace.equipment import service as equipment
from pharmatrace.equipment.models import Equipment, Room
from pharmatrace.equipment.schemas import EquipmentCreate, LogEntryCreate, RoomCreate
from pharmatrace.kernel import clock
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import reagents
from pharmatrace.lims.instruments import LAB_WORKSHOP
from pharmatrace.lims.reagent_models import Reagent
from pharmatrace.lims.reagent_schemas import (
    ComponentIn,
    IssueCreate,
    ReagentReceive,
    ReturnCreate,
    SolutionPrepare,
    StandardizationCreate,
)
from pharmatrace.storage.engine import Database

LAB_ROOM = RoomCreate(
    code="RM-QC-PC", name="理化室", grade="D", workshop=LAB_WORKSHOP, clean_validity_hours=72
)


@dataclass(frozen=True, slots=True)
class DemoInstrument:
    data: EquipmentCreate
    qualified_days_ago: int
    calibrated_days_ago: int
    certificate: str


DEMO_INSTRUMENTS: tuple[DemoInstrument, ...] = (
    DemoInstrument(
        EquipmentCreate(code="HPLC-01", name="高效液相色谱仪", equipment_class="instrument",
                        model="1260 Infinity II", manufacturer="安捷伦科技（中国）有限公司", serial_no="DEAE604512",
                        room_code=LAB_ROOM.code, calibration_interval_days=365, qualification_interval_days=730),
        400, 100, "JD-2026-0733",
    ),
    DemoInstrument(
        EquipmentCreate(code="PH-01", name="pH计", equipment_class="instrument", model="SevenCompact S220",
                        manufacturer="梅特勒-托利多", serial_no="B838112233", room_code=LAB_ROOM.code,
                        calibration_interval_days=365),
        300, 60, "JD-2026-1021",
    ),
    DemoInstrument(
        EquipmentCreate(code="BAL-QC-01", name="电子分析天平 220 g", equipment_class="balance", model="XPR225DR",
                        manufacturer="梅特勒-托利多", serial_no="B949001122", room_code=LAB_ROOM.code,
                        calibration_interval_days=365, capacity=Decimal("220"), readability=Decimal("0.00001"),
                        min_weight=Decimal("0.01"), weight_unit="g"),
        300, 30, "JD-2026-1190",
    ),
    DemoInstrument(
        EquipmentCreate(code="UV-01", name="紫外-可见分光光度计", equipment_class="instrument", model="UV-2600i",
                        manufacturer="岛津企业管理（中国）有限公司", serial_no="A116549870", room_code=LAB_ROOM.code,
                        calibration_interval_days=365),
        800, 400, "JD-2025-0918",  # calibration expired since
    ),
)  # fmt: skip


def seed_instruments(uow: UnitOfWork) -> int:
    """The QC laboratory room and its instruments, with their qualification and calibration history."""
    now = clock.now()
    added = 0
    if uow.session.scalar(select(Room.id).where(Room.code == LAB_ROOM.code)) is None:
        room = equipment.create_room(uow, LAB_ROOM)
        equipment.record_room_entry(uow, room.id, LogEntryCreate(kind="cleaning", description="按 SOP-QC-010 清洁"),
                                    performed_at=now - timedelta(hours=4))  # fmt: skip
    codes = set(uow.session.scalars(select(Equipment.code)))
    for demo in DEMO_INSTRUMENTS:
        if demo.data.code in codes:
            continue
        item = equipment.create_equipment(uow, demo.data)
        equipment.record_equipment_entry(
            uow, item.id, LogEntryCreate(kind="qualification", description="仪器确认（IQ/OQ/PQ）完成", result="pass",
                                         reference=f"VR-{demo.data.code}"),
            performed_at=now - timedelta(days=demo.qualified_days_ago),
        )  # fmt: skip
        equipment.change_lifecycle(uow, item.id, "in_service")
        equipment.set_operating_status(uow, item.id, "standby")
        equipment.record_equipment_entry(
            uow, item.id, LogEntryCreate(kind="calibration", description=f"计量检定合格，证书 {demo.certificate}",
                                         result="pass", reference=demo.certificate),
            performed_at=now - timedelta(days=demo.calibrated_days_ago),
        )  # fmt: skip
        added += 1
    return added


@dataclass(frozen=True, slots=True)
class DemoReagent:
    data: ReagentReceive
    days_ago: int
    issues: tuple[tuple[int, Decimal, str, Decimal | None], ...] = field(
        default=()
    )  # days ago, qty, for, back


def _demo_reagents(now: datetime) -> tuple[DemoReagent, ...]:
    def day(offset: int) -> date:
        return reagents.beijing_day(now + timedelta(days=offset))

    return (
        DemoReagent(ReagentReceive(
            kind="reagent", name="甲醇", grade="色谱纯", cas_no="67-56-1", manufacturer="赛默飞世尔科技（中国）有限公司",
            lot_no="M2609-4417", quantity=Decimal("4000"), unit="mL", containers=2, expiry_date=day(1050),
            storage_condition="阴凉通风处，远离火源，密封", location="易燃试剂柜 A-1", open_use_days=180,
        ), 40, ((10, Decimal("500"), "HPLC 流动相配制（丹参酮ⅡA 含量测定）", Decimal("80")),)),
        DemoReagent(ReagentReceive(
            kind="reagent", name="乙腈", grade="色谱纯", cas_no="75-05-8", manufacturer="默克化工技术（上海）有限公司",
            lot_no="I1204330", quantity=Decimal("4000"), unit="mL", expiry_date=day(670),
            storage_condition="阴凉通风处，远离火源，密封", location="易燃试剂柜 A-1", open_use_days=180,
        ), 60),
        DemoReagent(ReagentReceive(
            kind="reagent", name="磷酸", grade="分析纯", cas_no="7664-38-2", manufacturer="国药集团化学试剂有限公司",
            lot_no="20260512", quantity=Decimal("500"), unit="mL", expiry_date=day(995),
            storage_condition="密封，常温", location="酸碱试剂柜 B-2", open_use_days=365,
        ), 100, ((20, Decimal("2"), "0.1% 磷酸溶液（流动相）", Decimal("0")),)),
        DemoReagent(ReagentReceive(
            kind="reagent", name="氢氧化钠", grade="分析纯", cas_no="1310-73-2", manufacturer="国药集团化学试剂有限公司",
            lot_no="20260301", quantity=Decimal("500"), unit="g", expiry_date=day(995),
            storage_condition="密封，干燥处", location="酸碱试剂柜 B-1",
        ), 100),
        DemoReagent(ReagentReceive(
            kind="reagent", name="邻苯二甲酸氢钾", grade="基准试剂", cas_no="877-24-7", manufacturer="国药集团化学试剂有限公司",
            lot_no="20251120", quantity=Decimal("100"), unit="g", expiry_date=day(995),
            storage_condition="密封，干燥器内保存", location="基准试剂柜 C-1",
            use_conditions="用前于 105 °C 干燥至恒重",
        ), 100),
        DemoReagent(ReagentReceive(
            kind="reference_standard", name="丹酚酸B对照品", grade="含量测定用", manufacturer="中国食品药品检定研究院",
            lot_no="111562-202007", quantity=Decimal("20"), unit="mg", expiry_date=day(500), retest_date=day(20),
            storage_condition="-20 °C 冷冻，避光，密封", location="对照品冰箱 RF-02", source="中国食品药品检定研究院（中检院）",
            content_pct=Decimal("96.2"), content_basis="按无水物计", use_conditions="临用前取出，放至室温后开启；用前无需干燥",
        ), 200),
        DemoReagent(ReagentReceive(
            kind="reagent", name="冰醋酸", grade="分析纯", cas_no="64-19-7", manufacturer="国药集团化学试剂有限公司",
            lot_no="20240215", quantity=Decimal("500"), unit="mL", expiry_date=day(-40),
            storage_condition="阴凉通风处，远离火源", location="酸碱试剂柜 B-2",
        ), 800),  # expired since
    )  # fmt: skip


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _receive(db: Database, analyst: Principal, now: datetime) -> dict[str, list[str]]:
    codes: dict[str, list[str]] = {}
    for demo in _demo_reagents(now):
        received_at = now - timedelta(days=demo.days_ago)
        with UnitOfWork(db, analyst.actor, reason="demo plant seed: reagents received") as uow:
            made = reagents.receive(uow, demo.data, at=received_at)
            uow.commit()
            codes[demo.data.name] = [r.code for r in made]
        for days_ago, quantity, purpose, back in demo.issues:
            with UnitOfWork(db, analyst.actor) as uow:
                entry = reagents.issue(uow, codes[demo.data.name][0], IssueCreate(quantity=quantity, purpose=purpose),
                                       at=now - timedelta(days=days_ago))  # fmt: skip
                uow.commit()
                issue_id = entry.id
            if back is not None:
                with UnitOfWork(db, analyst.actor) as uow:
                    reagents.record_return(uow, codes[demo.data.name][0], ReturnCreate(issue_id=issue_id, quantity=back),
                                           at=now - timedelta(days=days_ago, hours=-3))  # fmt: skip
                    uow.commit()
    return codes


def _titrant(db: Database, analyst: Principal, reviewer: Principal, password: str, codes: dict[str, list[str]],
             now: datetime) -> int:  # fmt: skip
    with UnitOfWork(db, analyst.actor) as uow:
        saturated = reagents.prepare_solution(uow, SolutionPrepare(
            kind="solution", name="氢氧化钠饱和溶液", concentration=Decimal("50"), concentration_unit="%（g/g）",
            quantity=Decimal("100"), unit="mL", validity_days=180, storage_condition="聚乙烯塑料瓶，密塞",
            location="滴定液架 T-03", method="取氢氧化钠适量，加水振摇使成饱和溶液，冷却后置聚乙烯塑料瓶中，静置数日，澄清后备用（ChP 通则 8006）",
            components=[ComponentIn(code=codes["氢氧化钠"][0], quantity=Decimal("120"), unit="g")],
        ), at=now - timedelta(days=5))  # fmt: skip
        uow.commit()
        saturated_code = saturated.code
    with UnitOfWork(db, analyst.actor) as uow:
        titrant = reagents.prepare_solution(uow, SolutionPrepare(
            kind="volumetric_solution", name="氢氧化钠滴定液", concentration=Decimal("0.1"), concentration_unit="mol/L",
            quantity=Decimal("1000"), unit="mL", validity_days=30, storage_condition="聚乙烯塑料瓶，密塞，防止吸收二氧化碳",
            location="滴定液架 T-03", method="取澄清的氢氧化钠饱和溶液 5.6 mL，加新沸过的冷水使成 1000 mL，摇匀（ChP 通则 8006）",
            components=[ComponentIn(code=saturated_code, quantity=Decimal("5.6"), unit="mL")],
        ), at=now - timedelta(days=1))  # fmt: skip
        uow.commit()
        titrant_code = titrant.code
    standard = codes["邻苯二甲酸氢钾"][0]
    method = "基准邻苯二甲酸氢钾约 0.6 g，酚酞指示液，用本液滴定至粉红色（ChP 通则 8006）"
    with UnitOfWork(db, analyst.actor) as uow:
        reagents.standardize(uow, analyst, titrant_code, StandardizationCreate(
            results=[Decimal("0.10025"), Decimal("0.10018"), Decimal("0.10021")], method=method,
            standard_code=standard, password=password, login=analyst.login,
        ))  # fmt: skip
        uow.commit()
    with UnitOfWork(db, reviewer.actor) as uow:
        reagents.verify_standardization(uow, reviewer, titrant_code, StandardizationCreate(
            results=[Decimal("0.10030"), Decimal("0.10024"), Decimal("0.10027")], method=method,
            standard_code=standard, password=password, login=reviewer.login,
        ))  # fmt: skip
        uow.commit()
    return 2


def seed_reagents(db: Database, password: str) -> int:
    """Add what is missing; idempotent. Returns how many records were added."""
    with UnitOfWork(
        db, Actor.system("demo-seed"), reason="demo plant seed: QC laboratory instruments"
    ) as uow:
        added = seed_instruments(uow)
        uow.commit()
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(Reagent)):
            return added
    now = clock.now()
    analyst, reviewer = _principal(db, "wangfang"), _principal(db, "sunli")
    codes = _receive(db, analyst, now)
    added += sum(len(c) for c in codes.values())
    added += _titrant(db, analyst, reviewer, password, codes, now)
    return added
