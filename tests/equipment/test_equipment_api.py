"""The equipment API under /api/v1: register, status, logbooks and the usability answer for the MES, with
the same permission checks as the pages (SH-6.3.2.1, TJ-6.1, TJ-6.4.2, TJ-B.2.1, SH-7.1.2)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from helpers import audit_entries, token
from pharmatrace.storage.engine import Database

API = "/api/v1"
ENGLISH = {"accept-language": "en"}


def as_user(client: TestClient, login: str) -> dict[str, str]:
    return {**token(client, login), **ENGLISH}


def equipment_id(client: TestClient, headers: dict[str, str], code: str) -> int:
    found = client.get(f"{API}/equipment", params={"q": code}, headers=headers).json()
    return int(next(e["id"] for e in found if e["code"] == code))


@pytest.mark.clause("SH-6.3.2.1.a", "SH-6.3.2.1.b", "SH-6.3.2.1.c", "TJ-6.1")
def test_an_engineer_registers_qualifies_and_puts_equipment_into_service(client: TestClient) -> None:
    engineer = as_user(client, "wuhao")
    created = client.post(f"{API}/equipment", headers=engineer, json={
        "code": "iso-01", "name": "无菌隔离器", "equipment_class": "isolator", "room_code": "RM-FILL",
        "cleaning_validity_hours": 24, "sterilisation_validity_hours": 24, "qualification_interval_days": 365,
    })  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["code"], body["room_code"], body["lifecycle"], body["created_by"]) == (
        "ISO-01", "RM-FILL", "installation", "wuhao",
    )  # fmt: skip
    again = client.post(f"{API}/equipment", headers=engineer,
                        json={"code": "ISO-01", "name": "x", "equipment_class": "isolator"})  # fmt: skip
    assert again.status_code == 409 and "already taken" in again.json()["error"]["message"]
    iso = body["id"]
    refused = client.post(f"{API}/equipment/{iso}/lifecycle", headers=engineer,
                          json={"state": "in_service", "reason": "投入使用"})  # fmt: skip
    assert refused.status_code == 409 and "valid qualification" in refused.json()["error"]["message"]
    qualified = client.post(f"{API}/equipment/{iso}/logbook", headers=engineer, json={
        "kind": "qualification", "description": "IQ/OQ/PQ 完成", "result": "pass", "reference": "VR-2026-031",
    })  # fmt: skip
    assert qualified.status_code == 201, qualified.text
    assert qualified.json()["recorded_by"] == "wuhao" and qualified.json()["valid_until"]
    moved = client.post(f"{API}/equipment/{iso}/lifecycle", headers=engineer,
                        json={"state": "in_service", "reason": "确认完成，投入使用"})  # fmt: skip
    assert moved.status_code == 200 and moved.json()["lifecycle"] == "in_service"
    status = client.get(f"{API}/equipment/{iso}/status", headers=engineer).json()
    assert status["qualification"]["effective"] == "qualified"
    assert status["cleaning"] == {"required": True, "recorded": "to_clean", "effective": "to_clean",
                                  "since": None, "valid_until": None}  # fmt: skip
    assert [r["code"] for r in status["usability"]["reasons"]] == ["not_clean", "not_sterile"]
    assert set(status["data_set"]) >= {"SBMC", "SBBH", "YXZT", "QJZT", "QJYXQ", "JYYXQ"}


@pytest.mark.clause("TJ-6.4.2", "TJ-6.1")
def test_the_mes_asks_by_scanned_code_and_gets_every_reason_in_the_readers_language(
    client: TestClient,
) -> None:
    operator = token(client, "zhangwei")
    tank = client.get(f"{API}/equipment/usability", params={"code": "tk-01"}, headers={**operator, **ENGLISH})
    assert tank.status_code == 200
    body = tank.json()
    assert (body["object_type"], body["code"], body["usable"]) == ("equipment", "TK-01", False)
    assert [r["code"] for r in body["reasons"]] == ["cleaning_expired", "sterilisation_expired"]
    assert body["reasons"][0]["message"].startswith("The cleaning expired at 20")
    room = client.get(f"{API}/equipment/usability", params={"code": "RM-FILL"}, headers=operator).json()
    assert (room["object_type"], room["usable"], room["reasons"]) == ("room", True, [])
    unknown = client.get(f"{API}/equipment/usability", params={"code": "NOPE-1"}, headers=operator)
    assert unknown.status_code == 404
    naive = client.get(f"{API}/equipment/usability", params={"code": "FD-01", "at": "2026-11-20T08:00:00"},
                       headers=operator)  # fmt: skip
    assert naive.status_code == 422
    later = client.get(f"{API}/equipment/usability", params={"code": "FD-01", "at": "2099-01-01T08:00:00+08:00"},
                       headers=operator).json()  # fmt: skip
    assert [r["code"] for r in later["reasons"]] == [
        "qualification_expired",
        "cleaning_expired",
        "sterilisation_expired",
    ]


@pytest.mark.clause("TJ-6.4.2", "TJ-6.1", "SH-7.1.3.a")
def test_use_of_equipment_past_validity_is_refused_with_a_clear_reason_and_nothing_changes(
    client: TestClient, db: Database
) -> None:
    operator = as_user(client, "zhangwei")
    tank = equipment_id(client, operator, "TK-01")
    before = client.get(f"{API}/equipment/{tank}/logbook", headers=operator).json(), len(audit_entries(db))
    refused = client.post(f"{API}/equipment/{tank}/logbook", headers=operator,
                          json={"kind": "use", "description": "配液 批号 DH20261120", "batch_no": "DH20261120"})  # fmt: skip
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "not_usable"
    assert error["message"].startswith(
        "Equipment TK-01 (配液罐 500 L) may not be used: The cleaning expired at"
    )
    assert "The sterilisation expired at" in error["message"]
    after = client.get(f"{API}/equipment/{tank}/logbook", headers=operator).json(), len(audit_entries(db))
    assert after == (before[0], before[1] + 1)  # the refusal is recorded, nothing else (SH-7.1.3.a)
    [recorded] = audit_entries(db, event="equipment.use.refused", object_id=str(tank))
    assert recorded.object_type == "equipment" and recorded.actor_login == "zhangwei"


@pytest.mark.clause("TJ-6.1", "TJ-B.2.1")
def test_operators_record_cleaning_and_the_status_follows(client: TestClient) -> None:
    operator = as_user(client, "zhangwei")
    tank = equipment_id(client, operator, "TK-01")
    cleaned = client.post(f"{API}/equipment/{tank}/logbook", headers=operator,
                          json={"kind": "cleaning", "description": "CIP 在线清洗", "reference": "SOP-EQ-231"})  # fmt: skip
    assert cleaned.status_code == 201, cleaned.text
    sterilised = client.post(f"{API}/equipment/{tank}/logbook", headers=operator,
                             json={"kind": "sterilisation", "description": "SIP 在线灭菌"})  # fmt: skip
    assert sterilised.status_code == 201
    answer = client.get(f"{API}/equipment/{tank}/usability", headers=operator).json()
    assert answer["usable"] is True
    status = client.get(f"{API}/equipment/{tank}/status", headers=operator).json()
    assert status["cleaning"]["valid_until"] == cleaned.json()["valid_until"]
    assert status["data_set"]["QJZT"] == "已清洁" and status["data_set"]["MJZT"] == "已灭菌"
    kinds = [e["kind"] for e in client.get(f"{API}/equipment/{tank}/logbook", headers=operator).json()]
    assert kinds[:2] == ["sterilisation", "cleaning"]


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.1", "TJ-10.1.2.2.c")
def test_who_may_record_what(client: TestClient) -> None:
    operator, engineer, admin = (as_user(client, login) for login in ("zhangwei", "wuhao", "sysadmin"))
    balance = equipment_id(client, operator, "BAL-01")
    calibration = {"kind": "calibration", "description": "校准", "result": "pass"}
    refused = client.post(f"{API}/equipment/{balance}/logbook", headers=operator, json=calibration)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_permitted"
    assert (
        client.post(f"{API}/equipment/{balance}/logbook", headers=engineer, json=calibration).status_code
        == 201
    )
    sod = client.post(f"{API}/equipment/{balance}/logbook", headers=admin,
                      json={"kind": "cleaning", "description": "清洁"})  # fmt: skip
    assert sod.status_code == 403 and sod.json()["error"]["code"] == "segregation_of_duties"
    create = client.post(f"{API}/rooms", headers=operator,
                         json={"code": "RM-X1", "name": "x", "grade": "C", "clean_validity_hours": 24})  # fmt: skip
    assert create.status_code == 403
    keeper = as_user(client, "zhouqiang")  # the warehouse keeper does not see equipment
    assert client.get(f"{API}/equipment", headers=keeper).status_code == 403


@pytest.mark.clause("SH-6.3.2.1", "TJ-10.1.3.2.b")
def test_rooms_through_the_api(client: TestClient) -> None:
    engineer = as_user(client, "wuhao")
    bad = client.post(f"{API}/rooms", headers=engineer,
                      json={"code": "RM-QC2", "name": "微生物限度检查室", "grade": "E", "clean_validity_hours": 24})  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "grade"
    created = client.post(f"{API}/rooms", headers=engineer,
                          json={"code": "RM-QC2", "name": "微生物限度检查室", "grade": "B", "clean_validity_hours": 24})  # fmt: skip
    assert created.status_code == 201 and created.json()["effective_status"] == "to_clean"
    room = created.json()["id"]
    assert client.post(f"{API}/rooms/{room}/status", headers=engineer,
                       json={"status": "clean", "reason": "清场"}).status_code == 422  # fmt: skip
    cleaned = client.post(f"{API}/rooms/{room}/logbook", headers=engineer,
                          json={"kind": "cleaning", "description": "按 SOP-CL-110 清洁消毒"})  # fmt: skip
    assert cleaned.status_code == 201
    assert client.get(f"{API}/rooms/{room}/usability", headers=engineer).json()["usable"] is True
    void = client.post(f"{API}/rooms/{room}/void", headers=engineer, json={})
    assert void.status_code == 422  # a void needs a reason
    void = client.post(f"{API}/rooms/{room}/void", headers=engineer, json={"reason": "房间改造为库房"})
    assert void.status_code == 200 and void.json()["voided_at"]
    scales = client.get(f"{API}/scales", headers=engineer).json()
    assert {s["code"] for s in scales} == {"BAL-01", "BAL-02", "SC-01", "BAL-QC-01"}  # + the QC laboratory's
    assert next(s for s in scales if s["code"] == "BAL-02")["data_set"]["CJZT"] == "已过期"
