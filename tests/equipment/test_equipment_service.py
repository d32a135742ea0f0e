"""Equipment, scales and rooms: the register, lifecycle, status with validity, logbooks, the usability
answer for the MES, and what the database refuses (SH-6.3.2.1, TJ-6.1, TJ-6.4.2, TJ-B.2.1, TJ-B.2.2.2)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import actor, audit_entries, behind_the_apps_back, count_rows
from pharmatrace.demo.seed import seed
from pharmatrace.equipment import service
from pharmatrace.equipment.models import Equipment, LogEntry, Room
from pharmatrace.equipment.schemas import (
    EquipmentCreate,
    EquipmentUpdate,
    LogEntryCreate,
    LogKind,
    LogResult,
    RoomCreate,
)
from pharmatrace.kernel import clock, ledger
from pharmatrace.kernel.errors import Conflict, ReasonRequired, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database, mark_unit_of_work
from pharmatrace.web import i18n

ENGINEER = "wuhao"  # 设备工程师
OPERATOR = "zhangwei"  # 生产操作员


def create(db: Database, code: str = "FD-09", **extra: object) -> int:
    values: dict[str, object] = {"name": "冻干机（二号线）", "equipment_class": "freeze_dryer",
                                 "cleaning_validity_hours": 72, "sterilisation_validity_hours": 48,
                                 "qualification_interval_days": 365}  # fmt: skip
    values.update(extra)
    with UnitOfWork(db, actor(db, ENGINEER)) as uow:
        equipment = service.create_equipment(uow, EquipmentCreate.model_validate({"code": code, **values}))
        uow.commit()
        return equipment.id


def record(
    db: Database,
    equipment_id: int,
    kind: LogKind,
    description: str = "按 SOP 操作完成",
    result: LogResult | None = None,
    login: str = ENGINEER,
    **more: str,
) -> int:
    body = LogEntryCreate(kind=kind, description=description, result=result, **more)
    with UnitOfWork(db, actor(db, login), reason=body.audit_reason()) as uow:
        entry = service.record_equipment_entry(uow, equipment_id, body)
        uow.commit()
        return entry.id


def put_in_service(db: Database, equipment_id: int) -> None:
    record(db, equipment_id, "qualification", "IQ/OQ/PQ 完成，报告已批准", "pass")
    with UnitOfWork(db, actor(db, ENGINEER), reason="确认完成，投入使用") as uow:
        service.change_lifecycle(uow, equipment_id, "in_service")
        uow.commit()


def usability(db: Database, code: str, at: datetime | None = None) -> service.Usability:
    with db.sessions() as session:
        return service.may_use(session, code, at)


def codes(answer: service.Usability) -> list[str]:
    return [r.code for r in answer.reasons]


def loaded_room(db: Database, room_id: int) -> Room:
    with db.sessions() as session:
        room = session.get(Room, room_id)
        assert room is not None
        session.expunge(room)
        return room


def loaded(db: Database, equipment_id: int) -> Equipment:
    with db.sessions() as session:
        equipment = session.get(Equipment, equipment_id)
        assert equipment is not None
        session.expunge(equipment)
        return equipment


# --- the register ------------------------------------------------------------------------------------


@pytest.mark.clause("SH-6.3.2.1.a", "SH-6.3.2.1")
def test_a_new_equipment_file_is_audited_and_not_usable_before_qualification(db: Database) -> None:
    equipment_id = create(db, room_code="RM-LYO", model="LYO-50", manufacturer="东富龙", serial_no="S-1")
    equipment = loaded(db, equipment_id)
    assert (equipment.lifecycle, equipment.qualification_status, equipment.cleaning_status) == (
        "installation",
        "not_qualified",
        "to_clean",
    )
    assert equipment.calibration_status is None  # no calibration interval: not tracked
    [entry] = audit_entries(db, object_type="equipment", object_id=str(equipment_id))
    assert (entry.event, entry.actor_login, entry.changes["code"]) == ("create", ENGINEER, [None, "FD-09"])
    answer = usability(db, "FD-09")
    assert not answer and codes(answer) == [
        "lifecycle_installation",
        "not_qualified",
        "not_clean",
        "not_sterile",
    ]


@pytest.mark.clause("SH-6.3.2.1.a", "TJ-10.1.3.2.b")
def test_a_duplicate_code_is_refused_and_nothing_changes(db: Database) -> None:
    before = count_rows(db, Equipment), count_rows(db, Room), len(audit_entries(db))
    with pytest.raises(Conflict, match="already taken"):
        create(db, code="FD-01")
    with pytest.raises(Conflict, match="already taken"), UnitOfWork(db, actor(db, ENGINEER)) as uow:
        service.create_room(uow, RoomCreate(code="RM-LYO", name="冻干间", grade="B", clean_validity_hours=48))
    assert (count_rows(db, Equipment), count_rows(db, Room), len(audit_entries(db))) == before


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-10.1.3.2.b", "SH-6.3.2.1")
def test_an_invalid_grade_is_refused_by_the_schema_and_by_the_database(db: Database) -> None:
    with pytest.raises(ValidationError, match="grade"):
        RoomCreate.model_validate({"code": "RM-X", "name": "走廊", "grade": "E", "clean_validity_hours": 24})
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE rooms SET grade = 'E' WHERE code = 'RM-LYO'"))
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE equipment SET code = 'FD-01' WHERE code = 'FL-01'"))  # unique code
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE equipment SET lifecycle = 'borrowed' WHERE code = 'FD-01'"))


@pytest.mark.clause("SH-6.3.2.1.a")
def test_a_change_of_the_file_needs_a_reason_and_keeps_the_old_values(db: Database) -> None:
    equipment_id = create(db)
    change = EquipmentUpdate(model="LYO-60", room_code="RM-LYO", reason="设备改造：更换冷凝器后型号变更")
    with pytest.raises(ReasonRequired), UnitOfWork(db, actor(db, ENGINEER)) as uow:
        service.update_equipment(uow, equipment_id, change)
        uow.session.flush()
    with UnitOfWork(db, actor(db, ENGINEER), reason=change.reason) as uow:
        service.update_equipment(uow, equipment_id, change)
        uow.commit()
    update = audit_entries(db, object_type="equipment", object_id=str(equipment_id), event="update")[-1]
    assert update.changes["model"] == ["", "LYO-60"] and update.reason == change.reason


# --- lifecycle and qualification -----------------------------------------------------------------------


@pytest.mark.clause("SH-6.3.2.1.b", "SH-6.3.2.1.c")
def test_the_lifecycle_moves_forward_and_enters_service_only_when_qualified(db: Database) -> None:
    equipment_id = create(db, lifecycle="requirement")

    def move(state: str) -> None:
        with UnitOfWork(db, actor(db, ENGINEER), reason="生命周期推进") as uow:
            service.change_lifecycle(uow, equipment_id, state)
            uow.commit()

    with pytest.raises(Conflict, match="cannot go from"):
        move("in_service")
    move("design")
    move("installation")
    with pytest.raises(Conflict, match="valid qualification"):
        move("in_service")
    record(db, equipment_id, "qualification", "OQ 偏差未关闭", "fail")
    assert codes(usability(db, "FD-09"))[1] == "qualification_failed"
    with pytest.raises(Conflict, match="valid qualification"):
        move("in_service")
    record(db, equipment_id, "qualification", "OQ/PQ 重新执行合格", "pass")
    move("in_service")
    equipment = loaded(db, equipment_id)
    assert equipment.qualified_until == equipment.qualified_at + timedelta(days=365)
    move("maintenance")
    assert "lifecycle_maintenance" in codes(usability(db, "FD-09"))
    move("retired")
    with pytest.raises(Conflict, match="cannot go from"):
        move("in_service")
    move("scrapped")
    assert codes(usability(db, "FD-09"))[0] == "lifecycle_scrapped"
    with pytest.raises(Conflict, match="scrapped"):
        record(db, equipment_id, "cleaning")
    history = [e.changes["lifecycle"][1] for e in audit_entries(db, object_type="equipment",
               object_id=str(equipment_id)) if "lifecycle" in e.changes]  # fmt: skip
    assert history == [
        "requirement",
        "design",
        "installation",
        "in_service",
        "maintenance",
        "retired",
        "scrapped",
    ]


@pytest.mark.clause("SH-6.3.2.1.c", "TJ-6.1")
def test_an_expired_qualification_makes_the_equipment_unusable(db: Database) -> None:
    equipment_id = create(db, qualification_interval_days=30)
    put_in_service(db, equipment_id)
    record(db, equipment_id, "cleaning", login=OPERATOR)
    record(db, equipment_id, "sterilisation", login=OPERATOR)
    assert usability(db, "FD-09").usable
    later = clock.now() + timedelta(days=31)
    assert codes(usability(db, "FD-09", later))[0] == "qualification_expired"


# --- status with validity ----------------------------------------------------------------------------


@pytest.mark.clause("TJ-6.1", "TJ-B.2.1")
def test_a_cleaning_entry_sets_status_and_validity_in_the_same_transaction(db: Database) -> None:
    equipment_id = create(db)
    put_in_service(db, equipment_id)
    entry_id = record(db, equipment_id, "cleaning", "CIP 在线清洗", login=OPERATOR, reference="SOP-EQ-201")
    equipment = loaded(db, equipment_id)
    assert equipment.cleaning_status == "clean"
    assert equipment.clean_until == equipment.cleaned_at + timedelta(hours=72)
    with db.sessions() as session:
        entry = session.get(LogEntry, entry_id)
        assert entry is not None
        assert (entry.recorded_by, entry.recorded_by_name, entry.valid_until) == (
            OPERATOR,
            "张伟",
            equipment.clean_until,
        )
    [created] = audit_entries(db, object_type="equipment_log_entry", object_id=str(entry_id))
    status_change = audit_entries(db, object_type="equipment", object_id=str(equipment_id))[-1]
    assert status_change.changes["cleaning_status"] == ["to_clean", "clean"]
    assert status_change.request_id == created.request_id and status_change.reason == created.reason
    assert "CIP 在线清洗" in (status_change.reason or "")
    assert codes(usability(db, "FD-09")) == ["not_sterile"]  # a cleaning asks for a new sterilisation


@pytest.mark.clause("TJ-6.1", "TJ-6.4.2", "TJ-B.2.1")
def test_a_status_past_its_validity_is_not_usable_by_the_server_clock(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = usability(db, "FD-01")
    assert answer.usable, codes(answer)
    with db.sessions() as session:
        fd = service.find_by_code(session, "FD-01")
        clean_until, sterile_until = fd.clean_until, fd.sterile_until
    assert clean_until is not None and sterile_until is not None
    before = len(audit_entries(db))
    assert codes(usability(db, "FD-01", clean_until + timedelta(minutes=1))) == ["cleaning_expired"]
    moment = max(clean_until, sterile_until) + timedelta(minutes=1)
    monkeypatch.setattr(clock, "now", lambda: moment)
    answer = usability(db, "FD-01")  # no time given: the server's clock
    assert codes(answer) == ["cleaning_expired", "sterilisation_expired"]
    cleaning = answer.reasons[0]
    assert cleaning.message == "The cleaning expired at {until}"
    assert cleaning.params["until"] == clock.format_beijing(clean_until, seconds=False)
    assert loaded(db, fd.id).cleaning_status == "clean"  # nothing edited the row: it is computed
    assert len(audit_entries(db)) == before


@pytest.mark.clause("TJ-6.4.2", "TJ-6.1", "SH-7.1.3.a", "TJ-10.1.1.2.b")
def test_use_of_equipment_past_validity_is_refused_with_every_reason_recorded_and_nothing_changes(
    db: Database,
) -> None:
    with db.sessions() as session:
        tank = service.find_by_code(session, "TK-01")
    row_before = ledger.record_values(loaded(db, tank.id))
    before = len(service_logbook(db, tank.id)), len(audit_entries(db))
    with pytest.raises(service.NotUsable) as refused:
        record(db, tank.id, "use", "配液 批号 DH20261120", login=OPERATOR, batch_no="DH20261120")
    assert refused.value.code == "not_usable"
    assert codes(refused.value.usability) == ["cleaning_expired", "sterilisation_expired"]
    # the exception's own text is English (logs, the trail); the reader gets every reason in their language
    assert str(refused.value).startswith(
        "Equipment TK-01 (配液罐 500 L) may not be used: The cleaning expired at "
    )
    message = i18n.error_message(refused.value)  # Chinese by default
    assert message.startswith("设备 TK-01（配液罐 500 L）不可使用：清洁已于 ")
    assert "灭菌已于" in message and message.endswith("过期")
    # nothing changed: no logbook entry, the equipment row as it was, one audit entry more — the refusal
    assert len(service_logbook(db, tank.id)) == before[0]
    assert ledger.record_values(loaded(db, tank.id)) == row_before
    entries = audit_entries(db)
    assert len(entries) == before[1] + 1
    recorded = entries[-1]
    assert (recorded.event, recorded.object_type, recorded.object_id, recorded.actor_login) == (
        "equipment.use.refused", "equipment", str(tank.id), OPERATOR,
    )  # fmt: skip
    assert recorded.changes["refusals"] == [None, ["cleaning_expired", "sterilisation_expired"]]
    assert recorded.changes["batch_no"] == [None, "DH20261120"]
    assert recorded.changes["action"] == [None, "use"]
    # the reason is kept in English msgid form, every reason, the lapse moments filled in
    assert recorded.reason is not None
    assert recorded.reason.startswith(
        "Equipment TK-01 (配液罐 500 L) may not be used: The cleaning expired at "
    )
    assert "; The sterilisation expired at " in recorded.reason
    assert "{" not in recorded.reason and "清洁" not in recorded.reason
    assert recorded.changes["reasons"][1][0].startswith("The cleaning expired at 20")
    assert ledger.verify(db).intact


@pytest.mark.clause("TJ-6.1", "SH-6.3.2", "SH-7.1.3.a")
def test_use_of_void_equipment_is_refused_with_every_reason_and_recorded(db: Database) -> None:
    equipment_id = create(db, calibration_interval_days=180)
    with UnitOfWork(db, actor(db, ENGINEER), reason="重复建档") as uow:
        service.void_equipment(uow, equipment_id)
        uow.commit()
    logbook_before = len(service_logbook(db, equipment_id))
    with pytest.raises(service.NotUsable) as refused:
        record(db, equipment_id, "use", "试用", login=OPERATOR)
    assert codes(refused.value.usability) == ["void", "lifecycle_installation", "not_qualified", "not_clean",
                                              "not_sterile", "not_calibrated"]  # fmt: skip
    [recorded] = audit_entries(db, event="equipment.use.refused", object_id=str(equipment_id))
    assert recorded.changes["refusals"][1] == codes(refused.value.usability)
    assert recorded.reason is not None and "The equipment record is void; " in recorded.reason
    assert len(service_logbook(db, equipment_id)) == logbook_before
    # any other kind of entry on void equipment is refused as before, and not recorded as a use
    with pytest.raises(Conflict, match="void"):
        record(db, equipment_id, "cleaning", login=OPERATOR)
    assert len(audit_entries(db, event="equipment.use.refused")) == 1


@pytest.mark.clause("TJ-6.1", "SH-7.1.3.a")
def test_a_refused_use_takes_back_what_its_unit_of_work_wrote_before(db: Database) -> None:
    usable = create(db, "FD-10")
    put_in_service(db, usable)
    record(db, usable, "cleaning", login=OPERATOR)
    record(db, usable, "sterilisation", login=OPERATOR)
    logbook_before = len(service_logbook(db, usable))
    with db.sessions() as session:
        tank = service.find_by_code(session, "TK-01")
    body = LogEntryCreate(kind="use", description="配液 批号 DH20261122", batch_no="DH20261122")
    with (
        pytest.raises(service.NotUsable),
        UnitOfWork(db, actor(db, OPERATOR), reason=body.audit_reason()) as uow,
    ):
        service.record_equipment_entry(uow, usable, body)  # accepted, not committed: the same operation
        service.record_equipment_entry(uow, tank.id, body)  # refused: the whole operation is taken back
        uow.commit()
    assert len(service_logbook(db, usable)) == logbook_before
    assert codes(usability(db, "FD-10")) == []  # the first use did not make it dirty
    assert [e.object_id for e in audit_entries(db, event="equipment.use.refused")] == [str(tank.id)]
    assert audit_entries(db, object_type="equipment_log_entry")[-1].changes["kind"][1] == "sterilisation"


def service_logbook(db: Database, equipment_id: int) -> list[LogEntry]:
    with db.sessions() as session:
        return service.logbook(session, equipment_id=equipment_id)


@pytest.mark.clause("TJ-6.1", "TJ-6.4.2")
def test_every_reason_is_named_not_only_the_first(db: Database) -> None:
    equipment_id = create(db, calibration_interval_days=180)
    with UnitOfWork(db, actor(db, ENGINEER), reason="故障报修") as uow:
        service.set_operating_status(uow, equipment_id, "fault")
        service.void_equipment(uow, equipment_id)
        uow.commit()
    assert codes(usability(db, "FD-09")) == ["void", "lifecycle_installation", "fault", "not_qualified",
                                             "not_clean", "not_sterile", "not_calibrated"]  # fmt: skip


@pytest.mark.clause("TJ-6.1", "TJ-6.4.2")
def test_use_makes_the_equipment_dirty_and_sterilisation_needs_it_clean(db: Database) -> None:
    equipment_id = create(db)
    put_in_service(db, equipment_id)
    with pytest.raises(Conflict, match="clean equipment"):
        record(db, equipment_id, "sterilisation", login=OPERATOR)
    record(db, equipment_id, "cleaning", login=OPERATOR)
    record(db, equipment_id, "sterilisation", login=OPERATOR)
    assert usability(db, "FD-09").usable
    record(db, equipment_id, "use", "冻干 批号 DH20261121", login=OPERATOR, batch_no="DH20261121")
    assert codes(usability(db, "FD-09")) == ["not_clean", "not_sterile"]
    record(db, equipment_id, "maintenance", "更换真空泵油")
    assert [e.kind for e in service_logbook(db, equipment_id)][:2] == ["maintenance", "use"]


@pytest.mark.clause("TJ-B.2.2.2", "TJ-6.1")
def test_calibration_sets_its_validity_a_failure_or_a_repair_withdraws_it(db: Database) -> None:
    with db.sessions() as session:
        balance = service.find_by_code(session, "BAL-01")
    assert usability(db, "BAL-01").usable
    record(db, balance.id, "calibration", "期间核查：200 g 砝码超差", "fail")
    assert codes(usability(db, "BAL-01")) == ["out_of_tolerance"]
    record(db, balance.id, "calibration", "重新校准合格", "pass", reference="JD-2026-1300")
    equipment = loaded(db, balance.id)
    assert equipment.calibrated_until == equipment.calibrated_at + timedelta(days=180)
    assert usability(db, "BAL-01").usable
    record(db, balance.id, "repair", "更换称量传感器")
    assert codes(usability(db, "BAL-01")) == ["not_clean", "not_calibrated"]
    assert codes(usability(db, "BAL-02")) == ["calibration_expired"]  # the seeded plant's overdue balance


@pytest.mark.clause("TJ-6.1")
def test_a_status_the_equipment_does_not_track_cannot_be_recorded(db: Database) -> None:
    equipment_id = create(db)  # no calibration interval
    with pytest.raises(Conflict, match="Calibration is not tracked"):
        record(db, equipment_id, "calibration", "校准", "pass")
    with pytest.raises(ValidationError, match="needs its result"):
        LogEntryCreate(kind="calibration", description="校准")
    with pytest.raises(ValidationError, match="Only calibration and qualification"):
        LogEntryCreate(kind="cleaning", description="清洁", result="pass")


# --- scales ------------------------------------------------------------------------------------------


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-B.2.2.2", "SH-6.3.2.1")
def test_a_scale_has_capacity_readability_unit_and_a_calibration_interval(db: Database) -> None:
    scale = {"code": "BAL-09", "name": "分析天平 120 g", "equipment_class": "balance", "capacity": "120",
             "readability": "0.0001", "min_weight": "0.02", "weight_unit": "g", "calibration_interval_days": 180}  # fmt: skip
    for broken, why in [
        ({"capacity": None}, "capacity, readability"),
        ({"calibration_interval_days": None}, "calibration interval"),
        ({"readability": "200"}, "smaller than the capacity"),
        ({"min_weight": "0.00001"}, "minimum weight"),
        ({"equipment_class": "tank"}, "Only a balance or scale"),
    ]:
        with pytest.raises(ValidationError, match=why):
            EquipmentCreate.model_validate({**scale, **broken})
    equipment_id = create(db, **{k: v for k, v in scale.items() if k != "code"}, code="BAL-09")
    with db.sessions() as session:
        public = service.scale_public(session, service.get_equipment(session, equipment_id))
    assert (public.capacity, public.readability, public.min_weight, public.weight_unit) == (
        "120",
        "0.0001",
        "0.02",
        "g",
    )
    assert public.data_set == {
        "CJMC": "分析天平 120 g",
        "CJBH": "BAL-09",
        "CJZT": "未校验",
        "CJJD": "0.0001 g",
    }
    with (
        pytest.raises(ValidationFailed, match="smaller than the capacity"),
        UnitOfWork(db, actor(db, ENGINEER), reason="更换称量单元") as uow,
    ):
        service.update_equipment(uow, equipment_id, EquipmentUpdate(capacity=Decimal("0.0001"), reason="x1"))
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE equipment SET capacity = 10 WHERE code = 'TK-01'"))  # a tank is no scale
    assert ledger.verify(db).intact  # decimals stored exactly as hashed


# --- rooms -------------------------------------------------------------------------------------------


@pytest.mark.clause("SH-6.3.2.1", "TJ-6.4.2")
def test_a_room_is_clean_in_use_or_to_clean_and_its_cleaning_expires(db: Database) -> None:
    with UnitOfWork(db, actor(db, ENGINEER)) as uow:
        room = service.create_room(
            uow, RoomCreate(code="RM-QC1", name="无菌检查间", grade="B", clean_validity_hours=24)
        )
        uow.commit()
        room_id = room.id
    assert codes(usability(db, "RM-QC1")) == ["not_clean"]

    def entry(kind: LogKind, login: str = OPERATOR) -> None:
        body = LogEntryCreate(kind=kind, description="按 SOP-CL-110 操作")
        with UnitOfWork(db, actor(db, login), reason=body.audit_reason()) as uow:
            service.record_room_entry(uow, room_id, body)
            uow.commit()

    entry("cleaning")
    assert usability(db, "RM-QC1").usable
    assert codes(usability(db, "RM-QC1", clock.now() + timedelta(hours=25))) == ["cleaning_expired"]
    entry("use")
    assert codes(usability(db, "RM-QC1")) == ["in_use"]
    room_before = ledger.record_values(loaded_room(db, room_id))
    with pytest.raises(service.NotUsable, match="The room is in use"):
        entry("use")
    with (
        pytest.raises(service.NotUsable, match="The room is in use"),
        UnitOfWork(db, actor(db, OPERATOR), reason="开始检验") as uow,
    ):
        service.set_room_status(uow, room_id, "in_use")
    refusals = audit_entries(db, event="equipment.use.refused", object_type="room", object_id=str(room_id))
    assert [(e.changes["action"][1], e.changes["refusals"][1], e.reason) for e in refusals] == [
        ("use", ["in_use"], "Room RM-QC1 (无菌检查间) may not be used: The room is in use"),
        ("status in_use", ["in_use"], "Room RM-QC1 (无菌检查间) may not be used: The room is in use"),
    ]
    assert ledger.record_values(loaded_room(db, room_id)) == room_before
    with db.sessions() as session:
        assert [e.kind for e in service.logbook(session, room_id=room_id)] == ["use", "cleaning"]
    with pytest.raises(ValidationFailed, match="use, cleaning and maintenance only"):
        entry("repair")
    with (
        pytest.raises(Conflict, match="only through a cleaning entry"),
        UnitOfWork(db, actor(db, OPERATOR), reason="清场结束") as uow,
    ):
        service.set_room_status(uow, room_id, "clean")
    assert codes(usability(db, "RM-PACK"))[0] == "cleaning_expired"  # the seeded outer-packaging room


# --- never deleted, never changed --------------------------------------------------------------------


@pytest.mark.clause("SH-6.3.2.1.a", "TJ-10.1.1.2.a")
def test_void_needs_a_reason_and_keeps_the_record(db: Database) -> None:
    equipment_id = create(db)
    with pytest.raises(ReasonRequired), UnitOfWork(db, actor(db, ENGINEER)) as uow:
        service.void_equipment(uow, equipment_id)
        uow.session.flush()
    with UnitOfWork(db, actor(db, ENGINEER), reason="重复建档，以 FD-01 为准") as uow:
        service.void_equipment(uow, equipment_id)
        uow.commit()
    [void] = audit_entries(db, object_type="equipment", object_id=str(equipment_id), event="void")
    assert void.reason == "重复建档，以 FD-01 为准"
    with pytest.raises(Conflict, match="void"), UnitOfWork(db, actor(db, ENGINEER), reason="再次作废") as uow:
        service.void_equipment(uow, equipment_id)
    assert codes(usability(db, "FD-09"))[0] == "void"
    with (
        pytest.raises(Conflict, match="room still holds"),
        UnitOfWork(db, actor(db, ENGINEER), reason="停用") as uow,
    ):
        service.void_room(uow, service.room_by_code(uow.session, "RM-WEIGH").id)


# Each table: (table, the raw UPDATE that bypasses the unit of work).
KEPT_TABLES: tuple[tuple[str, str], ...] = (
    ("equipment", "UPDATE equipment SET created_by = 'x'"),
    ("rooms", "UPDATE rooms SET created_by = 'x'"),
    ("equipment_log_entries", "UPDATE equipment_log_entries SET description = 'x'"),
)


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-10.1.6.1", "SH-8.4.5")
def test_equipment_rooms_and_logbooks_cannot_be_deleted_even_with_raw_sql(db: Database) -> None:
    """Every table of KEPT_TABLES on one database: a raw DELETE with the unit-of-work marker forged is refused,
    and a raw UPDATE without it is refused, each in its own transaction that is rolled back; the table keeps its
    rows, so the next table meets the plant as it was. Every refusal that is missing is named."""
    failures: list[str] = []
    for table, update in KEPT_TABLES:
        with db.engine.connect() as conn:
            before = conn.scalar(text(f"SELECT count(*) FROM {table}"))
        try:
            with behind_the_apps_back(db) as conn:
                conn.execute(text(f"DELETE FROM {table}"))
        except DBAPIError as refused:
            if not re.search("refused", str(refused)):
                failures.append(f"{table}: DELETE refused without “refused”: {refused}")
        else:
            failures.append(f"{table}: DELETE accepted")
        try:
            with db.engine.begin() as conn:
                conn.execute(text(update))
        except DBAPIError as refused:
            if not re.search(r"outside the unit of work|append-only", str(refused)):
                failures.append(f"{table}: UPDATE refused for another reason: {refused}")
        else:
            failures.append(f"{table}: UPDATE outside the unit of work accepted")
        with db.engine.connect() as conn:
            after = conn.scalar(text(f"SELECT count(*) FROM {table}"))
        if after != before:
            failures.append(f"{table}: rows {before} -> {after}")
    assert failures == []


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.1", "TJ-10.1.1.2.a", "SH-8.4.5")
def test_a_logbook_entry_is_append_only_even_with_raw_sql(db: Database) -> None:
    with pytest.raises(DBAPIError, match="append-only"), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE equipment_log_entries SET description = '改写的记录'"))
    with db.sessions() as session:
        assert session.scalar(select(LogEntry.id).where(LogEntry.description == "改写的记录")) is None


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.1", "TJ-10.1.1.2.a")
@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # roles and grants are PostgreSQL's
def test_the_application_role_may_not_update_a_logbook_entry(db: Database) -> None:
    from pharmatrace.storage.guards import APP_ROLE

    with pytest.raises(DBAPIError, match="permission denied"), db.engine.begin() as conn:
        conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        mark_unit_of_work(conn)
        conn.execute(text("UPDATE equipment_log_entries SET description = 'x'"))
    with db.engine.begin() as conn:
        conn.execute(text(f"SET LOCAL ROLE {APP_ROLE}"))
        mark_unit_of_work(conn)
        assert (
            conn.execute(text("UPDATE equipment SET location = location WHERE code = 'FD-01'")).rowcount == 1
        )


# --- the demo line and the ledger --------------------------------------------------------------------


@pytest.mark.clause("SH-6.3.2.1", "TJ-6.1", "SH-8.4.5")
def test_the_demo_line_has_a_mix_of_statuses_and_the_ledger_covers_it(db: Database) -> None:
    answers = {code: codes(usability(db, code)) for code in ("FD-01", "FL-01", "TK-01", "BAL-02", "VW-01",
                                                           "RM-FILL", "RM-CAP", "RM-PACK")}  # fmt: skip
    assert answers == {
        "FD-01": [],
        "FL-01": [],
        "TK-01": ["cleaning_expired", "sterilisation_expired"],
        "BAL-02": ["calibration_expired"],
        "VW-01": ["lifecycle_maintenance", "not_clean"],
        "RM-FILL": [],
        "RM-CAP": ["in_use"],
        "RM-PACK": ["cleaning_expired"],
    }
    with db.sessions() as session:
        grades = {r.code: r.grade for r in service.list_rooms(session)}
    assert grades["RM-FILL-A"] == "A" and grades["RM-FILL"] == "B"
    added = seed(db)
    assert (added["rooms"], added["equipment"]) == (0, 0)
    report = ledger.verify(db)
    assert report.intact, report.problems
    seeded = {e.object_type for e in audit_entries(db, actor_login="system:demo-seed")}
    assert {"equipment", "room", "equipment_log_entry"} <= seeded


@pytest.mark.clause("TJ-B.2.1")
def test_the_status_data_set_uses_the_guides_short_names_and_formats(db: Database) -> None:
    from pharmatrace.compliance import catalogue

    with db.sessions() as session:
        tank = service.find_by_code(session, " tk-01\x1d")  # as a keyboard-wedge scanner types it
        data = service.equipment_data_set(tank, clock.now())
        assert tank.cleaned_at is not None
        cleaned_at = tank.cleaned_at
    assert tuple(data) == catalogue.load()["TJ-B.2.1"].short_names
    assert (data["SBBH"], data["QJZT"], data["MJZT"], data["JYZT"]) == ("TK-01", "已过期", "已过期", "")
    assert data["QJSJ"] == clock.format_exchange(cleaned_at)
    assert len(data["QJYXQ"]) == 8 and data["QJYXQ"].isdigit()


@pytest.mark.clause("TJ-6.1")
def test_an_activity_cannot_be_recorded_in_the_future(db: Database) -> None:
    equipment_id = create(db)
    body = LogEntryCreate(kind="cleaning", description="清洁")
    with (
        pytest.raises(ValidationFailed, match="future"),
        UnitOfWork(db, actor(db, OPERATOR), reason="x1") as uow,
    ):
        service.record_equipment_entry(uow, equipment_id, body, performed_at=clock.now() + timedelta(hours=1))
