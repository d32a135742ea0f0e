"""Material identification on the floor (物料确认) and the scale interfaces (TJ-6.4.3.3.e, TJ-6.4.1, TJ-6.3.2.2).

SOP in short: on the identification step the operator scans each container; the system compares material,
lot, status and label with the control recipe's BOM and the lot record. A wrong material, a lot QA has not
released, a label that does not match, or a code that is no container of the plant is refused on the spot,
and the refusal is in the batch order's trail. The step cannot be completed before every BOM material of
the step is identified.
"""

from __future__ import annotations

import pytest
from dispensing_plant import containers, count_new, lot_number, new_order, new_scale, release_lot, run_step
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import audit_entries, principal, token
from pharmatrace.codes import gs1
from pharmatrace.mes import dispensing, execution
from pharmatrace.mes.dispensing_models import MaterialIdentification, ScaleEndpoint
from pharmatrace.storage.engine import Database
from pharmatrace.wms.labels import element_string
from pharmatrace.wms.models import Container


def _identify(client: TestClient, batch_no: str, scan: str, login: str = "zhangwei") -> dict[str, object]:
    response = client.post(f"/api/v1/mes/batches/{batch_no}/steps/CMP-ID/identifications", json={"scan": scan},
                           headers=token(client, login))  # fmt: skip
    return {"status": response.status_code, **response.json()}


def _missing(db: Database, batch_no: str, step: str) -> list[str]:
    with db.sessions() as session:
        return dispensing.missing_evidence(session, execution.get_order(session, batch_no), step)


@pytest.mark.clause("TJ-6.4.3.3.e", "TJ-6.4.1")
def test_a_container_of_a_lot_not_released_is_refused_and_recorded(db: Database, client: TestClient) -> None:
    batch_no = new_order(db)
    run_step(db, batch_no, "CMP-ID")
    container = containers(db)[0]  # the mannitol lot is still under test
    refused = _identify(client, batch_no, container)
    assert refused["status"] == 409 and refused["error"]["code"] == "material_refused"  # type: ignore[index]
    entry = audit_entries(db, event="mes.material.refused")[-1]
    assert entry.object_type == "batch_order" and entry.changes["action"][1] == "identification"
    assert any("is not released by QA (status: under_test)" in p for p in entry.changes["problems"][1])
    assert count_new(db, MaterialIdentification) == 0
    assert _missing(db, batch_no, "CMP-ID") == ["No container of EXC-MAN-01 is identified"]


@pytest.mark.clause("TJ-6.4.3.3.e")
def test_a_wrong_material_a_foreign_code_and_a_label_of_another_lot_are_refused(
    db: Database, client: TestClient
) -> None:
    batch_no = new_order(db)
    release_lot(db)
    run_step(db, batch_no, "CMP-ID")
    salvia = containers(db, "DS20260915")[2]
    assert _identify(client, batch_no, salvia)["status"] == 409
    assert _identify(client, batch_no, "NOT-A-CONTAINER-42")["status"] == 409
    with db.sessions() as session:
        mannitol = session.scalar(select(Container).where(Container.code == containers(db)[0]))
        assert mannitol is not None
        genuine = element_string(mannitol)
    forged = gs1.ElementString([(ai, "FAKE123" if ai == "10" else value) for ai, value in genuine.elements])
    assert _identify(client, batch_no, forged.element_string())["status"] == 409
    problems = [e.changes["problems"][1] for e in audit_entries(db, event="mes.material.refused")[-3:]]
    assert "not the material of this step (EXC-MAN-01)" in problems[0][0]
    assert "is not a container label of this plant" in problems[1][0]
    assert "The label shows lot FAKE123" in problems[2][0]
    assert count_new(db, MaterialIdentification) == 0


@pytest.mark.clause("TJ-6.4.3.3.e")
def test_the_right_container_is_identified_by_its_gs1_label_and_completes_the_evidence(
    db: Database, client: TestClient
) -> None:
    batch_no = new_order(db)
    release_lot(db)
    run_step(db, batch_no, "CMP-ID")
    with db.sessions() as session:
        mannitol = session.scalar(select(Container).where(Container.code == containers(db)[0]))
        assert mannitol is not None
        scan = element_string(mannitol).element_string()
    done = _identify(client, batch_no, scan)
    assert done["status"] == 201, done
    assert done["material_code"] == "EXC-MAN-01" and done["lot_number"] == lot_number(db)
    assert done["lot_status"] == "released" and done["identified_by"] == "zhangwei"
    assert _missing(db, batch_no, "CMP-ID") == []
    listed = client.get(f"/api/v1/mes/batches/{batch_no}/steps/CMP-ID/identifications",
                        headers=token(client, "chenjing"))  # fmt: skip
    assert [i["container_code"] for i in listed.json()] == [containers(db)[0]]


@pytest.mark.clause("TJ-6.3.2.2.a", "TJ-6.1")
def test_scale_interfaces_are_managed_by_the_equipment_engineer(db: Database, client: TestClient) -> None:
    body = {"equipment": new_scale(db), "host": "10.0.8.21", "port": 4305}
    assert client.post("/api/v1/mes/scales", json=body, headers=token(client, "zhangwei")).status_code == 403
    engineer = token(client, "wuhao")
    tank = client.post("/api/v1/mes/scales", json={**body, "equipment": "TK-01"}, headers=engineer)
    assert tank.status_code == 422  # not a weighing instrument
    created = client.post("/api/v1/mes/scales", json=body, headers=engineer)
    assert created.status_code == 201, created.text
    assert created.json()["equipment_code"] == "SC-02" and created.json()["calibration"] == "calibrated"
    assert client.post("/api/v1/mes/scales", json=body, headers=engineer).status_code == 409
    endpoint_id = created.json()["id"]
    no_reason = client.patch(f"/api/v1/mes/scales/{endpoint_id}", json={"host": "10.0.8.22", "port": 4305},
                             headers=engineer)  # fmt: skip
    assert no_reason.status_code == 422
    moved = client.patch(f"/api/v1/mes/scales/{endpoint_id}",
                         json={"host": "10.0.8.22", "port": 4306, "reason": "称量间网络改造"}, headers=engineer)  # fmt: skip
    assert moved.status_code == 200 and moved.json()["port"] == 4306
    entry = audit_entries(db, object_type="scale_endpoint", object_id=str(endpoint_id))[-1]
    assert (
        entry.event == "update" and entry.reason == "称量间网络改造" and entry.changes["port"] == [4305, 4306]
    )
    listed = client.get("/api/v1/mes/scales", headers=token(client, "zhangwei")).json()
    assert ("SC-02", "10.0.8.22") in [(e["equipment_code"], e["host"]) for e in listed]
    with db.sessions() as session:
        created_by = session.scalar(select(ScaleEndpoint.created_by).where(ScaleEndpoint.id == endpoint_id))
        assert created_by == principal(db, "wuhao").login


@pytest.mark.clause("TJ-6.4.3.3.e", "TJ-6.4.3.3")
def test_the_batch_engine_completes_the_step_only_once_the_container_is_identified(
    db: Database, client: TestClient
) -> None:
    from pharmatrace.demo.seed import DEMO_PASSWORD
    from pharmatrace.kernel.uow import UnitOfWork
    from pharmatrace.mes.execution import EvidenceMissing
    from pharmatrace.mes.execution_schemas import StepComplete

    batch_no = new_order(db)
    release_lot(db)
    run_step(db, batch_no, "CMP-ID")
    operator = principal(db, "zhangwei")

    def complete() -> str:
        with UnitOfWork(db, operator.actor) as uow:
            order = execution.get_order(uow.session, batch_no)
            row = execution.complete(
                uow, operator, order, "CMP-ID", StepComplete(password=DEMO_PASSWORD, login="zhangwei")
            )
            uow.commit()
            return row.state

    with pytest.raises(EvidenceMissing) as refused:
        complete()
    assert "No container of EXC-MAN-01 is identified" in str(refused.value)
    assert _identify(client, batch_no, containers(db)[0])["status"] == 201
    assert complete() in ("signing", "done")
