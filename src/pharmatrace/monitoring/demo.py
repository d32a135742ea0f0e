"""The demo's monitoring: data sources, tags and a short history of values (SH-8.4.3, TJ-6.5).

吴昊 (wuhao, equipment engineer) configures three sources — the freeze-dryer FD-01's OPC UA server, the clean-room
sensors on the MQTT broker, the purified-water point of use in the preparation room on Modbus TCP — and their tags.
The collector (a system actor) stores the last two hours of the rooms' and the water point's values, ten minutes
apart, one ingest per source, one of them Uncertain. The freeze-dryer's tags get no demo history: the batch record
reads them over its steps' windows, and the demo batch's steps are entered by hand.

Alarm rules (TJ-6.5) are configured with the tags; the history holds two excursions, evaluated as the collector
stores them: the filling room's differential pressure dipped under its alert limit for twenty minutes an hour ago
(cleared by the values, acknowledged by 李娜 with her assessment: closed), and the purified water's conductivity at
the point of use is above its action limit now (active, awaiting acknowledgement).
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import alarms, historian, tags
from pharmatrace.monitoring.alarm_models import Alarm
from pharmatrace.monitoring.alarm_schemas import AlarmAcknowledge, RuleCreate
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.models import DataSource
from pharmatrace.monitoring.schemas import SourceCreate, TagCreate
from pharmatrace.storage.engine import Database

ENGINEER = "wuhao"
SUPERVISOR = "lina"  # acknowledges the closed alarm
SOURCES = (
    SourceCreate(code="FD-01-OPCUA", name="冻干机 FD-01 OPC UA", protocol="opcua",
                 endpoint="opc.tcp://127.0.0.1:4840/pharmatrace/freeze-dryer"),
    SourceCreate(code="CLEANROOM-MQTT", name="洁净区环境监测 MQTT", protocol="mqtt", endpoint="mqtt://127.0.0.1:1883"),
    SourceCreate(code="WATER-MODBUS", name="纯化水使用点 Modbus", protocol="modbus", endpoint="modbus://127.0.0.1:5020/1"),
)  # fmt: skip


def _tag(name: str, source: str, address: str, unit: str, data_type: str, decimals: int, low: str | None,
         high: str | None, description: str, scan_ms: int = 1000) -> TagCreate:  # fmt: skip
    return TagCreate(
        name=name, source=source, address=address, unit=unit, data_type=data_type, decimals=decimals,
        low_limit=Decimal(low) if low else None, high_limit=Decimal(high) if high else None,
        scan_rate_ms=scan_ms, description=description,
    )  # fmt: skip


TAGS = (
    _tag("FD-01.shelf_temperature", "FD-01-OPCUA", "ns=2;s=FD-01.shelf_temperature", "°C", "float", 1, "-55", "40",
         "板层温度"),
    _tag("FD-01.chamber_pressure", "FD-01-OPCUA", "ns=2;s=FD-01.chamber_pressure", "Pa", "float", 1, "1", "100",
         "箱体压力"),
    _tag("RM-FILL.temperature", "CLEANROOM-MQTT", "plant/cleanroom/RM-FILL#temperature", "°C", "decimal", 2, "18",
         "26", "灌装间温度", 10_000),
    _tag("RM-FILL.humidity", "CLEANROOM-MQTT", "plant/cleanroom/RM-FILL#humidity", "%RH", "decimal", 1, "45", "65",
         "灌装间相对湿度", 10_000),
    _tag("RM-FILL.differential_pressure", "CLEANROOM-MQTT", "plant/cleanroom/RM-FILL#dp", "Pa", "decimal", 1, "10",
         None, "灌装间对相邻C级区压差", 10_000),
    _tag("RM-LYO.temperature", "CLEANROOM-MQTT", "plant/cleanroom/RM-LYO#temperature", "°C", "decimal", 2, "18",
         "26", "冻干间温度", 10_000),
    _tag("RM-PREP.conductivity", "WATER-MODBUS", "hr:100", "µS/cm", "decimal", 2, None, "1.3",
         "配液间纯化水使用点电导率", 5000),
    _tag("RM-PREP.toc", "WATER-MODBUS", "hr:101", "ppb", "int", 0, None, "500", "配液间纯化水使用点TOC", 5000),
)  # fmt: skip
BASES = {
    "RM-FILL.temperature": (21.0, 0.6), "RM-FILL.humidity": (52.0, 3.0), "RM-FILL.differential_pressure": (15.0, 1.5),
    "RM-LYO.temperature": (20.5, 0.5), "RM-PREP.conductivity": (0.62, 0.08), "RM-PREP.toc": (140.0, 25.0),
}  # fmt: skip


def _rule(tag: str, name: str, description: str, **limits: object) -> RuleCreate:
    return RuleCreate.model_validate({"tag": tag, "name": name, "description": description, **limits})


RULES = (
    _rule("RM-FILL.temperature", "EM", "B级区温度警戒/纠偏", alert_low="19", alert_high="25", action_low="18",
          action_high="26", deadband="0.2", on_delay_s=60, off_delay_s=60),
    _rule("RM-FILL.humidity", "EM", "B级区湿度警戒/纠偏，坏质量报警", alert_low="48", alert_high="62", action_low="45",
          action_high="65", deadband="1", on_delay_s=60, off_delay_s=60, bad_quality=True),
    _rule("RM-FILL.differential_pressure", "EM", "对C级区压差", alert_low="12", action_low="10", deadband="0.5",
          on_delay_s=60),
    _rule("RM-LYO.temperature", "EM", "B级区温度警戒/纠偏", alert_low="19", alert_high="25", action_low="18",
          action_high="26", deadband="0.2", on_delay_s=60, off_delay_s=60),
    _rule("RM-PREP.conductivity", "PW", "纯化水电导率纠偏限（药典 25 °C）", action_high="1.3", on_delay_s=300,
          off_delay_s=60),
    _rule("RM-PREP.toc", "PW", "纯化水TOC纠偏限", action_high="500", on_delay_s=300),
    _rule("FD-01.shelf_temperature", "RATE", "板层升降温速率", rate_per_minute="2", on_delay_s=30),
)  # fmt: skip
# Excursions written into the demo history (tag, step → value): step 11 is ten minutes ago.
EXCURSIONS = {
    ("RM-FILL.differential_pressure", 5): Decimal("11.2"),
    ("RM-FILL.differential_pressure", 6): Decimal("11.6"),
    ("RM-FILL.differential_pressure", 7): Decimal("11.4"),
    ("RM-PREP.conductivity", 10): Decimal("1.42"),
    ("RM-PREP.conductivity", 11): Decimal("1.48"),
}
ASSESSMENT = (
    "压差低于警戒限约20分钟，未低于纠偏限（10 Pa）；期间灌装间门禁记录显示物料传递窗双门同时开启，已按SOP-EM-004"
    "复核并培训；未影响产品，无需偏差。"
)


def _value(data_type: str, decimals: int, wave: float) -> Decimal | int:
    if data_type == "int":
        return round(wave)
    return Decimal(repr(wave)).quantize(Decimal(1).scaleb(-decimals))


def seed_monitoring(db: Database) -> int:
    """Sources, tags and two hours of values; nothing when the sources exist already. Returns the rows added."""
    with db.sessions() as session:
        if session.scalar(select(DataSource.id).where(DataSource.code == SOURCES[0].code)) is not None:
            return 0
        user = identity.find_user(session, ENGINEER)
        assert user is not None, ENGINEER
        engineer = identity.principal_of(user)
    with UnitOfWork(db, engineer.actor, reason="demo plant seed: monitoring sources and tags") as uow:
        for source in SOURCES:
            tags.create_source(uow, engineer, source)
        for tag in TAGS:
            tags.create_tag(uow, engineer, tag)
        for rule in RULES:
            alarms.create_rule(uow, engineer, rule)
        uow.commit()
    added = len(SOURCES) + len(TAGS) + len(RULES)
    now = clock.now().replace(microsecond=0)
    by_source: dict[str, list[Reading]] = {}
    for tag in TAGS:
        if tag.name not in BASES:
            continue
        base, amplitude = BASES[tag.name]
        for step in range(12):  # ten minutes apart, the newest ten minutes ago
            at = now - timedelta(minutes=10 * (12 - step))
            wave = base + amplitude * math.sin(step / 2.0 + len(tag.name))
            quality = "uncertain" if tag.name == "RM-FILL.humidity" and step == 7 else "good"
            value = EXCURSIONS.get((tag.name, step), _value(tag.data_type, tag.decimals, wave))
            reading = Reading(tag.name, at, value, quality, server_time=at)
            by_source.setdefault(tag.source, []).append(reading)
    for code, readings in by_source.items():
        result = historian.ingest(db, code, readings, batch_key=f"demo-{code}")
        added += 1 + (result.stored if result else 0)
    return added + _acknowledge_cleared(db)


def _acknowledge_cleared(db: Database) -> int:
    """The supervisor acknowledges the alarm the values cleared already, with her assessment: it closes."""
    with db.sessions() as session:
        user = identity.find_user(session, SUPERVISOR)
        assert user is not None, SUPERVISOR
        supervisor = identity.principal_of(user)
        cleared = list(session.scalars(select(Alarm.id).where(Alarm.state == "cleared").order_by(Alarm.id)))
    for alarm_id in cleared:
        with UnitOfWork(db, supervisor.actor, reason=ASSESSMENT[:500]) as uow:
            alarms.acknowledge(uow, supervisor, alarm_id, AlarmAcknowledge(comment=ASSESSMENT))
            uow.commit()
    return len(cleared)
