"""Equipment register, rooms and logbooks (设备档案、房间、设备日志; SH-6.3.2.1, TJ-6.1, TJ-B.2.1, TJ-B.2.2.2).

Status columns hold what the last proper event set (a cleaning entry sets ``clean`` and its validity);
whether a status still holds is computed from its validity and the server clock
(:func:`pharmatrace.equipment.service.may_use`), never by a job editing rows. A validity setting that
is ``NULL`` means the equipment does not need that status (a tank is not calibrated).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pharmatrace.kernel.audit import Audited
from pharmatrace.kernel.errors import N_
from pharmatrace.storage.base import Base, BigIntPK, UTCDateTime

EQUIPMENT_CLASSES = (
    "freeze_dryer",  # 冻干机
    "filling_line",  # 灌装加塞机
    "capping_machine",  # 轧盖机
    "tunnel_steriliser",  # 隧道式灭菌干燥机
    "vial_washer",  # 洗瓶机
    "autoclave",  # 湿热灭菌柜
    "isolator",  # 隔离器
    "tank",  # 配液罐
    "filter",  # 除菌过滤器
    "balance",  # 电子天平
    "scale",  # 电子台秤
    "instrument",  # 检测仪器
    "other",
)
WEIGHING_CLASSES = ("balance", "scale")  # 称量器具 (TJ-B.2.2.2): need capacity, readability, calibration

# SH-6.3.2.1.b: from the requirement to scrapping. Only ``in_service`` equipment may be used.
LIFECYCLE_STATES = (
    "requirement",  # 需求
    "design",  # 设计
    "installation",  # 安装
    "in_service",  # 已确认，投入使用
    "maintenance",  # 维护检修中
    "retired",  # 停用
    "scrapped",  # 报废
)
OPERATING_STATUSES = ("standby", "running", "stopped", "fault")  # 备用、运行中、停机、故障 (YXZT)
CLEANING_STATUSES = ("clean", "to_clean")  # 已清洁、待清洁 (QJZT)
STERILISATION_STATUSES = ("sterile", "not_sterile")  # 已灭菌、未灭菌 (MJZT)
CALIBRATION_STATUSES = ("calibrated", "not_calibrated", "out_of_tolerance")  # 校验状态 (JYZT)
QUALIFICATION_STATUSES = ("not_qualified", "qualified", "failed")  # 验证状态 (SH-6.3.2.1.c)
WEIGHT_UNITS = ("mg", "g", "kg")

ROOM_GRADES = ("A", "B", "C", "D")  # 洁净级别
ROOM_STATUSES = ("clean", "in_use", "to_clean", "maintenance")  # 已清洁、使用中、待清洁、维护中

LOG_KINDS = (
    "use",  # 使用
    "cleaning",  # 清洁
    "sterilisation",  # 灭菌
    "maintenance",  # 维护保养
    "calibration",  # 校准/校验
    "repair",  # 维修
    "qualification",  # 确认/验证
)
ROOM_LOG_KINDS = ("use", "cleaning", "maintenance")
RESULT_KINDS = ("calibration", "qualification")  # entries with a pass/fail result
LOG_RESULTS = ("pass", "fail")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _tracked(setting: str, status: str, until: str, good: str) -> str:
    """A status is kept exactly when its validity setting is; a good status has a validity."""
    return (
        f"(({setting} IS NULL AND {status} IS NULL) OR ({setting} IS NOT NULL AND {setting} > 0 "
        f"AND {status} IS NOT NULL)) AND ({status} IS NULL OR {status} <> '{good}' OR {until} IS NOT NULL)"
    )


class Room(Audited, Base):
    """A production room (房间) with its cleanliness grade and cleaning status."""

    __tablename__ = "rooms"
    __audit_type__ = "room"
    __audit_label__ = N_("Room")
    __table_args__ = (
        CheckConstraint(_in("grade", ROOM_GRADES), name="grade"),
        CheckConstraint(_in("status", ROOM_STATUSES), name="status"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint("clean_validity_hours > 0", name="clean_validity"),
        CheckConstraint("status <> 'clean' OR clean_until IS NOT NULL", name="clean_has_validity"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    grade: Mapped[str] = mapped_column(String(1), nullable=False)
    workshop: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    clean_validity_hours: Mapped[int] = mapped_column(Integer, nullable=False)
    cleaned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clean_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Equipment(Audited, Base):
    """One piece of equipment in the register (设备档案), a weighing instrument included."""

    __tablename__ = "equipment"
    __audit_type__ = "equipment"
    __audit_label__ = N_("Equipment")
    __table_args__ = (
        CheckConstraint(_in("equipment_class", EQUIPMENT_CLASSES), name="equipment_class"),
        CheckConstraint(_in("lifecycle", LIFECYCLE_STATES), name="lifecycle"),
        CheckConstraint(_in("operating_status", OPERATING_STATUSES), name="operating_status"),
        CheckConstraint("length(code) >= 2", name="code_length"),
        CheckConstraint(
            f"cleaning_status IS NULL OR {_in('cleaning_status', CLEANING_STATUSES)}", name="cleaning_status"
        ),
        CheckConstraint(
            f"sterilisation_status IS NULL OR {_in('sterilisation_status', STERILISATION_STATUSES)}",
            name="sterilisation_status",
        ),
        CheckConstraint(
            f"calibration_status IS NULL OR {_in('calibration_status', CALIBRATION_STATUSES)}",
            name="calibration_status",
        ),
        CheckConstraint(_in("qualification_status", QUALIFICATION_STATUSES), name="qualification_status"),
        CheckConstraint(
            _tracked("cleaning_validity_hours", "cleaning_status", "clean_until", "clean"), name="cleaning"
        ),
        CheckConstraint(
            _tracked("sterilisation_validity_hours", "sterilisation_status", "sterile_until", "sterile"),
            name="sterilisation",
        ),
        CheckConstraint(
            _tracked("calibration_interval_days", "calibration_status", "calibrated_until", "calibrated"),
            name="calibration",
        ),
        CheckConstraint(
            "(qualification_interval_days IS NULL OR qualification_interval_days > 0) AND "
            "(qualification_status <> 'qualified' OR qualified_at IS NOT NULL)",
            name="qualification",
        ),
        # A weighing instrument has its capacity, readability (d), unit and a calibration interval; nothing
        # else has them (TJ-B.2.2.2 CJJD).
        CheckConstraint(
            f"({_in('equipment_class', WEIGHING_CLASSES)} AND capacity IS NOT NULL AND readability IS NOT NULL "
            "AND weight_unit IS NOT NULL AND calibration_interval_days IS NOT NULL) OR "
            f"(NOT {_in('equipment_class', WEIGHING_CLASSES)} AND capacity IS NULL AND readability IS NULL "
            "AND min_weight IS NULL AND weight_unit IS NULL)",
            name="weighing",
        ),
        CheckConstraint(
            "capacity IS NULL OR (readability > 0 AND readability < capacity AND "
            "(min_weight IS NULL OR (min_weight >= readability AND min_weight < capacity)))",
            name="weighing_range",
        ),
        CheckConstraint(f"weight_unit IS NULL OR {_in('weight_unit', WEIGHT_UNITS)}", name="weight_unit"),
        Index("ix_equipment_room_id", "room_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)  # SBBH
    name: Mapped[str] = mapped_column(String(128), nullable=False)  # SBMC
    equipment_class: Mapped[str] = mapped_column(String(32), nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    manufacturer: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    serial_no: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    location: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    gmp_critical: Mapped[bool] = mapped_column(Boolean, nullable=False)
    lifecycle: Mapped[str] = mapped_column(String(16), nullable=False)
    operating_status: Mapped[str] = mapped_column(String(16), nullable=False)  # YXZT
    # Cleaning (QJZT, QJSJ, QJYXQ)
    cleaning_validity_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cleaning_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    cleaned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    clean_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Sterilisation (MJZT, MJSJ, MJYXQ)
    sterilisation_validity_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sterilisation_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    sterilised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sterile_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Calibration (JYZT, JYSJ, JYYXQ; CJZT for scales)
    calibration_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    calibration_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    calibrated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    calibrated_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Qualification (SH-6.3.2.1.c): status and validity; NULL interval = no periodic requalification
    qualification_interval_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    qualification_status: Mapped[str] = mapped_column(String(16), nullable=False)
    qualified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    qualified_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Weighing instruments only (TJ-B.2.2.2): maximum capacity, readability d (CJJD), minimum weight
    capacity: Mapped[Decimal | None] = mapped_column(Numeric(14, 6), nullable=True)
    readability: Mapped[Decimal | None] = mapped_column(Numeric(14, 6), nullable=True)
    min_weight: Mapped[Decimal | None] = mapped_column(Numeric(14, 6), nullable=True)
    weight_unit: Mapped[str | None] = mapped_column(String(8), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    room: Mapped[Room | None] = relationship(lazy="joined")

    @property
    def is_weighing(self) -> bool:
        return self.equipment_class in WEIGHING_CLASSES


class LogEntry(Audited, Base):
    """One logbook entry (设备/房间使用日志) of a piece of equipment or a room. Append-only: never updated
    or deleted (database triggers refuse both); a wrong entry is corrected by a later one."""

    __tablename__ = "equipment_log_entries"
    __audit_type__ = "equipment_log_entry"
    __audit_label__ = N_("Equipment or room logbook entry")
    __table_args__ = (
        CheckConstraint(_in("kind", LOG_KINDS), name="kind"),
        CheckConstraint(
            "(equipment_id IS NOT NULL AND room_id IS NULL) OR (equipment_id IS NULL AND room_id IS NOT NULL)",
            name="one_target",
        ),
        CheckConstraint(f"room_id IS NULL OR {_in('kind', ROOM_LOG_KINDS)}", name="room_kind"),
        CheckConstraint(
            f"({_in('kind', RESULT_KINDS)} AND {_in('result', LOG_RESULTS)}) OR "
            f"(NOT {_in('kind', RESULT_KINDS)} AND result IS NULL)",
            name="result",
        ),
        CheckConstraint("performed_at <= recorded_at", name="performed_before_recorded"),
        CheckConstraint("valid_until IS NULL OR valid_until > performed_at", name="validity"),
        CheckConstraint("length(description) >= 2", name="description"),
        Index("ix_equipment_log_entries_equipment", "equipment_id", "performed_at"),
        Index("ix_equipment_log_entries_room", "room_id", "performed_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), nullable=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    performed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    recorded_by: Mapped[str] = mapped_column(String(64), nullable=False)
    recorded_by_name: Mapped[str] = mapped_column(String(128), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False)
    result: Mapped[str | None] = mapped_column(String(8), nullable=True)
    batch_no: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    reference: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


SOP_PURPOSES = ("operation", "cleaning", "maintenance", "calibration")  # 操作、清洁、维护保养、校准


class EquipmentSop(Audited, Base):
    """A controlled document a piece of equipment or a room is worked by (设备/房间的标准操作规程; TJ-6.1).

    It names the document by number, never a version: the pages show whichever version is effective now,
    so a new version reaches the floor the moment it becomes effective. Voided, never deleted.
    """

    __tablename__ = "equipment_sops"
    __audit_type__ = "equipment_sop"
    __audit_label__ = N_("SOP of equipment or a room")
    __table_args__ = (
        CheckConstraint(_in("purpose", SOP_PURPOSES), name="purpose"),
        CheckConstraint(
            "(equipment_id IS NOT NULL AND room_id IS NULL) OR (equipment_id IS NULL AND room_id IS NOT NULL)",
            name="one_target",
        ),
        Index("ix_equipment_sops_equipment_id", "equipment_id"),
        Index("ix_equipment_sops_room_id", "room_id"),
        # One live link per target, purpose and document.
        Index(
            "uq_equipment_sops_equipment_link",
            "equipment_id",
            "purpose",
            "document_number",
            unique=True,
            sqlite_where=text("voided_at IS NULL AND equipment_id IS NOT NULL"),
            postgresql_where=text("voided_at IS NULL AND equipment_id IS NOT NULL"),
        ),
        Index(
            "uq_equipment_sops_room_link",
            "room_id",
            "purpose",
            "document_number",
            unique=True,
            sqlite_where=text("voided_at IS NULL AND room_id IS NOT NULL"),
            postgresql_where=text("voided_at IS NULL AND room_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    equipment_id: Mapped[int | None] = mapped_column(ForeignKey("equipment.id"), nullable=True)
    room_id: Mapped[int | None] = mapped_column(ForeignKey("rooms.id"), nullable=True)
    purpose: Mapped[str] = mapped_column(String(16), nullable=False)
    document_number: Mapped[str] = mapped_column(ForeignKey("documents.number"), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(64), nullable=False)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
