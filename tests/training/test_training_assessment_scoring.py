"""Assessments (TJ-9.3, SH-6.3.4): the server scores, a fail records no qualification, the answer key never
reaches the trainee, a pass is recorded through the training records and closes the gate (TJ-10.1.2.2.d),
a practical assessment is signed by a trainer who is not the trainee (TJ-10.2), attempts are append-only."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import behind_the_apps_back, count_rows, principal, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import QualificationRequired
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.storage.engine import Database
from pharmatrace.training import gates
from pharmatrace.training.course_models import Assessment, AssessmentAttempt, Question, TrainingCourse
from pharmatrace.training.models import TrainingRecord
from pharmatrace.web.app import create_app

LYO = "TC-PR-007"  # 冻干岗位操作培训 on SOP-PR-007, pass mark 80, 10 questions


def course_id(db: Database, code: str = LYO) -> int:
    with db.sessions() as session:
        found = session.scalar(select(TrainingCourse.id).where(TrainingCourse.code == code))
        assert found is not None
        return found


def keys(db: Database, question_ids: list[int]) -> dict[int, list[int]]:
    """The answer keys, read straight from the database (the test plays a trainee who knows them)."""
    with db.sessions() as session:
        return {
            q.id: list(q.answer_key)
            for q in session.scalars(select(Question).where(Question.id.in_(question_ids)))
        }


def wrong(key: list[int], kind_options: int) -> list[int]:
    return [next(i for i in range(max(kind_options, 2)) if [i] != key)]


def start(client: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    response = client.post("/api/v1/training/assessments", headers=headers, json={"course_code": LYO})
    assert response.status_code == 201, response.text
    return dict(response.json())


@pytest.mark.clause("TJ-9.3", "SH-6.3.4")
def test_the_server_scores_and_a_failing_score_records_no_qualification(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        liuyang = token(client, "liuyang")
        paper = start(client, liuyang)
        ids = [q["id"] for q in paper["questions"]]
        assert len(ids) == 10
        answer = keys(db, ids)
        # 7 of 10 right: 70 < 80; the client sends no score, and one it tried to send is refused
        answers = {str(qid): (answer[qid] if n < 7 else wrong(answer[qid], 4)) for n, qid in enumerate(ids)}
        cheat = client.post(f"/api/v1/training/assessments/{paper['id']}/submit", headers=liuyang,
                            json={"answers": answers, "score": 100})  # fmt: skip
        assert cheat.status_code == 422
        records_before = count_rows(db, TrainingRecord)
        result = client.post(
            f"/api/v1/training/assessments/{paper['id']}/submit", headers=liuyang, json={"answers": answers}
        )
        assert result.status_code == 201, result.text
        body = result.json()
        assert body["correct"] == 7 and body["score"] == "70.00" and body["passed"] is False
        assert body["record_id"] is None
        assert count_rows(db, TrainingRecord) == records_before
        with db.sessions() as session:
            attempt = session.scalar(
                select(AssessmentAttempt).where(AssessmentAttempt.assessment_id == paper["id"])
            )
            assert attempt is not None and attempt.passed is False and attempt.correct == 7
        again = client.post(
            f"/api/v1/training/assessments/{paper['id']}/submit", headers=liuyang, json={"answers": answers}
        )
        assert again.status_code == 409  # a retake is a new assessment
        assert start(client, liuyang)["id"] != paper["id"]
    with db.sessions() as session, pytest.raises(QualificationRequired):
        gates.require_trained(session, principal(db, "liuyang").user_id, "SOP-PR-007")


@pytest.mark.clause("TJ-9.3", "SH-7.1.2")
def test_the_answer_key_is_not_in_the_trainees_page_or_api_response(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        liuyang = token(client, "liuyang")
        paper = start(client, liuyang)
        assert all(set(q) == {"id", "kind", "text", "options"} for q in paper["questions"])
        assert start(client, liuyang) == paper  # the open paper again, not a new draw
        fetched = client.get(f"/api/v1/training/assessments/{paper['id']}", headers=liuyang)
        assert fetched.status_code == 200 and "answer_key" not in fetched.text
        listed = client.get("/api/v1/training/assessments", headers=liuyang)
        assert "answer_key" not in listed.text and paper["id"] in [a["id"] for a in listed.json()]
        bank = client.get(f"/api/v1/training/courses/{course_id(db)}/questions", headers=liuyang)
        assert bank.status_code == 403
        coordinator = client.get(
            f"/api/v1/training/courses/{course_id(db)}/questions", headers=token(client, "huangmei")
        )
        assert coordinator.status_code == 200 and "answer_key" in coordinator.json()[0]
        # another trainee cannot open liuyang's paper
        other = client.get(f"/api/v1/training/assessments/{paper['id']}", headers=token(client, "zhangwei"))
        assert other.status_code == 404
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "liuyang", "password": DEMO_PASSWORD})
        page = client.get(f"/training/assessments/{paper['id']}")
        assert page.status_code == 200 and 'data-testid="assessment-paper"' in page.text
        assert "answer_key" not in page.text and not re.search(r"<input[^>]*\bchecked", page.text)
        course_page = client.get(f"/training/courses/{course_id(db)}")
        assert 'data-testid="question-bank"' not in course_page.text


@pytest.mark.clause("TJ-9.3", "TJ-10.1.2.2.d", "SH-6.3.4")
def test_passing_records_a_passing_record_and_closes_the_gate(db: Database) -> None:
    liuyang_id = principal(db, "liuyang").user_id
    with db.sessions() as session, pytest.raises(QualificationRequired):
        gates.require_trained(session, liuyang_id, "SOP-PR-007")  # lapsed: trained on v1, v2 is effective
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "liuyang", "password": DEMO_PASSWORD})
        started = client.post(f"/training/courses/{course_id(db)}/assess", follow_redirects=False)
        assert started.status_code == 303
        assessment_id = int(started.headers["location"].rsplit("/", 1)[1])
        with db.sessions() as session:
            drawn = list(session.get(Assessment, assessment_id).question_ids)  # type: ignore[union-attr]
        form = {f"q_{qid}": [str(i) for i in key] for qid, key in keys(db, drawn).items()}
        submitted = client.post(f"/training/assessments/{assessment_id}", data=form, follow_redirects=False)
        assert submitted.status_code == 303
        page = client.get(submitted.headers["location"]).text
        assert 'data-testid="assessment-result"' in page
    with db.sessions() as session:
        record = session.scalar(
            select(TrainingRecord).where(TrainingRecord.evidence == f"training_assessment:{assessment_id}")
        )
        attempt = session.scalar(
            select(AssessmentAttempt).where(AssessmentAttempt.assessment_id == assessment_id)
        )
        assert attempt is not None and attempt.passed, (attempt and attempt.answers, form)
        assert record is not None and record.passed and record.user_id == liuyang_id
        assert record.score == 100 and record.method == "assessment"
        from pharmatrace.documents.service import current_effective

        version = current_effective(session, "SOP-PR-007")
        assert version is not None and record.document_version_id == version.id and version.version == 2
        gates.require_trained(session, liuyang_id, "SOP-PR-007")  # the gate is closed no more


@pytest.mark.clause("TJ-9.3", "TJ-10.2", "SH-7.1.4.a")
def test_the_trainer_cannot_sign_their_own_practical_assessment(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        lina = token(client, "lina")  # production supervisor: a trainer (training.assess)
        own = client.post("/api/v1/training/assessments/practical", headers=lina, json={
            "course_code": LYO, "trainee_login": "lina", "passed": True, "score": "90",
            "remarks": "独立完成冻干机进箱、抽真空操作", "password": DEMO_PASSWORD, "login": "lina"})  # fmt: skip
        assert own.status_code == 403 and own.json()["error"]["code"] == "own_assessment"
        operator = client.post("/api/v1/training/assessments/practical", headers=token(client, "zhangwei"), json={
            "course_code": LYO, "trainee_login": "liuyang", "passed": True, "score": "90",
            "remarks": "冻干机操作正确", "password": DEMO_PASSWORD})  # fmt: skip
        assert operator.status_code == 403  # not a trainer
        records = count_rows(db, TrainingRecord)
        bad_password = client.post("/api/v1/training/assessments/practical", headers=lina, json={
            "course_code": LYO, "trainee_login": "liuyang", "passed": True, "score": "90",
            "remarks": "冻干机操作正确", "password": "wrong-password", "login": "lina"})  # fmt: skip
        assert bad_password.status_code == 401
        assert count_rows(db, TrainingRecord) == records and count_rows(db, AssessmentAttempt) == 0
        disagree = client.post("/api/v1/training/assessments/practical", headers=lina, json={
            "course_code": LYO, "trainee_login": "liuyang", "passed": True, "score": "60",
            "remarks": "冻干机操作正确", "password": DEMO_PASSWORD, "login": "lina"})  # fmt: skip
        assert disagree.status_code == 422  # 60 is below the pass mark of 80
        signed = client.post("/api/v1/training/assessments/practical", headers=lina, json={
            "course_code": LYO, "trainee_login": "liuyang", "passed": True, "score": "90",
            "remarks": "独立完成进箱、预冻、一次干燥参数确认", "password": DEMO_PASSWORD, "login": "lina"})  # fmt: skip
        assert signed.status_code == 201, signed.text
        attempt = signed.json()
        assert attempt["passed"] is True and attempt["record_id"] is not None
    with db.sessions() as session:
        signature = session.scalar(select(Signature).where(
            Signature.object_type == "training_assessment_attempt", Signature.object_id == str(attempt["id"])))  # fmt: skip
        assert (
            signature is not None
            and signature.signer_login == "lina"
            and signature.action == "training.practical"
        )
        record = session.get(TrainingRecord, attempt["record_id"])
        assert record is not None and record.trainer_user_id == principal(db, "lina").user_id
        assert record.method == "on_the_job"
        gates.require_trained(session, principal(db, "liuyang").user_id, "SOP-PR-007")


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-9.3", "SH-7.1.3.c")
def test_bad_answers_are_refused_and_attempts_are_append_only(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        liuyang = token(client, "liuyang")
        paper = start(client, liuyang)
        url = f"/api/v1/training/assessments/{paper['id']}/submit"
        first = paper["questions"][0]["id"]
        assert client.post(url, headers=liuyang, json={"answers": {"999999": [0]}}).status_code == 422
        assert client.post(url, headers=liuyang, json={"answers": {str(first): [7]}}).status_code == 422
        assert client.post(url, headers=liuyang, json={"answers": "all right"}).status_code == 422
        someone_else = client.post(url, headers=token(client, "zhangwei"), json={"answers": {}})
        assert someone_else.status_code == 403 and someone_else.json()["error"]["code"] == "own_assessment"
        assert count_rows(db, AssessmentAttempt) == 0
        nothing = client.post(url, headers=liuyang, json={"answers": {}})
        assert nothing.status_code == 201 and nothing.json()["score"] == "0.00"  # unanswered is wrong
        no_bank = client.post(
            "/api/v1/training/assessments", headers=liuyang, json={"course_code": "TC-GMP-001"}
        )
        assert no_bank.status_code == 409  # no pass mark, no written assessment
        unknown = client.post(
            "/api/v1/training/assessments", headers=liuyang, json={"course_code": "TC-NOPE"}
        )
        assert unknown.status_code == 404
    with behind_the_apps_back(db) as conn, pytest.raises(DBAPIError, match="append-only"):
        conn.execute(text("UPDATE training_assessment_attempts SET score = 100"))


@pytest.mark.clause("TJ-9.3", "TJ-10.1.2.2.c")
def test_a_read_only_inspector_sees_training_but_takes_none(db: Database) -> None:
    """Taking training writes records (assessment papers, access requests): read-only roles are refused."""
    with TestClient(create_app(db)) as client:
        inspector = token(client, "inspector")
        before = count_rows(db, Assessment)
        assert client.get("/api/v1/training/matrix", headers=inspector).status_code == 200
        refused = client.post("/api/v1/training/assessments", headers=inspector, json={"course_code": LYO})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "not_permitted"
        asked = client.post(
            "/api/v1/training/access-requests",
            headers=inspector,
            json={
                "login": "inspector",
                "role_code": "production_operator",
                "justification": "想参加冻干岗位操作",
            },
        )
        assert asked.status_code == 403, asked.text
        assert count_rows(db, Assessment) == before
