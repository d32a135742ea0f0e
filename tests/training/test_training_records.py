"""Training records (SH-6.3.4, TJ-9.3): append-only, with their evidence; self-study signed with the
password; training needs that assign tasks; the pages of one's own training."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from helpers import audit_entries, behind_the_apps_back, count_rows, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import service as documents
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.training import service
from pharmatrace.training.course_models import TrainingCourse
from pharmatrace.training.models import TrainingRecord, TrainingTask
from pharmatrace.training.schemas import NeedCreate, SelfStudy
from pharmatrace.web.app import create_app


def uid(db: Database, login: str) -> int:
    return principal(db, login).user_id


def version_id(db: Database, number: str) -> int:
    with db.sessions() as session:
        return service.version_of(session, number).id


def record(db: Database, **overrides: Any) -> TrainingRecord:
    values: dict[str, Any] = {
        "user_id": uid(db, "wangfang"), "document_version_id": version_id(db, "SPEC-DH-001"), "course_id": None,
        "method": "classroom", "passed": True, "score": Decimal("92.5"), "trainer_user_id": uid(db, "huangmei"),
        "evidence": "培训签到表 TR-2026-102，考核试卷", "valid_until": None,
    }  # fmt: skip
    values.update(overrides)
    with UnitOfWork(db, principal(db, "huangmei").actor) as uow:
        made = service.record_completion(uow, **values)
        uow.commit()
        return made


def open_tasks(db: Database, login: str) -> set[str]:
    with db.sessions() as session:
        return {
            v.task.document_number or ""
            for v in service.task_views(session, user_id=uid(db, login), state="open")
        }


@pytest.mark.clause("SH-6.3.4", "TJ-9.3", "SH-7.1.3")
def test_a_passing_record_closes_the_task_and_is_audited(db: Database) -> None:
    assert open_tasks(db, "wangfang") == {"SPEC-DH-001"}
    made = record(db)
    assert made.score == Decimal("92.50") and made.recorded_by == "huangmei"
    assert open_tasks(db, "wangfang") == set()
    [entry] = audit_entries(db, object_type="training_record", object_id=str(made.id))
    assert entry.event == "create" and entry.actor_login == "huangmei"


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("SH-6.3.4", "SH-7.1.3.c")
def test_records_are_append_only_in_the_database(db: Database) -> None:
    made = record(db)
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE training_records SET passed = false WHERE id = :id"), {"id": made.id})
    with pytest.raises(DBAPIError), behind_the_apps_back(db) as conn:
        conn.execute(text("DELETE FROM training_records WHERE id = :id"), {"id": made.id})
    assert count_rows(db, TrainingRecord) >= 1


# Each bad record: (case, the overrides of the good record, the refusal, a pattern of its message). Two values
# are filled in on the plant: trainer "self" (the trainee) and document version "in_review" (SOP-PR-006 v2).
BAD_RECORDS: tuple[tuple[str, dict[str, Any], type[Exception], str], ...] = (
    ("unknown method", {"method": "telepathy"}, ValidationFailed, "Unknown training method"),
    ("neither document nor course", {"document_version_id": None}, ValidationFailed,
     "names a document version or a course"),
    ("blank evidence", {"evidence": "  "}, ValidationFailed, "evidence"),
    ("score above 100", {"score": Decimal("101")}, ValidationFailed, "between 0 and 100"),
    ("own trainer", {"trainer_user_id": "self"}, ValidationFailed, "their own trainer"),
    ("valid until the past", {"valid_until": date(2020, 1, 1)}, ValidationFailed, "cannot lie in the past"),
    ("unknown document version", {"document_version_id": 999999}, NotFound, "No document version"),
    ("unknown course", {"course_id": 999999}, NotFound, "No training course"),
    ("version in review", {"document_version_id": "in_review"}, ValidationFailed, "approved versions only"),
)  # fmt: skip


@pytest.mark.clause("SH-6.3.4")
def test_bad_records_are_refused_and_change_nothing(db: Database) -> None:
    """Every case of BAD_RECORDS on one database: each record is refused with its error and message, and no
    training record is written (so the next case starts from the same plant). Every case that differs is
    named."""
    trainee = uid(db, "wangfang")
    with db.sessions() as session:  # SOP-PR-006 v2, a revision in review
        in_review = documents.get_version(session, "SOP-PR-006", 2).id
    failures: list[str] = []
    for case, given, error, message in BAD_RECORDS:
        overrides = dict(given)  # the table itself stays as written
        if overrides.get("trainer_user_id") == "self":
            overrides["trainer_user_id"] = trainee
        if overrides.get("document_version_id") == "in_review":
            overrides["document_version_id"] = in_review
        before = count_rows(db, TrainingRecord)
        wrong: list[str] = []
        try:
            record(db, **overrides)
        except error as refused:
            if not re.search(message, str(refused)):
                wrong.append(f"said {str(refused)!r}, expected {message!r}")
        except Exception as other:  # named with its case below
            wrong.append(f"raised {other!r}, expected {error.__name__}")
        else:
            wrong.append("accepted")
        if count_rows(db, TrainingRecord) != before:
            wrong.append(f"records {before} -> {count_rows(db, TrainingRecord)}")
        if wrong:
            failures.append(f"{case}: " + "; ".join(wrong))
    assert failures == []


@pytest.mark.clause("SH-6.3.4", "TJ-9.3")
def test_a_course_with_a_validity_gives_the_record_its_expiry(db: Database) -> None:
    course = add_course(db, "TC-QC-01", "SPEC-DH-001", pass_mark=None, validity_months=12)
    made = record(db, course_id=course)
    today = clock.to_beijing(clock.now()).date()
    assert made.valid_until is not None and today + timedelta(
        days=360
    ) < made.valid_until <= today + timedelta(days=366)


def add_course(
    db: Database, code: str, number: str, *, pass_mark: Decimal | None, validity_months: int | None = None
) -> int:
    with UnitOfWork(db, principal(db, "huangmei").actor) as uow:
        course = TrainingCourse(
            code=code, title="成品质量标准培训", kind="self_study" if pass_mark is None else "classroom",
            document_number=number, description="", pass_mark=pass_mark, validity_months=validity_months,
            questions_per_assessment=10, active=True, created_at=clock.now(), created_by="huangmei",
        )  # fmt: skip
        uow.session.add(course)
        uow.session.flush()
        uow.commit()
        return course.id


def self_study(db: Database, login: str, number: str, password: str) -> TrainingRecord:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        made = service.self_study(uow, who, version_id(db, number), SelfStudy(password=password, login=login))
        uow.commit()
        return made


@pytest.mark.clause("TJ-9.3", "TJ-10.2", "SH-7.1.4")
def test_self_study_is_signed_with_the_password_and_a_wrong_one_records_nothing(db: Database) -> None:
    before = count_rows(db, TrainingRecord)
    with pytest.raises(AuthenticationFailed):
        self_study(db, "wangfang", "SPEC-DH-001", "wrong-password")
    assert count_rows(db, TrainingRecord) == before
    assert audit_entries(db, event="esign.failure")[-1].actor_login == "wangfang"
    made = self_study(db, "wangfang", "SPEC-DH-001", DEMO_PASSWORD)
    assert made.method == "self_study" and made.passed and made.trainer_user_id is None
    assert made.evidence == service.SELF_STUDY_EVIDENCE
    with db.sessions() as session:
        [signature] = esign.manifestations(session, "training_record", str(made.id))
    assert (signature.action, signature.meaning, signature.status) == (
        "training.self_study",
        "performed",
        "valid",
    )
    assert open_tasks(db, "wangfang") == set()
    with pytest.raises(Conflict, match="already trained"):
        self_study(db, "wangfang", "SPEC-DH-001", DEMO_PASSWORD)


@pytest.mark.clause("TJ-9.3")
def test_self_study_is_refused_where_the_course_ends_with_an_assessment(db: Database) -> None:
    add_course(db, "TC-QC-02", "SPEC-DH-001", pass_mark=Decimal("80"))
    before = count_rows(db, TrainingRecord)
    with pytest.raises(Conflict, match="TC-QC-02"):
        self_study(db, "wangfang", "SPEC-DH-001", DEMO_PASSWORD)
    assert count_rows(db, TrainingRecord) == before


@pytest.mark.clause("TJ-9.3", "SH-6.3.3")
def test_self_study_of_a_superseded_version_is_refused(db: Database) -> None:
    who = principal(db, "liuyang")
    with db.sessions() as session:
        v1 = service.version_of(session, "SOP-PR-007", 1).id
    with UnitOfWork(db, who.actor) as uow, pytest.raises(Conflict, match="current or the coming version"):
        service.self_study(uow, who, v1, SelfStudy(password=DEMO_PASSWORD, login="liuyang"))


@pytest.mark.clause("SH-6.3.4", "TJ-9.3")
def test_a_new_need_gives_tasks_to_the_people_it_names_and_is_refused_twice(db: Database) -> None:
    coordinator = principal(db, "huangmei")
    need = NeedCreate(subject_kind="department", subject="质量控制部", document_number="SOP-QA-001")
    with UnitOfWork(db, coordinator.actor) as uow:
        service.add_need(uow, coordinator, need)
        uow.commit()
    with db.sessions() as session:
        made = session.scalars(
            select(TrainingTask).where(
                TrainingTask.document_number == "SOP-QA-001", TrainingTask.source == "need_added"
            )
        ).all()
        logins = {identity.get_user(session, t.user_id).login for t in made}
    assert logins == {"wangfang", "sunli"}  # the QC department; the rest of the plant is untouched
    with UnitOfWork(db, coordinator.actor) as uow, pytest.raises(Conflict):
        service.add_need(uow, coordinator, need)
    with UnitOfWork(db, coordinator.actor) as uow, pytest.raises(ValidationFailed, match="Unknown role"):
        service.add_need(
            uow,
            coordinator,
            NeedCreate(subject_kind="role", subject="astronaut", document_number="SOP-QA-001"),
        )
    with (
        UnitOfWork(db, coordinator.actor) as uow,
        pytest.raises(ValidationFailed, match="No controlled document"),
    ):
        service.add_need(
            uow,
            coordinator,
            NeedCreate(subject_kind="role", subject="qc_analyst", document_number="SOP-XX-001"),
        )


@pytest.mark.clause("SH-6.3.4", "SH-7.1.2")
def test_the_api_enters_records_for_the_coordinator_only_and_refuses_bad_input(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        coordinator = token(client, "huangmei")
        body = {"login": "wangfang", "document_number": "SPEC-DH-001", "method": "classroom", "passed": True,
                "score": "88", "trainer_login": "huangmei", "evidence": "培训签到表 TR-2026-103"}  # fmt: skip
        refused = client.post("/api/v1/training/records", json=body, headers=token(client, "lina"))
        assert refused.status_code == 403
        for bad in (
            {**body, "method": "self_study"},  # self-study is signed by the trainee
            {**body, "score": "120"},
            {**body, "login": "nobody"},
            {**body, "document_number": None},
            {**body, "evidence": ""},
            {**body, "version": 9},
        ):
            response = client.post("/api/v1/training/records", json=bad, headers=coordinator)
            assert response.status_code in (404, 422), (bad, response.text)
        made = client.post("/api/v1/training/records", json=body, headers=coordinator)
        assert made.status_code == 201, made.text
        assert made.json()["version"] == 1 and made.json()["trainer_login"] == "huangmei"
        mine = client.get(
            "/api/v1/training/qualifications/wangfang", headers=token(client, "wangfang")
        ).json()
        assert {q["document_number"]: q["status"] for q in mine}["SPEC-DH-001"] == "qualified"
        assert (
            client.get("/api/v1/training/mine/tasks?state=open", headers=token(client, "wangfang")).json()
            == []
        )


@pytest.mark.clause("SH-6.3.4", "TJ-10.1.2.2.d")
def test_my_training_page_highlights_the_lapsed_qualification(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "liuyang", "password": DEMO_PASSWORD})
        page = client.get("/training/mine")
        assert page.status_code == 200
        assert 'data-number="SOP-PR-007" data-status="lapsed"' in page.text
        assert 'data-number="SOP-WH-001" data-status="qualified"' in page.text


@pytest.mark.clause("SH-6.3.4", "TJ-9.3", "TJ-10.2")
def test_my_training_page_offers_self_study_and_signs_it(db: Database) -> None:
    spec = version_id(db, "SPEC-DH-001")
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "wangfang", "password": DEMO_PASSWORD})
        page = client.get("/training/mine")
        assert 'data-number="SPEC-DH-001" data-status="untrained"' in page.text
        assert 'data-testid="self-study-SPEC-DH-001"' in page.text
        wrong = client.post(
            f"/training/mine/self-study/{spec}", data={"login": "wangfang", "password": "nope"}
        )
        assert wrong.status_code == 401
        signed = client.post(f"/training/mine/self-study/{spec}", data={"login": "wangfang", "password": DEMO_PASSWORD},
                             follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303
        detail = client.get(signed.headers["location"])
        assert detail.status_code == 200 and 'data-testid="signatures"' in detail.text
        assert 'data-testid="audit-trail"' in detail.text
        assert 'data-number="SPEC-DH-001" data-status="qualified"' in client.get("/training/mine").text


@pytest.mark.clause("TJ-9.3")
def test_the_overdue_page_lists_overdue_tasks_by_department(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "huangmei", "password": DEMO_PASSWORD})
        page = client.get("/training/overdue")
        assert page.status_code == 200 and 'data-login="liuyang"' in page.text
        assert 'data-login="wangfang"' not in page.text  # open but not yet due
        assert 'data-login="wangfang"' in client.get("/training/overdue?state=open").text
        assert 'data-login="liuyang"' not in client.get("/training/overdue?department=质量控制部").text
        assert client.get("/training/requirements").status_code == 200
        with db.sessions() as session:
            assert session.scalar(select(func.count()).select_from(TrainingTask)) == len(
                service.task_views(session)
            )
