"""Demo courses, question bank, curricula, the 2026 annual plan, a classroom session with its attendance and
an effectiveness evaluation (TJ-9.3), seeded after the controlled documents and before the training
records (``pharmatrace.demo.seed``)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.training import assessments, courses
from pharmatrace.training.course_models import TrainingCourse
from pharmatrace.training.course_schemas import (
    AssignmentCreate,
    AttendanceEntry,
    AttendanceRecord,
    CourseCreate,
    CurriculumCreate,
    EffectivenessCreate,
    PlanCreate,
    PlanItemCreate,
    PlanStatusChange,
    QuestionCreate,
    SessionCreate,
)

LYO_COURSE = "TC-PR-007"  # 冻干岗位操作培训 on SOP-PR-007

DEMO_COURSES: tuple[CourseCreate, ...] = (
    CourseCreate(code="TC-GMP-001", title="GMP 基础知识与数据可靠性培训", kind="classroom",
                 description="新版 GMP 基本要求、ALCOA+ 数据可靠性原则、偏差与变更的报告。", validity_months=12),
    CourseCreate(code=LYO_COURSE, title="冻干岗位操作培训", kind="on_the_job", document_number="SOP-PR-007",
                 description="冻干机操作、冻干曲线（第2版：一次干燥段调整）、异常处理与记录。",
                 pass_mark=Decimal("80"), validity_months=12, questions_per_assessment=10),
    CourseCreate(code="TC-PR-006", title="灌装岗位操作培训", kind="on_the_job", document_number="SOP-PR-006",
                 description="无菌灌装操作、装量检查、A 级区行为规范。", pass_mark=Decimal("80"),
                 validity_months=12, questions_per_assessment=3),
    CourseCreate(code="TC-WH-001", title="称量配料 SOP 自学", kind="self_study", document_number="SOP-WH-001",
                 description="阅读并理解称量配料操作规程。"),
    CourseCreate(code="TC-QA-001", title="清场管理规程培训", kind="classroom", document_number="SOP-QA-001",
                 description="清场范围、清场检查与清场合格证。"),
)  # fmt: skip

T, F = [0], [1]
LYO_QUESTIONS: tuple[QuestionCreate, ...] = (
    QuestionCreate(kind="single", text="冻干工艺的三个主要阶段是？",
                   options=["预冻、一次干燥（升华）、二次干燥（解析）", "配液、灌装、轧盖", "提取、浓缩、干燥", "冷却、加热、保温"],
                   answer_key=[0]),
    QuestionCreate(kind="single", text="一次干燥阶段，制品温度必须保持在什么温度以下？",
                   options=["共晶点（崩解温度）以下", "室温以下即可", "0 °C 以上", "二次干燥设定温度以上"], answer_key=[0]),
    QuestionCreate(kind="true_false", text="每批生产前须确认冻干机箱体已完成清洁和在线灭菌（SIP）且在有效期内。",
                   answer_key=T),
    QuestionCreate(kind="multiple", text="冻干过程中需要记录的关键工艺参数包括（多选）：",
                   options=["板层温度", "箱体压力（真空度）", "制品温度", "车间照明亮度"], answer_key=[0, 1, 2]),
    QuestionCreate(kind="true_false", text="按 SOP-PR-007 第2版，一次干燥段的板层温度曲线可由操作员凭经验临时调整。",
                   answer_key=F),
    QuestionCreate(kind="single", text="半加塞的西林瓶进箱前应在何种条件下转运？",
                   options=["A 级层流保护下", "C 级背景下敞口转运", "一般区", "无特殊要求"], answer_key=[0]),
    QuestionCreate(kind="single", text="冻干结束后的压塞在何种条件下完成？",
                   options=["箱内回充无菌氮气至规定压力后压塞", "打开箱门后人工压塞", "在灯检间压塞", "轧盖后再压塞"],
                   answer_key=[0]),
    QuestionCreate(kind="multiple", text="出现下列哪些情况应立即报告并按偏差处理（多选）？",
                   options=["真空度超出报警限", "板层温度偏离设定曲线", "制品外观塌陷", "交接班按时完成"],
                   answer_key=[0, 1, 2]),
    QuestionCreate(kind="true_false", text="冻干结束进行箱体泄漏率测试时，应记录结果并与可接受标准比较。",
                   answer_key=T),
    QuestionCreate(kind="single", text="出箱时发现一盘制品塌陷，正确的做法是？",
                   options=["隔离该盘并报告 QA，按偏差处理", "与正常品混合继续轧盖", "自行丢弃且不记录", "放回箱内再干燥"],
                   answer_key=[0]),
)  # fmt: skip
FILL_QUESTIONS: tuple[QuestionCreate, ...] = (
    QuestionCreate(kind="single", text="灌装过程中装量检查的频次由哪份文件规定？",
                   options=["SOP-PR-006 灌装岗位操作规程", "员工手册", "设备说明书"], answer_key=[0]),
    QuestionCreate(kind="true_false", text="A 级区内可以快速走动以节省时间。", answer_key=F),
    QuestionCreate(kind="multiple", text="进入 A/B 级区前必须（多选）：",
                   options=["按规程更衣", "手消毒", "佩戴首饰", "确认更衣确认合格"], answer_key=[0, 1, 3]),
)  # fmt: skip


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None
        return identity.principal_of(user)


def _known(db: Database, number: str | None) -> bool:
    if number is None:
        return True
    with db.sessions() as session:
        return courses._document_known(session, number)


def seed_courses(db: Database) -> int:
    """Seed the demo courses and what hangs on them unless courses exist already; returns courses added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(TrainingCourse)):
            return 0
    coordinator = _principal(db, "huangmei")
    with UnitOfWork(db, coordinator.actor) as uow:
        made = {}
        for data in DEMO_COURSES:
            if not _known(db, data.document_number):  # the documents demo not seeded: keep the course alone
                data = data.model_copy(update={"document_number": None, "kind": "classroom"})
            made[data.code] = courses.create_course(uow, data)
        for question in LYO_QUESTIONS:
            assessments.add_question(uow, made[LYO_COURSE].id, question)
        for question in FILL_QUESTIONS:
            assessments.add_question(uow, made["TC-PR-006"].id, question)
        gmp = courses.create_curriculum(uow, CurriculumCreate(
            code="CUR-GMP", name="全员 GMP 基础培训", description="所有生产、质量、物料岗位的入职及年度再培训。",
            course_codes=["TC-GMP-001", "TC-QA-001"]))  # fmt: skip
        for role in ("production_operator", "production_supervisor", "qa_reviewer", "warehouse_keeper"):
            courses.assign_curriculum(uow, gmp.id, AssignmentCreate(target="role", value=role))
        lyo = courses.create_curriculum(uow, CurriculumCreate(
            code="CUR-LYO", name="冻干岗位培训课程体系", course_codes=[LYO_COURSE]))  # fmt: skip
        courses.assign_curriculum(uow, lyo.id, AssignmentCreate(target="position", value="冻干岗位操作员"))
        courses.assign_curriculum(uow, lyo.id, AssignmentCreate(target="position", value="车间主任"))
        disp = courses.create_curriculum(uow, CurriculumCreate(
            code="CUR-DISP", name="配料岗位培训课程体系", course_codes=["TC-WH-001"]))  # fmt: skip
        courses.assign_curriculum(uow, disp.id, AssignmentCreate(target="position", value="配料岗位操作员"))
        plan = courses.create_plan(uow, PlanCreate(code="TP-2026", year=2026, title="2026 年度培训计划", items=[
            PlanItemCreate(course_code="TC-GMP-001", planned_sessions=2, planned_month=3, audience="全体 GMP 岗位人员"),
            PlanItemCreate(course_code=LYO_COURSE, planned_sessions=2, planned_month=11, audience="冻干岗位操作员"),
            PlanItemCreate(course_code="TC-PR-006", planned_sessions=1, planned_month=6, audience="灌装岗位操作员"),
            PlanItemCreate(course_code="TC-QA-001", planned_sessions=1, planned_month=4, audience="生产、质量岗位"),
        ]))  # fmt: skip
        uow.commit()
        plan_id = plan.id
    with UnitOfWork(db, coordinator.actor, reason="年度培训计划经质量负责人批准（演示）") as uow:
        courses.change_plan_status(
            uow, plan_id, PlanStatusChange(status="approved", reason="年度培训计划经质量负责人批准")
        )
        uow.commit()
    day = courses.today()
    with UnitOfWork(db, coordinator.actor) as uow:
        held = courses.create_session(uow, SessionCreate(
            code="TS-2026-031", course_code="TC-GMP-001", plan_code="TP-2026", held_on=day - timedelta(days=14),
            hours=Decimal("2"), trainer_login="huangmei", place="行政楼 3 楼培训室",
            attendees=["zhangwei", "liuyang", "zhouqiang", "lina"]))  # fmt: skip
        courses.create_session(uow, SessionCreate(
            code="TS-2026-112", course_code=LYO_COURSE, plan_code="TP-2026", held_on=day + timedelta(days=3),
            hours=Decimal("3"), trainer_login="lina", place="冻干粉针车间 冻干间（实操）",
            attendees=["liuyang"]))  # fmt: skip
        uow.commit()
        held_id = held.id
    with UnitOfWork(db, coordinator.actor) as uow:
        courses.record_attendance(uow, held_id, AttendanceRecord(entries=[
            AttendanceEntry(login="zhangwei", present=True), AttendanceEntry(login="liuyang", present=True),
            AttendanceEntry(login="lina", present=True), AttendanceEntry(login="zhouqiang", present=False),
        ]))  # fmt: skip
        uow.commit()
    with UnitOfWork(db, coordinator.actor) as uow:
        courses.record_effectiveness(uow, EffectivenessCreate(
            course_code="TC-GMP-001", session_code="TS-2026-031", method="questionnaire", result="effective",
            outcome="课后问卷 3 人均能正确说明 ALCOA+ 原则；周强缺席，已安排补训。",
            evaluated_on=day - timedelta(days=7)))  # fmt: skip
        uow.commit()
    return len(DEMO_COURSES)
