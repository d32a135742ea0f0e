"""The training matrix and expiring qualifications (TJ-9.3, SH-6.3.4, TJ-10.1.2.2.d): people × the courses
of the curricula assigned to their roles and positions, coloured trained / due / overdue / lapsed / not needed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.training import courses, service
from pharmatrace.training.course_models import TrainingCourse
from pharmatrace.web.app import create_app


def cell(matrix: dict, login: str, code: str) -> dict:  # type: ignore[type-arg]
    column = next(i for i, c in enumerate(matrix["columns"]) if c["code"] == code)
    row = next(r for r in matrix["rows"] if r["login"] == login)
    return dict(row["cells"][column])


@pytest.mark.clause("TJ-9.3", "TJ-10.1.2.2.d")
def test_the_matrix_shows_a_lapsed_person_as_lapsed(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        headers = token(client, "lina")
        matrix = client.get("/api/v1/training/matrix", headers=headers).json()
        # liuyang was trained on SOP-PR-007 v1; v2 became effective with no grace period
        lapsed = cell(matrix, "liuyang", "TC-PR-007")
        assert lapsed["status"] == "lapsed" and lapsed["detail"] == "v1"
        assert (
            cell(matrix, "liuyang", "TC-GMP-001")["status"] == "trained"
        )  # present at the classroom session
        assert cell(matrix, "zhouqiang", "TC-GMP-001")["status"] == "due"  # absent
        assert cell(matrix, "zhangwei", "TC-PR-007")["status"] == "not_needed"  # not his position
        assert cell(matrix, "zhangwei", "TC-WH-001")["status"] == "trained"
        client.post("/login", data={"login": "lina", "password": DEMO_PASSWORD})
        page = client.get("/training/matrix")
        assert page.status_code == 200
        assert (
            'data-course="TC-PR-007" data-status="lapsed"'
            in page.text.split('data-login="liuyang"')[1].split("</tr>")[0]
        )


@pytest.mark.clause("TJ-9.3")
def test_the_matrix_filters_by_department_and_role(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        headers = token(client, "huangmei")
        by_role = client.get(
            "/api/v1/training/matrix", headers=headers, params={"role": "production_operator"}
        )
        assert {r["login"] for r in by_role.json()["rows"]} == {"zhangwei", "liuyang"}
        by_department = client.get(
            "/api/v1/training/matrix", headers=headers, params={"department": "物料部"}
        )
        assert [r["login"] for r in by_department.json()["rows"]] == ["zhouqiang"]
        nobody = client.get("/api/v1/training/matrix", headers=headers, params={"department": "不存在的部门"})
        assert nobody.status_code == 200 and nobody.json()["rows"] == []
        client.post("/login", data={"login": "huangmei", "password": DEMO_PASSWORD})
        page = client.get("/training/matrix", params={"role": "production_operator"})
        assert 'data-login="liuyang"' in page.text and 'data-login="zhouqiang"' not in page.text


@pytest.mark.clause("TJ-9.3", "SH-6.3.4")
def test_expiring_qualifications_are_listed_for_retraining_until_renewed(db: Database) -> None:
    today = courses.today()
    with db.sessions() as session:
        gmp = session.scalar(select(TrainingCourse.id).where(TrainingCourse.code == "TC-GMP-001"))
    assert gmp is not None
    coordinator = principal(db, "huangmei")
    zhouqiang = principal(db, "zhouqiang").user_id
    with UnitOfWork(db, coordinator.actor) as uow:
        service.record_completion(uow, user_id=zhouqiang, document_version_id=None, course_id=gmp,
                                  method="classroom", passed=True, score=None, trainer_user_id=coordinator.user_id,
                                  evidence="make-up session", valid_until=today + timedelta(days=20))  # fmt: skip
        uow.commit()
    with TestClient(create_app(db)) as client:
        headers = token(client, "huangmei")
        listed = client.get("/api/v1/training/matrix/expiring", headers=headers).json()
        mine = [e for e in listed if e["login"] == "zhouqiang"]
        assert len(mine) == 1 and mine[0]["days_left"] == 20 and mine[0]["expired"] is False
        assert mine[0]["subject"] == "TC-GMP-001"
        narrow = client.get(
            "/api/v1/training/matrix/expiring", headers=headers, params={"within_days": 10}
        ).json()
        assert "zhouqiang" not in [e["login"] for e in narrow]
        matrix = client.get("/api/v1/training/matrix", headers=headers).json()
        assert cell(matrix, "zhouqiang", "TC-GMP-001")["status"] == "due"  # retraining due within the window
        client.post("/login", data={"login": "huangmei", "password": DEMO_PASSWORD})
        assert 'data-login="zhouqiang"' in client.get("/training/expiring").text
    with UnitOfWork(db, coordinator.actor) as uow:  # renewed: off the list
        service.record_completion(uow, user_id=zhouqiang, document_version_id=None, course_id=gmp,
                                  method="classroom", passed=True, score=None, trainer_user_id=coordinator.user_id,
                                  evidence="annual retraining", valid_until=today + timedelta(days=365))  # fmt: skip
        uow.commit()
    with db.sessions() as session:
        assert "zhouqiang" not in [e.login for e in courses.expiring(session)]
        assert cell(courses.matrix(session).model_dump(), "zhouqiang", "TC-GMP-001")["status"] == "trained"
