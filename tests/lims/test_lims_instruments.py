"""Laboratory instruments (TJ-7.4): they live in the equipment register; a test cannot use one whose
calibration is missing or expired at the time of the test."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import actor, token
from pharmatrace.equipment import service as equipment
from pharmatrace.equipment.models import Equipment
from pharmatrace.equipment.schemas import EquipmentCreate, LogEntryCreate
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import NotFound
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import instruments
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app


@pytest.mark.clause("TJ-7.4")
def test_the_lab_instruments_come_from_the_equipment_register(db: Database) -> None:
    with db.sessions() as session:
        found = instruments.lab_instruments(session)
        codes = [e.code for e in found]
        assert {"HPLC-01", "PH-01", "BAL-QC-01", "UV-01"} <= set(codes)
        assert not {"FD-01", "BAL-01", "TK-01"} & set(codes)  # production equipment is not the laboratory's
        balance = session.scalar(select(Equipment).where(Equipment.code == "BAL-QC-01"))
        assert (
            balance is not None
            and balance.room is not None
            and balance.room.workshop == instruments.LAB_WORKSHOP
        )


@pytest.mark.clause("TJ-7.4")
def test_a_calibrated_instrument_may_be_used_and_an_expired_one_is_refused(db: Database) -> None:
    now = clock.now()
    with db.sessions() as session:
        assert instruments.require_calibrated(session, "hplc-01", now).code == "HPLC-01"
        assert instruments.require_calibrated(session, "BAL-QC-01", now).code == "BAL-QC-01"
        with pytest.raises(instruments.InstrumentUnusable) as refused:
            instruments.require_calibrated(session, "UV-01", now)
        uv = session.scalar(select(Equipment).where(Equipment.code == "UV-01"))
        assert uv is not None and uv.calibrated_until is not None
        # the same instrument was usable before its calibration ran out
        assert (
            instruments.require_calibrated(session, "UV-01", uv.calibrated_until - timedelta(days=1)).code
            == "UV-01"
        )
    error = refused.value
    assert error.http_status == 409 and error.code == "instrument_unusable"
    assert str(error).startswith("Instrument UV-01 (紫外-可见分光光度计) may not be used for a test:")
    assert "The calibration expired at" in str(error)
    assert [r.code for r in error.reasons] == ["calibration_expired"]


@pytest.mark.clause("TJ-7.4")
def test_an_instrument_without_calibration_or_not_an_instrument_is_refused(db: Database) -> None:
    engineer = actor(db, "wuhao")
    with UnitOfWork(db, engineer, reason="new KF titrator") as uow:
        made = equipment.create_equipment(uow, EquipmentCreate(
            code="KF-01", name="卡尔费休水分测定仪", equipment_class="instrument", gmp_critical=False,
            room_code="RM-QC-PC",
        ))  # fmt: skip
        equipment.change_lifecycle(uow, made.id, "in_service")
        uow.commit()
    now = clock.now()
    with db.sessions() as session:
        with pytest.raises(instruments.InstrumentUnusable, match="no calibration in the equipment register"):
            instruments.require_calibrated(session, "KF-01", now)
        with pytest.raises(NotFound, match="No instrument with the code “RM-QC-PC”"):
            instruments.require_calibrated(session, "RM-QC-PC", now)
        with pytest.raises(NotFound):
            instruments.require_calibrated(session, "NOPE-99", now)


@pytest.mark.clause("TJ-7.4")
def test_a_failed_calibration_makes_the_instrument_unusable_at_once(db: Database) -> None:
    with db.sessions() as session:
        ph = session.scalar(select(Equipment.id).where(Equipment.code == "PH-01"))
    assert ph is not None
    with UnitOfWork(db, actor(db, "wuhao"), reason="annual verification") as uow:
        equipment.record_equipment_entry(uow, ph, LogEntryCreate(kind="calibration", description="示值误差超差",
                                                                 result="fail", reference="JD-2026-1302"))  # fmt: skip
        uow.commit()
    with db.sessions() as session, pytest.raises(instruments.InstrumentUnusable, match="out of tolerance"):
        instruments.require_calibrated(session, "PH-01", clock.now())


@pytest.mark.clause("TJ-7.4", "SH-7.1.2")
def test_the_instrument_list_and_page(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        listed = client.get("/api/v1/lims/instruments", headers=token(client, "sunli"))
        assert listed.status_code == 200
        by_code = {i["code"]: i for i in listed.json()}
        assert by_code["HPLC-01"]["usable"] and by_code["HPLC-01"]["calibration"]["effective"] == "calibrated"
        assert not by_code["UV-01"]["usable"] and by_code["UV-01"]["calibration"]["effective"] == "expired"
        one = client.get("/api/v1/lims/instruments/uv-01", headers=token(client, "wangfang"))
        assert one.status_code == 200 and one.json()["reasons"][0]["code"] == "calibration_expired"
        assert client.get("/api/v1/lims/instruments", headers=token(client, "zhouqiang")).status_code == 403
        client.cookies.set("pt_lang", "en")
        client.post("/login", data={"login": "wangfang", "password": "Pharma@2026"})
        page = client.get("/lims/instruments")
    assert page.status_code == 200
    assert page.text.count("data-code=") >= 4 and 'data-calibration="expired"' in page.text
    assert "The calibration expired at" in page.text
