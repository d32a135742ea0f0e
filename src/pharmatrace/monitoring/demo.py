"""The demo's monitoring: data sources, tags and a short history of values (SH-8.4.3, TJ-6.5, TJ-6.7, TJ-7.7).

吴昊 (wuhao, equipment engineer) configures three sources — the freeze-dryer FD-01's OPC UA server, the clean-room
sensors on the MQTT broker, the purified-water point of use in the preparation room on Modbus TCP — and their tags.
The collector (a system actor) stores the last two hours of the rooms' and the water point's values, ten minutes
apart, one ingest per source, one of them Uncertain. The freeze-dryer's tags get no demo history: the batch record
reads them over its steps' windows, and the demo batch's steps are entered by hand.

Alarm rules (TJ-6.5) are configured with the tags; the history holds two excursions, evaluated as the collector
stores them: the filling room's differential pressure dipped under its alert limit for twenty minutes an hour ago
(cleared by the values, acknowledged by 李娜 with her assessment: closed), and the purified water's conductivity at
the point of use is above its action limit now (active, awaiting acknowledgement).

The grade A/B rooms have their particle counters (≥0.5 µm and ≥5 µm per m³) and differential pressure (TJ-6.5),
judged against their grade's limits; compressed air (pressure, dew point) and pure steam (temperature, condensate
conductivity) are read at their points of use in the preparation room on the utilities' Modbus device (TJ-6.8),
and so is the hot water-for-injection loop (注射用水, TJ-6.7: conductivity compensated to 25 °C, TOC, loop
temperature, flow — the ``wfi_`` signals that make the floor plan's WFI system), with its rules: conductivity
alert 1.1 / action 1.3 µS/cm (the ChP table's 20 °C and 25 °C figures), TOC 500 ppb, loop temperature alert 75 /
action 70 °C. The QC laboratory's room 理化室 (RM-QC-PC, where the demo's OOS balance stands) has its temperature
and humidity on the sensors' broker (18–26 °C, 45–65 %RH), so the OOS investigation shows the room during the
test (TJ-7.7). The floor plan (the audited setting ``monitoring.floor_plan``) places the seven rooms of the line
and the four utility systems. Reseeding a plant adds only what it lacks (:func:`seed_monitoring`).
"""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import Setting
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.monitoring import alarms, environment, historian, tags
from pharmatrace.monitoring.alarm_models import Alarm
from pharmatrace.monitoring.alarm_schemas import AlarmAcknowledge, RuleCreate
from pharmatrace.monitoring.historian import Reading
from pharmatrace.monitoring.models import DataSource, Tag
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
    # particle counters and differential pressure of the grade A/B rooms: no limits of their own, the room's grade
    # limits apply (TJ-6.5, pharmatrace.monitoring.environment)
    _tag("RM-FILL.particles_0_5", "CLEANROOM-MQTT", "plant/cleanroom/RM-FILL#particles_0_5", "/m³", "int", 0, None,
         None, "灌装间悬浮粒子 ≥0.5 µm", 60_000),
    _tag("RM-FILL.particles_5", "CLEANROOM-MQTT", "plant/cleanroom/RM-FILL#particles_5", "/m³", "int", 0, None, None,
         "灌装间悬浮粒子 ≥5 µm", 60_000),
    _tag("RM-FILL-A.particles_0_5", "CLEANROOM-MQTT", "plant/cleanroom/RM-FILL-A#particles_0_5", "/m³", "int", 0,
         None, None, "灌装加塞A级区悬浮粒子 ≥0.5 µm", 60_000),
    _tag("RM-FILL-A.particles_5", "CLEANROOM-MQTT", "plant/cleanroom/RM-FILL-A#particles_5", "/m³", "int", 0, None,
         None, "灌装加塞A级区悬浮粒子 ≥5 µm", 60_000),
    _tag("RM-FILL-A.differential_pressure", "CLEANROOM-MQTT", "plant/cleanroom/RM-FILL-A#dp", "Pa", "decimal", 1,
         None, None, "A级区对B级背景压差", 10_000),
    _tag("RM-LYO.particles_0_5", "CLEANROOM-MQTT", "plant/cleanroom/RM-LYO#particles_0_5", "/m³", "int", 0, None,
         None, "冻干间悬浮粒子 ≥0.5 µm", 60_000),
    _tag("RM-LYO.particles_5", "CLEANROOM-MQTT", "plant/cleanroom/RM-LYO#particles_5", "/m³", "int", 0, None, None,
         "冻干间悬浮粒子 ≥5 µm", 60_000),
    _tag("RM-LYO.differential_pressure", "CLEANROOM-MQTT", "plant/cleanroom/RM-LYO#dp", "Pa", "decimal", 1, None,
         None, "冻干间对相邻C级区压差", 10_000),
    _tag("RM-PREP.conductivity", "WATER-MODBUS", "hr:100", "µS/cm", "decimal", 2, None, "1.3",
         "配液间纯化水使用点电导率", 5000),
    _tag("RM-PREP.toc", "WATER-MODBUS", "hr:101", "ppb", "int", 0, None, "500", "配液间纯化水使用点TOC", 5000),
    # compressed air and pure steam at their points of use in the preparation room, on the same utilities PLC
    # (TJ-6.8): the plant's limits apply (pharmatrace.monitoring.environment.UTILITY_LIMITS)
    _tag("RM-PREP.compressed_air_pressure", "WATER-MODBUS", "hr:110", "MPa", "decimal", 2, None, None,
         "配液间压缩空气使用点压力", 5000),
    _tag("RM-PREP.compressed_air_dew_point", "WATER-MODBUS", "hr:111", "°C", "decimal", 1, None, None,
         "配液间压缩空气压力露点", 5000),
    _tag("RM-PREP.pure_steam_temperature", "WATER-MODBUS", "hr:112", "°C", "decimal", 1, None, None,
         "配液罐SIP纯蒸汽温度", 5000),
    _tag("RM-PREP.pure_steam_condensate_conductivity", "WATER-MODBUS", "hr:113", "µS/cm", "decimal", 2, None, None,
         "纯蒸汽冷凝水电导率", 5000),
    # the hot water-for-injection loop at its point of use in the preparation room, on the same PLC (TJ-6.7): the
    # ``wfi_`` signals make the WFI system's tags; the plant's ChP limits apply (environment.UTILITY_LIMITS)
    _tag("RM-PREP.wfi_conductivity", "WATER-MODBUS", "hr:120", "µS/cm", "decimal", 2, None, None,
         "配液间注射用水使用点电导率（在线，补偿至25 °C）", 5000),
    _tag("RM-PREP.wfi_toc", "WATER-MODBUS", "hr:121", "ppb", "int", 0, None, None, "配液间注射用水使用点TOC", 5000),
    _tag("RM-PREP.wfi_loop_temperature", "WATER-MODBUS", "hr:122", "°C", "decimal", 1, None, None,
         "注射用水热循环回路温度（≥70 °C）", 5000),
    _tag("RM-PREP.wfi_flow", "WATER-MODBUS", "hr:123", "m³/h", "decimal", 2, None, None, "注射用水循环回路回水流量",
         5000),
    # the QC laboratory's room of the demo's instruments (理化室, pharmatrace.lims.reagent_demo), on the same
    # sensors' broker: an OOS investigation reads its temperature and humidity before the test (TJ-7.7)
    _tag("RM-QC-PC.temperature", "CLEANROOM-MQTT", "plant/cleanroom/RM-QC-PC#temperature", "°C", "decimal", 2, "18",
         "26", "理化室温度", 10_000),
    _tag("RM-QC-PC.humidity", "CLEANROOM-MQTT", "plant/cleanroom/RM-QC-PC#humidity", "%RH", "decimal", 1, "45",
         "65", "理化室相对湿度", 10_000),
)  # fmt: skip
BASES = {
    "RM-FILL.temperature": (21.0, 0.6), "RM-FILL.humidity": (52.0, 3.0), "RM-FILL.differential_pressure": (15.0, 1.5),
    "RM-LYO.temperature": (20.5, 0.5), "RM-PREP.conductivity": (0.62, 0.08), "RM-PREP.toc": (140.0, 25.0),
    "RM-FILL.particles_0_5": (820.0, 310.0), "RM-FILL.particles_5": (4.0, 3.0),
    "RM-FILL-A.particles_0_5": (310.0, 140.0), "RM-FILL-A.particles_5": (1.0, 1.0),
    "RM-FILL-A.differential_pressure": (12.5, 0.8), "RM-LYO.particles_0_5": (960.0, 280.0),
    "RM-LYO.particles_5": (5.0, 3.0), "RM-LYO.differential_pressure": (14.0, 1.2),
    "RM-PREP.compressed_air_pressure": (0.62, 0.02), "RM-PREP.compressed_air_dew_point": (-42.0, 1.5),
    "RM-PREP.pure_steam_temperature": (133.0, 1.0), "RM-PREP.pure_steam_condensate_conductivity": (0.45, 0.08),
    "RM-PREP.wfi_conductivity": (0.55, 0.07), "RM-PREP.wfi_toc": (45.0, 12.0),
    "RM-PREP.wfi_loop_temperature": (80.5, 1.2), "RM-PREP.wfi_flow": (6.5, 0.3),
    "RM-QC-PC.temperature": (21.5, 0.7), "RM-QC-PC.humidity": (51.0, 3.5),
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
    # WFI (TJ-6.7): the ChP conductivity table gives 1.1 µS/cm at 20 °C and 1.3 at 25 °C; the reading is compensated
    # to 25 °C, so 1.3 is the action limit and the 20 °C figure serves as the plant's tighter alert limit
    _rule("RM-PREP.wfi_conductivity", "WFI", "注射用水电导率警戒1.1/纠偏1.3 µS/cm（药典，补偿至25 °C）",
          alert_high="1.1", action_high="1.3", on_delay_s=300, off_delay_s=60),
    _rule("RM-PREP.wfi_toc", "WFI", "注射用水TOC纠偏限（药典 0.50 mg/L）", action_high="500", on_delay_s=300),
    _rule("RM-PREP.wfi_loop_temperature", "WFI", "注射用水热循环温度警戒75/纠偏70 °C", alert_low="75",
          action_low="70", deadband="0.5", on_delay_s=60, off_delay_s=60),
    _rule("RM-QC-PC.temperature", "EM", "理化室温度警戒/纠偏", alert_low="19", alert_high="25", action_low="18",
          action_high="26", deadband="0.2", on_delay_s=300, off_delay_s=60),
    _rule("RM-QC-PC.humidity", "EM", "理化室湿度警戒/纠偏", alert_low="48", alert_high="62", action_low="45",
          action_high="65", deadband="1", on_delay_s=300, off_delay_s=60),
    _rule("FD-01.shelf_temperature", "RATE", "板层升降温速率", rate_per_minute="2", on_delay_s=30),
    _rule("RM-FILL-A.particles_0_5", "EM", "A级区悬浮粒子 ≥0.5 µm 警戒/纠偏（附录1）", alert_high="1000",
          action_high="3520", on_delay_s=0),
    _rule("RM-FILL-A.particles_5", "EM", "A级区悬浮粒子 ≥5 µm 警戒/纠偏（附录1）", alert_high="10", action_high="20",
          on_delay_s=0),
)  # fmt: skip
# Excursions written into the demo history (tag, step → value): step 11 is ten minutes ago.
EXCURSIONS = {
    ("RM-FILL.differential_pressure", 5): Decimal("11.2"),
    ("RM-FILL.differential_pressure", 6): Decimal("11.6"),
    ("RM-FILL.differential_pressure", 7): Decimal("11.4"),
    ("RM-PREP.conductivity", 10): Decimal("1.42"),
    ("RM-PREP.conductivity", 11): Decimal("1.48"),
}
FLOOR_PLAN = {  # the line on a 1000 × 600 plan (pharmatrace.monitoring.environment): rooms, then the utilities
    "rooms": {
        "RM-WEIGH": {"x": 20, "y": 20, "w": 180, "h": 200},
        "RM-PREP": {"x": 200, "y": 20, "w": 200, "h": 200},
        "RM-FILL": {"x": 400, "y": 20, "w": 260, "h": 120},
        "RM-FILL-A": {"x": 400, "y": 140, "w": 260, "h": 100},
        "RM-LYO": {"x": 660, "y": 20, "w": 220, "h": 220},
        "RM-CAP": {"x": 400, "y": 260, "w": 260, "h": 180},
        "RM-PACK": {"x": 660, "y": 260, "w": 220, "h": 180},
    },
    "utilities": [
        {"system": "purified_water", "label": "纯化水系统", "x": 20, "y": 470, "w": 220, "h": 100},
        {"system": "wfi", "label": "注射用水系统", "x": 260, "y": 470, "w": 220, "h": 100},
        {"system": "compressed_air", "label": "压缩空气系统", "x": 500, "y": 470, "w": 220, "h": 100},
        {"system": "pure_steam", "label": "纯蒸汽系统", "x": 740, "y": 470, "w": 220, "h": 100},
    ],
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
    """Sources, tags, rules, the floor plan and two hours of values. On a plant that has them already, only what it
    lacks is added — a source, or a tag with its rules and history (the WFI loop, the QC room to a plant seeded
    before them); nothing when nothing is missing. Returns the rows added."""
    with db.sessions() as session:
        sources = set(session.scalars(select(DataSource.code)))
        known = set(session.scalars(select(Tag.name)))
        planned = session.get(Setting, environment.SETTINGS_KEY) is not None
        user = identity.find_user(session, ENGINEER)
        assert user is not None, ENGINEER
        engineer = identity.principal_of(user)
    first = not sources.intersection(s.code for s in SOURCES)
    new_sources = [s for s in SOURCES if s.code not in sources]
    new_tags = [t for t in TAGS if t.name not in known]
    if not new_sources and not new_tags:
        return 0
    new_rules = [r for r in RULES if r.tag in {t.name for t in new_tags}]
    with UnitOfWork(db, engineer.actor, reason="demo plant seed: monitoring sources and tags") as uow:
        for source in new_sources:
            tags.create_source(uow, engineer, source)
        for tag in new_tags:
            tags.create_tag(uow, engineer, tag)
        for rule in new_rules:
            alarms.create_rule(uow, engineer, rule)
        uow.commit()
    added = len(new_sources) + len(new_tags) + len(new_rules)
    if not planned:
        with UnitOfWork(db, engineer.actor, reason="demo plant seed: the floor plan") as uow:
            update = environment.FloorPlanUpdate.model_validate(
                {**FLOOR_PLAN, "reason": "车间平面图（监控布局）首次配置"}
            )
            environment.set_floor_plan(uow, engineer, update)
            uow.commit()
        added += 1
    now = clock.now().replace(microsecond=0)
    by_source: dict[str, list[Reading]] = {}
    for tag in new_tags:
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
        key = f"demo-{code}" if first else f"demo-{code}-{now.isoformat()}"
        result = historian.ingest(db, code, readings, batch_key=key)
        added += 1 + (result.stored if result else 0)
    return added + (_acknowledge_cleared(db) if first else 0)


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
