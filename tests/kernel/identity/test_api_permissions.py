"""Every ``/api/v1`` endpoint × every role: allowed or refused, the same check as the UI (SH-7.1.2)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from helpers import LOGIN_BY_ROLE, ROLES, token
from pharmatrace.web.app import API_PREFIX, api_routers
from pharmatrace.web.deps import Requires

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

# Who may pass each permission, written out from the plant's role design, not derived from the code.
ALLOWED: dict[str, set[str]] = {
    "admin.users.view": {"system_admin", "inspector"},
    "admin.users.manage": {"system_admin"},
    "admin.roles.manage": {"system_admin"},
    "admin.settings.manage": {"system_admin"},
    "admin.access_review.view": {"system_admin", "qa_reviewer", "inspector"},
    "admin.clock.view": {"system_admin", "qa_reviewer", "inspector"},
    "admin.compliance.view": {"system_admin", "qa_reviewer", "qa_release", "inspector"},
    "audit.trail.view": {"system_admin", "qa_reviewer", "qa_release", "qc_reviewer", "inspector"},
    "wms.material.view": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_analyst",
        "qc_reviewer",
        "warehouse_keeper",
        "inspector",
    },
    "wms.material.manage": {"warehouse_keeper"},
    "wms.material.approve": {"qa_reviewer", "qa_release"},  # QA releases and rejects lots
    "wms.lot.receive": {"warehouse_keeper"},  # receives, scans and prints container labels
    "wms.stock.move": {"warehouse_keeper"},
    "wms.location.manage": {"warehouse_keeper"},
    "wms.anomaly.close": {"qa_reviewer", "qa_release"},  # QA assesses storage anomalies
    "mes.batch.execute": {"production_operator"},  # intermediates: stock-in, moves, charging
    # master recipes (TJ-6.4.3.1): production reads them, the supervisor authors, QA reviews and approves
    "mes.batch.view": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "inspector",
    },
    "mes.recipe.author": {"production_supervisor"},
    "mes.batch.supervise": {"production_supervisor"},  # plans, releases, verifies, decides exceptions
    "mes.batch.review": {"qa_reviewer", "qa_release"},  # the review signature of a master recipe version
    "mes.recipe.approve": {"qa_reviewer"},
    "lims.sample.manage": {"qc_analyst"},  # sampling puts a lot under test
    # specifications (TJ-7.2): the laboratory, QA, production's supervisor and the inspector read them; the QC
    # reviewer authors them, the qualified person approves them (signed)
    "lims.view": {
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_analyst",
        "qc_reviewer",
        "inspector",
    },
    "lims.spec.author": {"qc_reviewer"},
    "lims.spec.approve": {"qa_release"},
    # reagents, standards and solutions (TJ-7.6): the QC analyst receives, prepares, issues and standardizes;
    # the re-standardization of a volumetric solution is a QC reviewer's (second person, signed)
    "lims.reagent.manage": {"qc_analyst"},
    "lims.result.review": {"qc_reviewer"},
    # test orders and results (TJ-7.3, TJ-7.4): the QC analyst orders, enters, attaches instrument files; the QC
    # reviewer reviews (signed, never their own)
    "lims.result.enter": {"qc_analyst"},
    "qms.supplier.manage": {"qa_reviewer"},
    # deviations (TJ-6.4.4): whoever meets one on the floor, in the laboratory or the store raises it; quality
    # records are read by supervisors, QA, the QC reviewer and the inspector; QA classifies, assesses and closes
    "qms.view": {
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_reviewer",
        "inspector",
        "equipment_engineer",
    },
    "qms.deviation.raise": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_analyst",
        "qc_reviewer",
        "warehouse_keeper",
        "equipment_engineer",
    },
    "qms.deviation.approve": {"qa_reviewer", "qa_release"},
    # change control (TJ-10.3): the production supervisor and the qualified person propose; QA (the QA reviewer)
    # plans, implements, verifies and closes; approvals check the function's permission in the service
    "qms.change.propose": {"production_supervisor", "qa_release"},
    "qms.change.manage": {"qa_reviewer"},
    # batch release (TJ-9.1): the qualified person alone releases, rejects or quarantines a batch
    "qms.release.decide": {"qa_release"},
    "qms.complaint.manage": {"qa_reviewer", "qa_release"},
    "qms.recall.manage": {"qa_reviewer", "qa_release"},
    "qms.audit.manage": {"qa_reviewer", "qa_release"},
    "qms.risk.manage": {"qa_reviewer", "qa_release"},
    "qms.validation.manage": {"qa_reviewer", "qa_release", "equipment_engineer"},
    "qms.dossier.manage": {"qa_reviewer", "qa_release"},
    "qms.pqr.manage": {"qa_reviewer", "qa_release"},
    "equipment.view": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_analyst",
        "qc_reviewer",
        "equipment_engineer",
        "inspector",
    },
    "equipment.manage": {"equipment_engineer"},  # also monitoring's sources and tags (ADR 0019)
    # integrated monitoring (SH-8.4.3, TJ-6.5): production, QA, the warehouse, equipment and the inspector read it
    "monitoring.view": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_reviewer",
        "warehouse_keeper",
        "equipment_engineer",
        "inspector",
    },
    # alarms (TJ-6.5): the supervisor, the equipment engineer and (its laboratory) the QC reviewer acknowledge
    "monitoring.alarm.acknowledge": {"production_supervisor", "equipment_engineer", "qc_reviewer"},
    # serialization and traceability (SH-6.2.5, TJ-9.1): the packaging line commissions and aggregates codes, the
    # warehouse imports pools and ships; production, QA, the warehouse and the inspector trace
    "trace.view": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "warehouse_keeper",
        "inspector",
    },
    "trace.codes.manage": {"production_operator", "warehouse_keeper"},
    "origin.view": {
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_analyst",
        "warehouse_keeper",
        "inspector",
    },
    # supplier QA and the keeper record the base's data, and correct or void it with a reason (PATCH, …/void)
    "origin.manage": {"qa_reviewer", "warehouse_keeper"},
    "origin.feedback": {"qa_reviewer", "qa_release", "qc_analyst"},  # quality anomalies go back to the base
    # controlled documents (SH-6.3.3, TJ-9.2): everyone in the plant reads, supervisors and the document
    # controller author, QA reviews, the qualified person and the document controller approve and withdraw
    "documents.view": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_analyst",
        "qc_reviewer",
        "warehouse_keeper",
        "equipment_engineer",
        "document_controller",
        "training_coordinator",
        "inspector",
    },
    "documents.author": {"production_supervisor", "document_controller"},
    "documents.review": {"qa_reviewer"},
    "documents.control": {"qa_release", "document_controller"},
    "documents.print": {"document_controller"},  # controlled and reference copies (TJ-9.2)
    "equipment.logbook.record": {"production_operator", "production_supervisor", "equipment_engineer"},
    "exchange.export": {"qa_reviewer", "qa_release", "inspector"},  # Appendix B data sets (TJ-B.1.3)
    # training (TJ-9.3): everyone in the plant but the administrator sees training and takes assessments;
    # the coordinator manages courses, curricula, plans and sessions; trainers sign practical assessments
    "training.view": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_analyst",
        "qc_reviewer",
        "warehouse_keeper",
        "equipment_engineer",
        "document_controller",
        "training_coordinator",
        "inspector",
    },
    # taking training writes records (self-study, assessment papers, access requests): not for read-only roles
    "training.take": {
        "production_operator",
        "production_supervisor",
        "qa_reviewer",
        "qa_release",
        "qc_analyst",
        "qc_reviewer",
        "warehouse_keeper",
        "equipment_engineer",
        "document_controller",
        "training_coordinator",
    },
    "training.manage": {"training_coordinator"},
    "training.assess": {"production_supervisor", "training_coordinator"},
}
# Signing is open to every user at the route: the signature policy decides per step (tests/kernel/test_esign.py).
OPEN_TO_ANY_USER = {"/me", "/me/password", "/auth/logout", "/esign/actions", "/esign/signatures"}
PUBLIC = {"/auth/token", "/public/verify/{code:path}"}  # public verification of a pack (trace)


def _required_permission(route: APIRoute) -> str | None:
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if isinstance(dep.call, Requires):
            return dep.call.permission
        stack.extend(dep.dependencies)
    return None


def _endpoints() -> Iterator[tuple[str, str, str | None]]:
    for router in api_routers():
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods):
                yield method, route.path, _required_permission(route)


ENDPOINTS = list(_endpoints())


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.1")
def test_every_endpoint_is_classified() -> None:
    for method, path, permission in ENDPOINTS:
        if permission is None:
            assert path in OPEN_TO_ANY_USER | PUBLIC, f"{method} {path} has no permission check"
        else:
            assert permission in ALLOWED, f"{method} {path} needs {permission}: add it to ALLOWED"
    assert len(ENDPOINTS) >= 20


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.1", "TJ-10.1.2.2.a", "TJ-10.1.2.2.b", "TJ-10.1.2.2.c")
@pytest.mark.parametrize("role", ["anonymous", *ROLES])  # one test per role: the workers share the requests
def test_every_endpoint_for_every_role(client: TestClient, role: str) -> None:
    headers = {} if role == "anonymous" else token(client, LOGIN_BY_ROLE[role])
    # The ~570 requests go to the same application (its lifespan started by ``client``) straight through ASGI
    # in one event loop: the test client's hop to its own thread and back per request took a third of the time.
    checked = asyncio.run(_every_endpoint(client.app, role, headers))
    assert checked >= 20


async def _every_endpoint(app: Any, role: str, headers: dict[str, str]) -> int:
    checked = 0
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as api:
        for method, path, permission in ENDPOINTS:
            url = API_PREFIX + re.sub(r"\{[^}]+\}", "2", path)
            if path in PUBLIC or (path == "/auth/logout" and role != "anonymous"):
                continue  # logging out would end the session the rest of the loop uses; covered below
            response = await api.request(method, url, json={}, headers=headers)
            if role == "anonymous":
                assert response.status_code == 401, f"{method} {url} without log-in: {response.status_code}"
            elif permission is None or role in ALLOWED[permission]:
                assert response.status_code != 403, f"{role} refused {method} {url}: {response.text}"
                assert response.status_code < 500
            else:
                assert response.status_code == 403, f"{role} allowed {method} {url}: {response.status_code}"
                assert response.json()["error"]["code"] in {"not_permitted", "segregation_of_duties"}
            checked += 1
    return checked


@pytest.mark.clause("TJ-10.1.2.2.c")
def test_the_admin_gets_the_segregation_of_duties_refusal_on_business_writes(client: TestClient) -> None:
    admin = token(client, "sysadmin")
    response = client.post(
        "/api/v1/materials", headers=admin, json={"code": "HB-X-1", "name": "x", "kind": "herb", "unit": "kg"}
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "segregation_of_duties"
    keeper = token(client, "zhouqiang")
    created = client.post(
        "/api/v1/materials",
        headers=keeper,
        json={"code": "HB-X-1", "name": "黄芪（中药材）", "kind": "herb", "unit": "kg"},
    )
    assert created.status_code == 201, created.text
    assert created.json()["created_by"] == "zhouqiang"


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.2.e")
def test_log_out_ends_the_token(client: TestClient) -> None:
    headers = token(client, "zhangwei")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


@pytest.mark.clause("SH-8.5.2", "TJ-10.1.2.2.e")
def test_a_user_who_must_change_the_password_can_only_change_it(client: TestClient) -> None:
    admin = token(client, "sysadmin")
    created = client.post(
        "/api/v1/users",
        headers=admin,
        json={
            "login": "xuli",
            "full_name": "徐丽",
            "employee_no": "E3020",
            "department": "质量控制部",
            "position": "检验员",
            "password": "Initial#2026",
            "roles": ["qc_analyst"],
        },
    )
    assert created.status_code == 201, created.text
    first = client.post("/api/v1/auth/token", json={"login": "xuli", "password": "Initial#2026"})
    assert first.json()["must_change_password"] is True
    headers = {"Authorization": f"Bearer {first.json()['token']}"}
    refused = client.get("/api/v1/materials", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "password_change_required"
    changed = client.post(
        "/api/v1/me/password",
        headers=headers,
        json={"current_password": "Initial#2026", "new_password": "Mine#2026xl"},
    )
    assert changed.status_code == 204
    assert client.get("/api/v1/materials", headers=headers).status_code == 200
