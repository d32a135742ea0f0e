"""The demo plant's lyophilized TCM-injection line: rooms and equipment with a realistic mix of statuses.

Called by :func:`pharmatrace.demo.seed.seed`; idempotent (a code already present is left alone). The
history (qualification, cleaning, calibration…) is imported as if from the paper logbooks, with the times
the work was done, relative to the moment of seeding:

* clean and valid: most rooms and equipment;
* cleaning (and sterilisation) expired: the compounding tank TK-01 and the outer-packaging room;
* calibration expired: the balance BAL-02;
* under maintenance: the vial washer VW-01;
* in use: the capping room.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from pharmatrace.equipment import service
from pharmatrace.equipment.models import Equipment, Room
from pharmatrace.equipment.schemas import EquipmentCreate, LogEntryCreate, LogKind, LogResult, RoomCreate
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork

WORKSHOP = "冻干粉针车间"

DEMO_ROOMS: tuple[RoomCreate, ...] = (
    RoomCreate(code="RM-WEIGH", name="称量间", grade="C", workshop=WORKSHOP, clean_validity_hours=72),
    RoomCreate(code="RM-PREP", name="配液间", grade="C", workshop=WORKSHOP, clean_validity_hours=72),
    RoomCreate(code="RM-FILL", name="灌装间", grade="B", workshop=WORKSHOP, clean_validity_hours=48),
    RoomCreate(code="RM-FILL-A", name="灌装加塞A级区", grade="A", workshop=WORKSHOP, clean_validity_hours=24),
    RoomCreate(code="RM-LYO", name="冻干间", grade="B", workshop=WORKSHOP, clean_validity_hours=48),
    RoomCreate(code="RM-CAP", name="轧盖间", grade="C", workshop=WORKSHOP, clean_validity_hours=72),
    RoomCreate(code="RM-PACK", name="外包间", grade="D", workshop=WORKSHOP, clean_validity_hours=72),
)


@dataclass(frozen=True, slots=True)
class Event:
    """One imported logbook entry, ``hours_ago`` before seeding."""

    hours_ago: float
    kind: LogKind
    description: str
    result: LogResult | None = None
    reference: str = ""
    batch_no: str = ""


# Rooms: cleaned a few hours ago unless said otherwise.
ROOM_HISTORY: dict[str, tuple[Event, ...]] = {
    "RM-WEIGH": (
        Event(5, "cleaning", "按 SOP-CL-101 清场清洁，消毒剂轮换（75% 乙醇）", reference="SOP-CL-101"),
    ),
    "RM-PREP": (Event(6, "cleaning", "按 SOP-CL-102 清洁消毒", reference="SOP-CL-102"),),
    "RM-FILL": (Event(4, "cleaning", "按 SOP-CL-103 清洁消毒，过氧化氢熏蒸后", reference="SOP-CL-103"),),
    "RM-FILL-A": (Event(3, "cleaning", "A级区表面清洁消毒，沉降菌取样", reference="SOP-CL-104"),),
    "RM-LYO": (Event(6, "cleaning", "按 SOP-CL-105 清洁消毒", reference="SOP-CL-105"),),
    "RM-CAP": (
        Event(30, "cleaning", "按 SOP-CL-106 清洁", reference="SOP-CL-106"),
        Event(3, "use", "注射用丹红冻干粉 轧盖", batch_no="DH20261101"),
    ),
    "RM-PACK": (Event(120, "cleaning", "按 SOP-CL-107 清洁", reference="SOP-CL-107"),),  # expired since
}


@dataclass(frozen=True, slots=True)
class DemoEquipment:
    data: EquipmentCreate
    history: tuple[Event, ...]
    in_service: bool = True
    maintenance: bool = False


def _qualified(days_ago: int) -> Event:
    return Event(days_ago * 24, "qualification", "IQ/OQ/PQ 完成，验证报告已批准", "pass", "VR-2026-001")


DEMO_EQUIPMENT: tuple[DemoEquipment, ...] = (
    DemoEquipment(
        EquipmentCreate(
            code="FD-01",
            name="冻干机",
            equipment_class="freeze_dryer",
            model="LYO-20",
            manufacturer="上海东富龙科技股份有限公司",
            serial_no="LYO20-2023-0417",
            room_code="RM-LYO",
            cleaning_validity_hours=72,
            sterilisation_validity_hours=72,
            qualification_interval_days=365,
        ),
        (
            _qualified(120),
            Event(8, "cleaning", "CIP 在线清洗", reference="SOP-EQ-201"),
            Event(6, "sterilisation", "SIP 在线灭菌 121 °C 30 min", reference="SOP-EQ-202"),
        ),
    ),
    DemoEquipment(
        EquipmentCreate(
            code="FL-01",
            name="灌装加塞机",
            equipment_class="filling_line",
            model="KGS8/20",
            manufacturer="楚天科技股份有限公司",
            serial_no="KGS-2022-118",
            room_code="RM-FILL-A",
            cleaning_validity_hours=48,
            sterilisation_validity_hours=48,
            qualification_interval_days=365,
        ),
        (
            _qualified(200),
            Event(5, "cleaning", "拆卸灌装泵、针头清洗", reference="SOP-EQ-211"),
            Event(4, "sterilisation", "灌装泵、针头、胶塞料斗湿热灭菌", reference="SOP-EQ-212"),
        ),
    ),
    DemoEquipment(
        EquipmentCreate(
            code="TS-01",
            name="隧道式灭菌干燥机",
            equipment_class="tunnel_steriliser",
            model="ASMR620/43",
            manufacturer="楚天科技股份有限公司",
            room_code="RM-FILL",
            location="洗瓶间—灌装间",
            cleaning_validity_hours=72,
            qualification_interval_days=365,
        ),
        (_qualified(200), Event(10, "cleaning", "网带、腔体清洁", reference="SOP-EQ-221")),
    ),
    DemoEquipment(
        EquipmentCreate(
            code="VW-01",
            name="洗瓶机",
            equipment_class="vial_washer",
            model="QCL80",
            manufacturer="楚天科技股份有限公司",
            location="洗瓶间",
            cleaning_validity_hours=72,
            qualification_interval_days=365,
        ),
        (
            _qualified(200),
            Event(2, "maintenance", "更换喷针密封圈，检查超声波换能器", reference="WO-2026-0311"),
        ),
        maintenance=True,
    ),
    DemoEquipment(
        EquipmentCreate(
            code="TK-01",
            name="配液罐 500 L",
            equipment_class="tank",
            model="PY-500",
            manufacturer="温州市某某制药机械有限公司",
            room_code="RM-PREP",
            cleaning_validity_hours=72,
            sterilisation_validity_hours=72,
            qualification_interval_days=365,
        ),
        (
            _qualified(150),
            Event(100, "cleaning", "CIP 在线清洗", reference="SOP-EQ-231"),
            Event(98, "sterilisation", "SIP 在线灭菌", reference="SOP-EQ-232"),
        ),  # both expired since
    ),
    DemoEquipment(
        EquipmentCreate(
            code="SF-01",
            name="除菌过滤器（0.22 µm）",
            equipment_class="filter",
            model="PES 0.22 µm 10 inch",
            room_code="RM-PREP",
            sterilisation_validity_hours=72,
        ),
        (
            Event(240, "qualification", "细菌截留验证、完整性测试合格", "pass", "VR-2026-014"),
            Event(5, "sterilisation", "在线湿热灭菌，起泡点试验合格", reference="SOP-EQ-241"),
        ),
    ),
    DemoEquipment(
        EquipmentCreate(
            code="CM-01",
            name="轧盖机",
            equipment_class="capping_machine",
            model="KFG-300",
            room_code="RM-CAP",
            cleaning_validity_hours=72,
            qualification_interval_days=365,
        ),
        (_qualified(200), Event(26, "cleaning", "轧盖头、转盘清洁", reference="SOP-EQ-251")),
    ),
    DemoEquipment(
        EquipmentCreate(
            code="BAL-01",
            name="电子天平 220 g",
            equipment_class="balance",
            model="XPR226",
            manufacturer="梅特勒-托利多",
            serial_no="B945123456",
            room_code="RM-WEIGH",
            cleaning_validity_hours=24,
            calibration_interval_days=180,
            capacity=Decimal("220"),
            readability=Decimal("0.0001"),
            min_weight=Decimal("0.1"),
            weight_unit="g",
        ),
        (
            Event(300 * 24, "qualification", "天平确认完成", "pass", "VR-2026-021"),
            Event(40 * 24, "calibration", "计量检定合格，证书 JD-2026-1187", "pass", "JD-2026-1187"),
            Event(2, "cleaning", "称量盘、防风罩清洁", reference="SOP-EQ-261"),
        ),
    ),
    DemoEquipment(
        EquipmentCreate(
            code="BAL-02",
            name="电子天平 6.2 kg",
            equipment_class="balance",
            model="MS6002TS",
            manufacturer="梅特勒-托利多",
            serial_no="B947654321",
            room_code="RM-WEIGH",
            cleaning_validity_hours=24,
            calibration_interval_days=180,
            capacity=Decimal("6200"),
            readability=Decimal("0.01"),
            min_weight=Decimal("1"),
            weight_unit="g",
        ),
        (
            Event(300 * 24, "qualification", "天平确认完成", "pass", "VR-2026-022"),
            Event(200 * 24, "calibration", "计量检定合格，证书 JD-2026-0412", "pass", "JD-2026-0412"),
            Event(3, "cleaning", "称量盘清洁", reference="SOP-EQ-261"),
        ),  # calibration expired since
    ),
    DemoEquipment(
        EquipmentCreate(
            code="SC-01",
            name="电子台秤 150 kg",
            equipment_class="scale",
            model="ICS685",
            manufacturer="梅特勒-托利多",
            room_code="RM-WEIGH",
            calibration_interval_days=180,
            capacity=Decimal("150"),
            readability=Decimal("0.01"),
            min_weight=Decimal("0.5"),
            weight_unit="kg",
        ),
        (
            Event(300 * 24, "qualification", "台秤确认完成", "pass", "VR-2026-023"),
            Event(60 * 24, "calibration", "计量检定合格，证书 JD-2026-0955", "pass", "JD-2026-0955"),
        ),
    ),
)


def _entry(event: Event) -> LogEntryCreate:
    return LogEntryCreate(
        kind=event.kind,
        description=event.description,
        result=event.result,
        reference=event.reference,
        batch_no=event.batch_no,
    )


def _ago(now: datetime, event: Event) -> datetime:
    return now - timedelta(hours=event.hours_ago)


def seed_equipment(uow: UnitOfWork) -> dict[str, int]:
    """Add the demo rooms and equipment that are missing, with their imported logbooks."""
    now = clock.now()
    added = {"rooms": 0, "equipment": 0}
    rooms = set(uow.session.scalars(select(Room.code)))
    for room_data in DEMO_ROOMS:
        if room_data.code in rooms:
            continue
        room = service.create_room(uow, room_data)
        for event in ROOM_HISTORY.get(room_data.code, ()):
            service.record_room_entry(uow, room.id, _entry(event), performed_at=_ago(now, event))
        added["rooms"] += 1
    codes = set(uow.session.scalars(select(Equipment.code)))
    for demo in DEMO_EQUIPMENT:
        if demo.data.code in codes:
            continue
        equipment = service.create_equipment(uow, demo.data)
        for event in demo.history:
            service.record_equipment_entry(uow, equipment.id, _entry(event), performed_at=_ago(now, event))
            if event.kind == "qualification" and demo.in_service:
                service.change_lifecycle(uow, equipment.id, "in_service")
                service.set_operating_status(uow, equipment.id, "standby")
        if demo.maintenance:
            service.change_lifecycle(uow, equipment.id, "maintenance")
        added["equipment"] += 1
    return added
