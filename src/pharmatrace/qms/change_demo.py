"""QMS change control (TJ-10.3): the demo plant's records, one in each telling stage.

* Closed: 李娜 (``lina``, production supervisor) proposes the revision of SOP-PR-002 (浓缩标准操作规程); 陈静
  (``chenjing``, QA) approves it with her signature and plans the tasks; 李娜 revises the SOP and 黄梅
  (``huangmei``) trains the operators; 陈静 verifies the effectiveness and closes it with her signature.
* In implementation: 赵敏 (``zhaomin``) proposes replacing the vacuum pump of the freeze dryer FD-01; QA (陈静)
  and the production head (李娜) approve; 吴昊 (``wuhao``) has replaced and requalified it, the update of the
  equipment SOP is still open.
* Awaiting approval: 李娜 proposes the upgrade of PharmaTrace itself (a computerized-system change); QA has
  approved, the system owner (赵敏) has not signed yet.

Everything goes through the service. Idempotent: nothing is added when a change request exists.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.qms import changes
from pharmatrace.qms.change_models import AREAS, ChangeRequest
from pharmatrace.qms.change_schemas import ChangeApprove, ChangeClose, ChangeCreate, TaskCreate, TaskDone
from pharmatrace.storage.engine import Database

QA, SUPERVISOR, QP, ENGINEER, TRAINER = "chenjing", "lina", "zhaomin", "wuhao", "huangmei"


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _assessment(**impacted: tuple[str, str]) -> list[dict[str, Any]]:
    """Every area: not affected, low risk, unless given as ``area=(risk, comment)``."""
    return [
        {"area": a, "impact": a in impacted, "risk": impacted[a][0] if a in impacted else "low",
         "comment": impacted[a][1] if a in impacted else ""}
        for a in AREAS
    ]  # fmt: skip


def _run(db: Database, login: str, write: Any) -> Any:
    who = _principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        result = write(uow, who)
        uow.commit()
        return result


def _propose(db: Database, login: str, data: dict[str, Any]) -> str:
    number: str = _run(
        db, login, lambda uow, who: changes.create_change(uow, who, ChangeCreate.model_validate(data)).number
    )
    _run(db, login, lambda uow, who: changes.submit(uow, who, number))
    return number


def _approve(db: Database, number: str, function: str, login: str, password: str, comment: str) -> None:
    body = ChangeApprove(function=function, password=password, login=login, comment=comment)
    _run(db, login, lambda uow, who: changes.approve(uow, who, number, body))


def _task(db: Database, number: str, title: str, owner: str, days: int, kind: str = "action") -> int:
    body = TaskCreate.model_validate({"title": title, "owner": owner, "due_date": changes.today() + timedelta(days=days),
                                     "kind": kind})  # fmt: skip
    seq: int = _run(db, QA, lambda uow, who: changes.add_task(uow, who, number, body).seq)
    return seq


def _done(db: Database, number: str, seq: int, login: str, evidence: str, validation_ref: str = "") -> None:
    body = TaskDone(evidence=evidence, validation_ref=validation_ref)
    _run(db, login, lambda uow, who: changes.complete_task(uow, who, number, seq, body))


def _sop_revision(db: Database, password: str) -> None:
    today = changes.today()
    number = _propose(db, SUPERVISOR, {
        "title": "浓缩标准操作规程修订：增加相对密度在线监测记录",
        "description": "SOP-PR-002 第 3 步由每 30 分钟人工取样测定相对密度，改为读取在线密度计并每 15 分钟记录一次；"
                       "人工取样保留为终点确认。",
        "justification": "浓缩终点判断滞后导致相对密度偏高的偏差重复发生，在线监测可及时控制。",
        "change_type": "document", "target_date": today + timedelta(days=20),
        "impacts": _assessment(documents=("low", "SOP-PR-002 升版至第 2 版"),
                               training=("low", "浓缩岗位操作人员需培训新版 SOP")),
        "items": [{"kind": "document", "reference": "SOP-PR-002", "note": "升版"}],
    })  # fmt: skip
    _approve(db, number, "qa", QA, password, "同意修订，生效前完成岗位培训")
    revise = _task(db, number, "修订 SOP-PR-002 并按文件管理流程批准生效", SUPERVISOR, 7)
    train = _task(db, number, "浓缩岗位操作人员培训新版 SOP-PR-002", TRAINER, 14)
    _run(db, QA, lambda uow, who: changes.start_implementation(uow, who, number))
    _done(db, number, revise, SUPERVISOR, "SOP-PR-002 第 2 版已批准并生效")
    _done(db, number, train, TRAINER, "浓缩岗位 4 人完成培训与考核，记录见培训系统")
    _run(db, QA, lambda uow, who: changes.to_verification(uow, who, number))
    body = ChangeClose(summary="新版 SOP 执行后抽查批记录：相对密度按 15 分钟记录完整，未再发生同类偏差；变更有效。",
                       effective=True, password=password, login=QA)  # fmt: skip
    _run(db, QA, lambda uow, who: changes.close(uow, who, number, body))


def _equipment_change(db: Database, password: str) -> None:
    today = changes.today()
    number = _propose(db, QP, {
        "title": "冻干机 FD-01 真空泵更换（同规格替换为干式螺杆泵）",
        "description": "将 FD-01 油封旋片真空泵更换为同抽速的干式螺杆真空泵，控制系统参数不变。",
        "justification": "原真空泵多次出现返油，存在污染风险；干式泵无返油风险。",
        "change_type": "equipment", "target_date": today + timedelta(days=30),
        "impacts": _assessment(product_quality=("medium", "冻干过程真空度控制"),
                               validation=("medium", "FD-01 需进行 IQ/OQ 再确认"),
                               documents=("low", "设备操作与维护 SOP 更新")),
        "items": [{"kind": "equipment", "reference": "FD-01"},
                  {"kind": "validation", "reference": "VR-FD-01-2026", "note": "IQ/OQ 再确认"}],
    })  # fmt: skip
    _approve(db, number, "qa", QA, password, "同意，再确认合格后方可用于生产")
    _approve(db, number, "production", SUPERVISOR, password, "同意，安排在批次间隙施工")
    replace = _task(db, number, "更换真空泵并完成 IQ/OQ 再确认", ENGINEER, 10, kind="validation")
    _task(db, number, "更新 FD-01 操作与维护 SOP 并培训", SUPERVISOR, 21)
    _run(db, QA, lambda uow, who: changes.start_implementation(uow, who, number))
    _done(
        db,
        number,
        replace,
        ENGINEER,
        "真空泵已更换，极限真空与抽速测试合格",
        validation_ref="VR-FD-01-2026 IQ/OQ 报告",
    )


def _system_change(db: Database, password: str) -> None:
    today = changes.today()
    number = _propose(db, SUPERVISOR, {
        "title": "PharmaTrace 升级：质量管理模块新增变更控制",
        "description": "PharmaTrace 升级至新版本：新增变更控制、偏差与 CAPA 联动；数据库结构迁移 0028。",
        "justification": "TJ-10.3 要求计算机化系统的变更受控；质量管理需要电子化变更控制。",
        "change_type": "computerized_system", "target_date": today + timedelta(days=45),
        "impacts": _assessment(validation=("medium", "按验证计划执行 OQ/PQ 测试脚本"),
                               computerized_systems=("medium", "应用与数据库结构升级，需备份与回退方案"),
                               training=("low", "QA 与各部门关键用户培训")),
        "items": [{"kind": "system_component", "reference": "PHARMATRACE-QMS", "note": "质量管理模块"},
                  {"kind": "validation", "reference": "VP-PT-2026-02", "note": "验证计划"}],
        "fmea_ref": "FMEA-PT-2026-02",
    })  # fmt: skip
    _approve(db, number, "qa", QA, password, "同意，上线前提交验证报告")


def seed_changes(db: Database, password: str) -> int:
    """Add the demo's change requests; idempotent. Returns how many were added."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(ChangeRequest)):
            return 0
    _sop_revision(db, password)
    _equipment_change(db, password)
    _system_change(db, password)
    return 3
