"""Weighing on a batch step over MT-SICS, end to end: the simulated balance on an ephemeral TCP port, its
address registered, the API reading tare and stable net weight from it (TJ-6.3.2.2.a/b, TJ-B.2.2.2).

SOP in short: the weigher scans the mannitol container and chooses the balance; the vessel is tared; the
mannitol is weighed; the system compares with the target, records the weighing with the scale's status and
issues the weighed quantity to the batch; out of tolerance, an expired calibration or a wrong container is
refused on the spot and the refusal is in the trail.
"""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from dispensing_plant import (
    BAL_02,
    balance,
    calibrate,
    containers,
    count_new,
    lot_number,
    new_order,
    release_lot,
    run_step,
    stock_of,
)
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import actor, audit_entries, token
from pharmatrace.adapters.simulators.mtsics import MtSicsSimulator
from pharmatrace.mes.dispensing_models import MaterialCharge, WeighingRecord
from pharmatrace.mes.execution_models import BatchException, BatchOrder
from pharmatrace.storage.engine import Database

VESSEL = Decimal("150.00")  # g, the stainless-steel scoop vessel


@pytest.fixture
def batch(db: Database) -> str:
    """A released order with the mannitol weighing step CMP-W running and the mannitol lot released."""
    batch_no = new_order(db)
    release_lot(db)
    run_step(db, batch_no, "CMP-W")
    return batch_no


def _url(batch_no: str, step: str, what: str) -> str:
    return f"/api/v1/mes/batches/{batch_no}/steps/{step}/{what}"


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.3.2.2.b", "TJ-B.2.2.2")
def test_weighing_reads_tare_and_net_from_the_balance_over_mtsics_and_issues_the_quantity(
    db: Database, client: TestClient, batch: str
) -> None:
    calibrate(db)
    container = containers(db)[0]
    before = stock_of(db, container)
    weigher = token(client, "zhangwei")
    simulator = MtSicsSimulator(BAL_02, port=0)  # the balance on an ephemeral loopback port
    with simulator.running_in_thread() as scale:
        engineer = token(client, "wuhao")
        bal = next(
            e
            for e in client.get("/api/v1/mes/scales", headers=engineer).json()
            if e["equipment_code"] == "BAL-02"
        )
        moved = client.patch(f"/api/v1/mes/scales/{bal['id']}", headers=engineer,
                             json={"host": "127.0.0.1", "port": scale.port, "reason": "称量间天平接口地址变更"})  # fmt: skip
        assert moved.status_code == 200, moved.text
        scale.set_load(VESSEL)
        tared = client.post(_url(batch, "CMP-W", "tare"), json={"scale": "BAL-02"}, headers=weigher)
        assert tared.status_code == 200, tared.text
        assert Decimal(tared.json()["tare"]) == VESSEL and tared.json()["unit"] == "g"
        scale.set_load(VESSEL + Decimal("600.50"))
        weighed = client.post(_url(batch, "CMP-W", "weighings"), json={"container": container, "scale": "BAL-02"},
                              headers=weigher)  # fmt: skip
        commands = list(scale.commands)
    assert weighed.status_code == 201, weighed.text
    record = weighed.json()
    assert "TA" in commands and "S" in commands  # the tare and the net were read from the balance
    assert Decimal(record["net"]) == Decimal("600.50") and Decimal(record["tare"]) == VESSEL
    assert Decimal(record["gross"]) == Decimal("750.50") and record["weight_unit"] == "g"
    assert Decimal(record["quantity"]) == Decimal("0.6005") and record["unit"] == "kg"
    assert record["calibration_status"] == "calibrated" and record["scale_code"] == "BAL-02"
    assert record["lot_number"] == lot_number(db) and record["weighed_by"] == "zhangwei"
    assert record["source"] == "scale" and record["batch_no"] == batch
    assert record["data_set"]["CJZT"] == "已校验" and record["data_set"]["CJJD"] == "0.01 g"
    # the weighed quantity left the container for the batch (0.6005 kg → 0.600 kg at the stock's scale)
    assert stock_of(db, container) == before - Decimal("0.600")
    evidence = client.get(_url(batch, "CMP-W", "evidence"), headers=weigher).json()
    assert evidence["missing"] == []
    assert [w["code"] for w in evidence["weighings"]] == [record["code"]]


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_a_weight_out_of_tolerance_is_refused_and_the_refusal_recorded(
    db: Database, client: TestClient, batch: str
) -> None:
    calibrate(db)
    container = containers(db)[0]
    before = stock_of(db, container)
    weigher = token(client, "zhangwei")
    with balance(db) as scale:
        scale.set_load(VESSEL)
        assert (
            client.post(_url(batch, "CMP-W", "tare"), json={"scale": "BAL-02"}, headers=weigher).status_code
            == 200
        )
        scale.set_load(VESSEL + Decimal("610.00"))  # 0.610 kg: the band is 0.597 … 0.603 kg
        refused = client.post(_url(batch, "CMP-W", "weighings"), json={"container": container, "scale": "BAL-02"},
                              headers=weigher)  # fmt: skip
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "weighing_refused"
    assert count_new(db, WeighingRecord) == 0 and stock_of(db, container) == before
    entry = audit_entries(db, event="mes.weighing.refused")[-1]
    assert entry.actor_login == "zhangwei" and "out_of_tolerance" in entry.changes["refusals"][1]
    assert entry.changes["net"][1] == "610" and "outside the tolerance" in (entry.reason or "")


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.3.2.2.b")
def test_a_scale_whose_calibration_expired_is_refused_before_anything_is_weighed(
    db: Database, client: TestClient, batch: str
) -> None:
    container = containers(db)[0]  # BAL-02's calibration of 200 days ago expired after 180 (demo plant)
    weigher = token(client, "zhangwei")
    with balance(db) as scale:
        scale.set_load(VESSEL + Decimal("600.00"))
        refused = client.post(_url(batch, "CMP-W", "weighings"), json={"container": container, "scale": "BAL-02"},
                              headers=weigher)  # fmt: skip
        commands = list(scale.commands)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "scale_refused"
    assert "S" not in commands and "TA" not in commands  # refused before the balance was read
    assert count_new(db, WeighingRecord) == 0
    entry = audit_entries(db, event="mes.weighing.refused")[-1]
    assert entry.changes["refusals"][1] == ["calibration_expired"] and entry.changes["scale"][1] == "BAL-02"


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.4.3.3.e")
def test_a_container_of_another_material_is_refused_at_weighing_and_recorded(
    db: Database, client: TestClient, batch: str
) -> None:
    calibrate(db)
    salvia = containers(db, "DS20260915")[2]  # released 丹参, but not the mannitol of CMP-W
    with balance(db):
        refused = client.post(_url(batch, "CMP-W", "weighings"), json={"container": salvia, "scale": "BAL-02"},
                              headers=token(client, "zhangwei"))  # fmt: skip
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "material_refused"
    entry = audit_entries(db, event="mes.material.refused")[-1]
    assert entry.changes["action"][1] == "weighing" and entry.changes["scan"][1] == salvia
    assert any("not the material of this step (EXC-MAN-01)" in p for p in entry.changes["problems"][1])
    assert count_new(db, WeighingRecord) == 0


@pytest.mark.clause("TJ-6.3.2.2.a")
def test_weighing_needs_the_step_running_and_the_execute_permission(db: Database, client: TestClient) -> None:
    batch_no = new_order(db)
    release_lot(db)
    body = {"container": containers(db)[0], "scale": "BAL-02"}
    waiting = client.post(_url(batch_no, "CMP-W", "weighings"), json=body, headers=token(client, "zhangwei"))
    assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "step_refused"
    run_step(db, batch_no, "CMP-W")
    supervisor = client.post(_url(batch_no, "CMP-W", "weighings"), json=body, headers=token(client, "lina"))
    assert supervisor.status_code == 403
    wrong_type = client.post(
        _url(batch_no, "CMP-ID", "weighings"), json=body, headers=token(client, "zhangwei")
    )
    assert wrong_type.status_code == 422
    assert count_new(db, WeighingRecord) == 0


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64  # what a photo of the display starts with


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.4.3.3.i")
def test_manual_weighing_needs_reason_photo_and_a_supervisor_and_raises_an_exception(
    db: Database, client: TestClient, batch: str
) -> None:
    calibrate(db)
    container = containers(db)[0]
    weigher = token(client, "zhangwei")
    form = {"container": container, "scale": "BAL-02", "tare": "150.00", "net": "600.20",
            "reason": "天平通讯口故障，按显示值录入", "supervisor": "lina", "supervisor_password": "Pharma@2026"}  # fmt: skip
    url = _url(batch, "CMP-W", "manual-weighings")
    no_photo = client.post(url, data=form, headers=weigher)
    assert no_photo.status_code == 422
    not_a_photo = client.post(url, data=form, files={"photo": ("x.pdf", b"%PDF-1.4 ...", "image/png")},
                              headers=weigher)  # fmt: skip
    assert not_a_photo.status_code == 422 and not_a_photo.json()["error"]["code"] == "stored_file_refused"
    no_reason = client.post(url, data={**form, "reason": ""}, files={"photo": ("d.png", PNG, "image/png")},
                            headers=weigher)  # fmt: skip
    assert no_reason.status_code == 422
    wrong_password = client.post(url, data={**form, "supervisor_password": "nope"},
                                 files={"photo": ("d.png", PNG, "image/png")}, headers=weigher)  # fmt: skip
    assert wrong_password.status_code == 401
    not_a_supervisor = client.post(url, data={**form, "supervisor": "liuyang"},
                                   files={"photo": ("d.png", PNG, "image/png")}, headers=weigher)  # fmt: skip
    assert not_a_supervisor.status_code == 403
    assert count_new(db, WeighingRecord) == 0 and count_new(db, BatchException) == 0
    done = client.post(url, data=form, files={"photo": ("display.png", PNG, "image/png")}, headers=weigher)
    assert done.status_code == 201, done.text
    record = done.json()
    assert record["source"] == "manual" and record["approved_by"] == "lina"
    assert record["manual_reason"] == form["reason"] and len(record["photo_sm3"]) == 64
    photo = client.get(f"/api/v1/mes/weighings/{record['id']}/photo", headers=weigher)
    assert photo.status_code == 200 and photo.content == PNG
    with db.sessions() as session:
        mine = select(BatchException).join(BatchOrder).where(BatchOrder.batch_no == batch)
        exception = session.scalars(mine).one()
        assert exception.kind == "manual_weighing" and exception.step_code == "CMP-W"
        assert exception.status == "open" and record["code"] in exception.evidence


@pytest.mark.pages
@pytest.mark.clause("TJ-6.3.2.2.b", "TJ-6.3.2.2.c", "TJ-6.3.1")
def test_the_weighing_label_carries_batch_material_lot_net_weight_and_weigher(
    db: Database, client: TestClient, batch: str
) -> None:
    from pypdf import PdfReader

    calibrate(db)
    weigher = token(client, "zhangwei")
    with balance(db) as scale:
        scale.set_load(VESSEL)
        client.post(_url(batch, "CMP-W", "tare"), json={"scale": "BAL-02"}, headers=weigher)
        scale.set_load(VESSEL + Decimal("599.80"))
        record = client.post(_url(batch, "CMP-W", "weighings"),
                             json={"container": containers(db)[1], "scale": "BAL-02"}, headers=weigher).json()  # fmt: skip
    printed = client.post(f"/api/v1/mes/weighings/{record['id']}/label", headers=weigher)
    assert printed.status_code == 200 and printed.headers["content-type"] == "application/pdf"
    pages = PdfReader(io.BytesIO(printed.content)).pages
    text = "".join(page.extract_text() for page in pages).replace("\x00", "")  # the CJK font's text is UTF-16
    for expected in (batch, "甘露醇", lot_number(db), "599.8 g", "张伟", record["code"]):
        assert expected in text, expected
    entry = audit_entries(db, event="label.print", object_type="weighing_record")[-1]
    assert entry.object_id == str(record["id"]) and entry.actor_login == "zhangwei"


@pytest.mark.clause("TJ-B.2.2.2", "TJ-B.1.3")
def test_the_weighing_data_set_exports_the_weighing(db: Database, client: TestClient, batch: str) -> None:
    calibrate(db)
    with balance(db) as scale:
        scale.set_load(Decimal("600.10"))
        weighed = client.post(_url(batch, "CMP-W", "weighings"), json={"container": containers(db)[0], "scale": "BAL-02"},
                              headers=token(client, "zhangwei"))  # fmt: skip
    assert weighed.status_code == 201, weighed.text
    exported = client.get("/api/v1/exchange/datasets/TJ-B.2.2.2", headers=token(client, "chenjing"))
    assert exported.status_code == 200, exported.text
    records = json.loads(exported.content)["records"]
    assert records[-1] == {
        "CJMC": "电子天平 6.2 kg", "CJBH": "BAL-02", "CJZT": "已校验", "CJJD": "0.01 g",
        "CPMC": "注射用丹红冻干粉 200 mg/支", "CPGG": "200 mg/支", "CPPH": batch, "WLMC": records[-1]["WLMC"],
        "WLPH": lot_number(db), "CLZL": "600.1 g", "CLR": "张伟（zhangwei）", "CLRQ": records[-1]["CLRQ"],
    }  # fmt: skip
    assert "甘露醇" in str(records[-1]["WLMC"]) and len(str(records[-1]["CLRQ"])) == 8


@pytest.mark.clause("TJ-6.4.3.3.e")
def test_charging_takes_the_weighed_portion_by_its_label_once(
    db: Database, client: TestClient, batch: str
) -> None:
    calibrate(db)
    weigher = token(client, "zhangwei")
    with balance(db) as scale:
        scale.set_load(Decimal("600.00"))
        record = client.post(_url(batch, "CMP-W", "weighings"),
                             json={"container": containers(db)[0], "scale": "BAL-02"}, headers=weigher).json()  # fmt: skip
    run_step(db, batch, "CMP-C")
    missing = client.get(_url(batch, "CMP-C", "evidence"), headers=weigher).json()["missing"]
    assert missing == ["No charge of EXC-MAN-01 is recorded"]
    charged = client.post(_url(batch, "CMP-C", "charges"), json={"scan": record["code"]}, headers=weigher)
    assert charged.status_code == 201, charged.text
    assert charged.json()["lot_number"] == lot_number(db) and Decimal(charged.json()["quantity"]) == Decimal(
        "0.6"
    )
    again = client.post(_url(batch, "CMP-C", "charges"), json={"scan": record["code"]}, headers=weigher)
    assert again.status_code == 409 and again.json()["error"]["code"] == "material_refused"
    assert count_new(db, MaterialCharge) == 1
    assert client.get(_url(batch, "CMP-C", "evidence"), headers=weigher).json()["missing"] == []


@pytest.mark.pages
@pytest.mark.clause("TJ-6.3.2.2.a")
def test_a_scale_that_does_not_answer_leaves_nothing_behind(
    db: Database, client: TestClient, batch: str
) -> None:
    import socket

    from dispensing_plant import register

    calibrate(db)
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        silent = probe.getsockname()[1]
    register(db, silent)
    container = containers(db)[0]
    before = stock_of(db, container)
    refused = client.post(_url(batch, "CMP-W", "weighings"), json={"container": container, "scale": "BAL-02"},
                          headers=token(client, "zhangwei"))  # fmt: skip
    assert refused.status_code == 504 and refused.json()["error"]["code"] == "scale_not_responding"
    assert count_new(db, WeighingRecord) == 0 and stock_of(db, container) == before


@pytest.mark.clause("TJ-6.4.3.3.e", "TJ-6.4.1")
def test_charging_from_a_container_issues_it_and_never_more_than_the_bom(
    db: Database, client: TestClient, batch: str
) -> None:
    run_step(db, batch, "CMP-C")
    operator = token(client, "zhangwei")
    container = containers(db)[3]
    before = stock_of(db, container)
    url = _url(batch, "CMP-C", "charges")
    no_quantity = client.post(url, json={"scan": container}, headers=operator)
    assert no_quantity.status_code == 422
    charged = client.post(url, json={"scan": container, "quantity": "0.6"}, headers=operator)
    assert charged.status_code == 201, charged.text
    assert charged.json()["source"] == "container" and charged.json()["weighing_code"] is None
    assert stock_of(db, container) == before - Decimal("0.6")
    too_much = client.post(url, json={"scan": container, "quantity": "0.01"}, headers=operator)
    assert too_much.status_code == 409 and too_much.json()["error"]["code"] == "material_refused"
    entry = audit_entries(db, event="mes.material.refused")[-1]
    assert (
        entry.changes["action"][1] == "charging" and "would exceed the BOM" in entry.changes["problems"][1][0]
    )
    assert stock_of(db, container) == before - Decimal("0.6") and count_new(db, MaterialCharge) == 1
    vials = containers(db, "GL261002")[0]  # a rejected lot of vials, on a step that charges mannitol
    refused = client.post(url, json={"scan": vials, "quantity": "1"}, headers=operator)
    assert refused.status_code == 409
    problems = audit_entries(db, event="mes.material.refused")[-1].changes["problems"][1]
    assert any("not released by QA (status: rejected)" in p for p in problems)
    assert any("not the material of this step" in p for p in problems)


@pytest.mark.pages
@pytest.mark.clause("TJ-6.3.2.2.a")
def test_a_weight_that_never_settles_is_no_result(
    db: Database, client: TestClient, batch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pharmatrace.mes import dispensing

    monkeypatch.setattr(dispensing, "SCALE_TIMEOUTS", {"stable_timeout": 0.6})
    calibrate(db)
    with balance(db) as scale:
        scale.set_load(Decimal("600.00"))
        scale.set_unstable(True)  # a draught on the balance
        refused = client.post(_url(batch, "CMP-W", "weighings"),
                              json={"container": containers(db)[0], "scale": "BAL-02"},
                              headers=token(client, "zhangwei"))  # fmt: skip
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "scale_not_stable"
    assert count_new(db, WeighingRecord) == 0


@pytest.mark.clause("TJ-6.1", "TJ-6.3.2.2.a")
def test_a_balance_with_a_fault_may_not_weigh_and_the_refusal_is_on_its_record(
    db: Database, client: TestClient, batch: str
) -> None:
    from pharmatrace.equipment import service as equipment_service
    from pharmatrace.equipment.models import Equipment
    from pharmatrace.kernel.uow import UnitOfWork

    calibrate(db)
    with UnitOfWork(db, actor(db, "wuhao"), reason="称量显示跳动，报修") as uow:
        bal = uow.session.scalar(select(Equipment).where(Equipment.code == "BAL-02"))
        assert bal is not None
        equipment_service.set_operating_status(uow, bal.id, "fault")
        uow.commit()
        bal_id = bal.id
    with balance(db) as scale:
        scale.set_load(Decimal("600.00"))
        refused = client.post(_url(batch, "CMP-W", "weighings"),
                              json={"container": containers(db)[0], "scale": "BAL-02"},
                              headers=token(client, "zhangwei"))  # fmt: skip
        assert "S" not in list(scale.commands)
    assert refused.status_code == 409, refused.text
    entry = audit_entries(db, event="equipment.use.refused", object_id=str(bal_id))[-1]
    assert entry.changes["action"][1] == "weighing" and entry.changes["refusals"][1] == ["fault"]
    assert entry.changes["batch_no"][1] == batch and count_new(db, WeighingRecord) == 0
