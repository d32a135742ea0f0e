"""Courses, question banks, curricula, annual plans, sessions with attendance and effectiveness evaluations
(TJ-9.3, SH-6.3.4): written through the API and the pages, bad input refused with nothing changed, every
change in the audit trail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import audit_entries, count_rows, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.storage.engine import Database
from pharmatrace.training import courses
from pharmatrace.training.course_models import (
    Attendance,
    Curriculum,
    EffectivenessEvaluation,
    Question,
    TrainingCourse,
    TrainingPlan,
    TrainingSession,
)
from pharmatrace.training.models import TrainingRecord
from pharmatrace.web.app import create_app


@pytest.mark.clause("TJ-9.3", "SH-6.3.4", "SH-7.1.3")
def test_a_course_with_its_question_bank_is_created_changed_with_a_reason_and_audited(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        manager = token(client, "huangmei")
        created = client.post("/api/v1/training/courses", headers=manager, json={
            "code": "tc-pr-003", "title": "配液岗位操作培训", "kind": "on_the_job", "document_number": "sop-pr-003",
            "pass_mark": "80", "validity_months": 12, "questions_per_assessment": 2})  # fmt: skip
        assert created.status_code == 201, created.text
        course = created.json()
        assert course["code"] == "TC-PR-003" and course["document_number"] == "SOP-PR-003"
        url = f"/api/v1/training/courses/{course['id']}/questions"
        single = client.post(url, headers=manager, json={
            "kind": "single", "text": "配液罐使用前应确认？", "options": ["清洁状态标识在有效期内", "无需确认"],
            "answer_key": [0]})  # fmt: skip
        assert single.status_code == 201, single.text
        judged = client.post(url, headers=manager, json={"kind": "true_false", "text": "药液可以存放超过 24 小时。",
                                                          "answer_key": [1]})  # fmt: skip
        assert judged.status_code == 201 and judged.json()["options"] == []
        changed = client.put(f"{url}/{single.json()['id']}", headers=manager, json={
            "kind": "multiple", "text": "配液罐使用前应确认（多选）", "options": ["清洁状态标识", "称量复核", "无需确认"],
            "answer_key": [1, 0], "reason": "补充称量复核要求"})  # fmt: skip
        assert changed.status_code == 200 and changed.json()["answer_key"] == [0, 1]
        patched = client.patch(f"/api/v1/training/courses/{course['id']}", headers=manager,
                               json={"pass_mark": "90", "reason": "关键岗位提高合格线"})  # fmt: skip
        assert patched.status_code == 200 and patched.json()["pass_mark"] == "90.00"
        no_reason = client.patch(
            f"/api/v1/training/courses/{course['id']}", headers=manager, json={"pass_mark": "70"}
        )
        assert no_reason.status_code == 422
    trail = audit_entries(db, object_type="training_course", object_id=str(course["id"]))
    assert [e.event for e in trail] == ["create", "update"] and trail[1].reason == "关键岗位提高合格线"
    question_trail = audit_entries(db, object_type="training_question", object_id=str(single.json()["id"]))
    assert question_trail[-1].reason == "补充称量复核要求"


_SESSION = {"code": "TS-X", "course_code": "TC-GMP-001", "held_on": "2026-01-05", "hours": "1",
            "trainer_login": "huangmei", "place": "培训室"}  # fmt: skip

# Each bad input: (case, the path under /api/v1/training ({lyo}: the freeze-drying course), the body posted).
BAD_INPUT: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("course code taken", "/courses", {"code": "TC-PR-007", "title": "重复", "kind": "classroom"}),
    ("self-study names no document", "/courses", {"code": "TC-X-1", "title": "无文件", "kind": "self_study"}),
    ("unknown document", "/courses",
     {"code": "TC-X-2", "title": "不存在的文件", "kind": "classroom", "document_number": "SOP-NONE-999"}),
    ("pass mark above 100", "/courses", {"code": "TC-X-3", "title": "合格线", "kind": "classroom", "pass_mark": "101"}),
    ("unknown course kind", "/courses", {"code": "TC-X-4", "title": "种类", "kind": "webinar"}),
    ("single choice with two answers", "/courses/{lyo}/questions",
     {"kind": "single", "text": "两个答案？", "options": ["A", "B"], "answer_key": [0, 1]}),
    ("answer beyond the options", "/courses/{lyo}/questions",
     {"kind": "single", "text": "越界？", "options": ["A", "B"], "answer_key": [2]}),
    ("true/false with options", "/courses/{lyo}/questions",
     {"kind": "true_false", "text": "判断？", "options": ["对", "错"], "answer_key": [0]}),
    ("duplicate options", "/courses/{lyo}/questions",
     {"kind": "multiple", "text": "选项相同？", "options": ["A", "A"], "answer_key": [0]}),
    ("curriculum of an unknown course", "/curricula",
     {"code": "CUR-X", "name": "未知课程", "course_codes": ["TC-NOPE"]}),
    ("plan year out of range", "/plans", {"code": "TP-X", "year": 1999, "title": "年份"}),
    ("plan with a course twice", "/plans",
     {"code": "TP-X", "year": 2027, "title": "重复课程", "items": [
         {"course_code": "TC-GMP-001", "planned_sessions": 1}, {"course_code": "TC-GMP-001", "planned_sessions": 2}]}),
    ("session of a self-study course", "/sessions", {**_SESSION, "course_code": "TC-WH-001"}),
    ("trainer among the attendees", "/sessions", {**_SESSION, "attendees": ["huangmei"]}),
    ("session of 30 hours", "/sessions", {**_SESSION, "hours": "30"}),
    ("unknown evaluation method", "/courses/effectiveness",
     {"course_code": "TC-GMP-001", "method": "guess", "result": "effective", "outcome": "好",
      "evaluated_on": "2026-01-05"}),
)  # fmt: skip


def _training_rows(db: Database) -> tuple[int, ...]:
    return tuple(count_rows(db, model) for model in (TrainingCourse, Question, Curriculum, TrainingPlan,
                                                     TrainingSession, EffectivenessEvaluation))  # fmt: skip


@pytest.mark.clause("TJ-9.3", "SH-7.1.2")
def test_bad_input_is_refused_and_changes_nothing(db: Database) -> None:
    """Every case of BAD_INPUT on one database, one app and one log-in: each post is refused (404, 409 or 422)
    with an error body, and no course, question, curriculum, plan, session or evaluation is written (so the
    next case, which may reuse a code, starts from the same plant). Every case that differs is named."""
    with db.sessions() as session:
        lyo = session.scalar(select(TrainingCourse.id).where(TrainingCourse.code == "TC-PR-007"))
    failures: list[str] = []
    with TestClient(create_app(db)) as client:
        manager = token(client, "huangmei")
        for case, path, body in BAD_INPUT:
            counts = _training_rows(db)
            response = client.post(f"/api/v1/training{path.format(lyo=lyo)}", headers=manager, json=body)
            wrong: list[str] = []
            if response.status_code not in (404, 409, 422):
                wrong.append(f"status {response.status_code}: {response.text}")
            is_json = response.headers.get("content-type", "").startswith("application/json")
            answer = response.json() if is_json else {}
            if not isinstance(answer, dict) or ("error" not in answer and "detail" not in answer):
                wrong.append(f"no error in {response.text!r}")
            if _training_rows(db) != counts:
                wrong.append(f"rows {counts} -> {_training_rows(db)}")
            if wrong:
                failures.append(f"{case}: " + "; ".join(wrong))
    assert failures == []


@pytest.mark.clause("TJ-9.3", "SH-6.3.4")
def test_a_session_takes_attendance_and_present_attendees_of_a_course_without_pass_mark_are_trained(
    db: Database,
) -> None:
    day = courses.today()
    with TestClient(create_app(db)) as client:
        manager = token(client, "huangmei")
        created = client.post("/api/v1/training/sessions", headers=manager, json={
            "code": "TS-2026-140", "course_code": "TC-QA-001", "plan_code": "TP-2026", "held_on": str(day),
            "hours": "1.5", "trainer_login": "chenjing", "place": "车间会议室", "attendees": ["zhouqiang", "liuyang"]})  # fmt: skip
        assert created.status_code == 201, created.text
        session_id = created.json()["id"]
        records = count_rows(db, TrainingRecord)
        taken = client.post(f"/api/v1/training/sessions/{session_id}/attendance", headers=manager, json={
            "entries": [{"login": "zhouqiang", "present": True}, {"login": "liuyang", "present": False}]})  # fmt: skip
        assert taken.status_code == 200, taken.text
        assert taken.json()["status"] == "held"
        assert {a["login"]: a["present"] for a in taken.json()["attendance"]} == {
            "zhouqiang": True,
            "liuyang": False,
        }
        assert count_rows(db, TrainingRecord) == records + 1
        correction = client.post(f"/api/v1/training/sessions/{session_id}/attendance", headers=manager,
                                 json={"entries": [{"login": "liuyang", "present": True}]})  # fmt: skip
        assert correction.status_code == 422 and correction.json()["error"]["code"] == "reason_required"
        corrected = client.post(f"/api/v1/training/sessions/{session_id}/attendance", headers=manager, json={
            "entries": [{"login": "liuyang", "present": True}], "reason": "签到表漏签，经培训讲师确认"})  # fmt: skip
        assert corrected.status_code == 200
        assert count_rows(db, TrainingRecord) == records + 1  # a correction is not a completion
        future = client.post("/api/v1/training/sessions", headers=manager, json={
            "code": "TS-2026-141", "course_code": "TC-QA-001", "held_on": str(day + timedelta(days=5)),
            "hours": "1", "trainer_login": "chenjing", "place": "车间会议室", "attendees": ["zhouqiang"]})  # fmt: skip
        early = client.post(f"/api/v1/training/sessions/{future.json()['id']}/attendance", headers=manager,
                            json={"entries": [{"login": "zhouqiang", "present": True}]})  # fmt: skip
        assert early.status_code == 409
        evaluated = client.post("/api/v1/training/courses/effectiveness", headers=manager, json={
            "course_code": "TC-QA-001", "session_code": "TS-2026-140", "method": "observation",
            "result": "partially_effective", "outcome": "清场检查表填写基本正确，物料退库记录遗漏一项", "evaluated_on": str(day)})  # fmt: skip
        assert evaluated.status_code == 201 and evaluated.json()["evaluator_login"] == "huangmei"
        refused = client.post("/api/v1/training/courses/effectiveness", headers=manager, json={
            "course_code": "TC-QA-001", "session_code": "TS-2026-141", "method": "observation",
            "result": "effective", "outcome": "未举办", "evaluated_on": str(day)})  # fmt: skip
        assert refused.status_code == 409  # a session not held cannot be evaluated
        plan = client.get("/api/v1/training/plans", headers=manager, params={"year": 2026}).json()[0]
        assert next(i for i in plan["items"] if i["course_code"] == "TC-QA-001")["sessions_held"] == 1
    lines = audit_entries(db, object_type="training_attendance")
    assert any(e.reason == "签到表漏签，经培训讲师确认" for e in lines)
    assert count_rows(db, Attendance) >= 7


@pytest.mark.clause("TJ-9.3")
def test_curricula_and_plans_follow_their_rules(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        manager = token(client, "huangmei")
        curriculum = client.post("/api/v1/training/curricula", headers=manager, json={
            "code": "CUR-FILL", "name": "灌装岗位培训课程体系", "course_codes": ["TC-PR-006"]}).json()  # fmt: skip
        url = f"/api/v1/training/curricula/{curriculum['id']}"
        assert (
            client.post(f"{url}/courses", headers=manager, json={"course_code": "TC-PR-006"}).status_code
            == 409
        )
        assigned = client.post(
            f"{url}/assignments", headers=manager, json={"target": "role", "value": "production_operator"}
        )
        assert assigned.status_code == 201
        no_role = client.post(
            f"{url}/assignments", headers=manager, json={"target": "role", "value": "astronaut"}
        )
        assert no_role.status_code == 404
        matrix = client.get("/api/v1/training/matrix", headers=manager).json()
        assert "TC-PR-006" in [c["code"] for c in matrix["columns"]]
        course_id = curriculum["courses"][0]["id"]
        removed = client.post(
            f"{url}/courses/{course_id}/remove", headers=manager, json={"reason": "并入冻干课程体系"}
        )
        assert removed.status_code == 200 and removed.json()["courses"] == []
        plan = client.post("/api/v1/training/plans", headers=manager, json={
            "code": "TP-2027", "year": 2027, "title": "2027 年度培训计划"}).json()  # fmt: skip
        empty = client.post(f"/api/v1/training/plans/{plan['id']}/status", headers=manager,
                            json={"status": "approved", "reason": "批准"})  # fmt: skip
        assert empty.status_code == 409
        client.post(f"/api/v1/training/plans/{plan['id']}/items", headers=manager,
                    json={"course_code": "TC-PR-007", "planned_sessions": 2, "planned_month": 3})  # fmt: skip
        skip = client.post(f"/api/v1/training/plans/{plan['id']}/status", headers=manager,
                           json={"status": "closed", "reason": "关闭"})  # fmt: skip
        assert skip.status_code == 409
        approved = client.post(f"/api/v1/training/plans/{plan['id']}/status", headers=manager,
                               json={"status": "approved", "reason": "质量负责人批准"})  # fmt: skip
        assert approved.status_code == 200 and approved.json()["status"] == "approved"
        operator = token(client, "zhangwei")
        assert client.post("/api/v1/training/plans", headers=operator, json={}).status_code == 403


@pytest.mark.clause("TJ-9.3", "SH-7.1.2")
def test_the_pages_list_filter_and_write_through_forms(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        client.post("/login", data={"login": "huangmei", "password": DEMO_PASSWORD})
        for url in ("/training/courses", "/training/curricula", "/training/plans", "/training/sessions",
                    "/training/effectiveness", "/training/matrix", "/training/expiring"):  # fmt: skip
            page = client.get(url)
            assert page.status_code == 200 and 'class="grid' in page.text, url
        listed = client.get("/training/courses", params={"kind": "on_the_job"}).text
        assert 'data-code="TC-PR-007"' in listed and 'data-code="TC-GMP-001"' not in listed
        bad = client.post("/training/courses", data={"code": "X", "title": "", "kind": "classroom"})
        assert bad.status_code == 422
        made = client.post("/training/courses", data={"code": "TC-EQ-201", "title": "冻干机操作与维护",
                                                      "kind": "classroom", "pass_mark": "80"}, follow_redirects=False)  # fmt: skip
        assert made.status_code == 303
        detail = client.get(made.headers["location"])
        assert "冻干机操作与维护" in detail.text and 'data-testid="audit-trail"' in detail.text
        course_id = int(made.headers["location"].split("/")[3].split("?")[0])
        added = client.post(f"/training/courses/{course_id}/questions", data={
            "kind": "multiple", "text": "冻干机开机前检查（多选）", "options": "真空泵油位\n冷凝器除霜\n室内温度", "answer_key": "A, B"},
            follow_redirects=False)  # fmt: skip
        assert added.status_code == 303
        with db.sessions() as session:
            question = session.scalar(select(Question).where(Question.course_id == course_id))
            assert question is not None and question.answer_key == [0, 1] and len(question.options) == 3
        wrong_key = client.post(f"/training/courses/{course_id}/questions", data={
            "kind": "single", "text": "单选？", "options": "甲\n乙", "answer_key": "C"})  # fmt: skip
        assert wrong_key.status_code == 422
        session_page = client.get("/training/sessions/1")
        assert 'data-testid="attendance"' in session_page.text and "zhouqiang" in session_page.text
