"""The demo plant's training needs, records, qualification gates and one pending access request.

Runs after the documents demo (the SOPs exist, SOP-PR-007 v2 effective from the seed time with no grace)
and the courses demo. Idempotent: a second run adds nothing.

* needs per role, position and department × SOP (SH-6.3.4);
* everybody trained on the current versions of what they need — except liuyang (冻干岗位操作员), trained
  on SOP-PR-007 v1 only: v2 (grace 0 days) leaves him lapsed, so the lyophilization step refuses him
  (``require_trained``); zhangwei is trained on v2;
* ``mes.batch.execute`` requires SOP-WH-001 and SOP-QA-001 (TJ-10.1.2.2.d), on which every operator is trained;
* lina (车间主任) asks for the production-operator role for zhouqiang (支援配料岗位): pending, with the
  training it needs assigned.
"""

from __future__ import annotations

from sqlalchemy import select

from pharmatrace.documents.models import Document, DocumentVersion
from pharmatrace.kernel.identity import access_requests
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.training import gates, service
from pharmatrace.training.models import TrainingNeed, TrainingRecord
from pharmatrace.training.schemas import NeedCreate, RequirementCreate

PRODUCTION_SOPS = tuple(f"SOP-PR-{n:03d}" for n in range(1, 11))
CLEANING_SOPS = tuple(f"SOP-CL-{n}" for n in range(101, 108))
NEEDS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("role", "production_operator", (*PRODUCTION_SOPS, "SOP-WH-001", "SOP-QA-001", *CLEANING_SOPS)),
    ("role", "production_supervisor", (*PRODUCTION_SOPS, "SOP-WH-001", "SOP-QA-001", "MPR-DH-001")),
    ("role", "qa_reviewer", ("SOP-QA-001", "MPR-DH-001", "SPEC-DH-001")),
    ("role", "qa_release", ("MPR-DH-001", "SPEC-DH-001")),
    ("role", "warehouse_keeper", ("SOP-WH-001",)),
    ("role", "equipment_engineer", ("SOP-EQ-201", "SOP-EQ-202", "SOP-EQ-211")),
    ("position", "冻干岗位操作员", ("SOP-PR-007",)),
    ("department", "质量控制部", ("SPEC-DH-001",)),
)
REQUIREMENTS = (("mes.batch.execute", "SOP-WH-001"), ("mes.batch.execute", "SOP-QA-001"))
TRAINER = "huangmei"
LAPSED = ("liuyang", "SOP-PR-007")  # trained on v1 only
UNTRAINED = (("wangfang", "SPEC-DH-001"),)  # an open task, not yet due
EVIDENCE = "2026年度岗位培训签到表及培训效果评估（演示）"


def seed_training(uow: UnitOfWork) -> dict[str, int]:
    session = uow.session
    added = {
        "training_needs": 0,
        "training_records": 0,
        "qualification_requirements": 0,
        "access_requests": 0,
    }
    if session.scalar(select(TrainingNeed.id).limit(1)) is not None:
        return added
    coordinator = identity.find_user(session, TRAINER)
    assert coordinator is not None, "the demo users come first"
    principal = identity.principal_of(coordinator)
    existing = set(session.scalars(select(Document.number)))
    effective = gates.effective_versions(session, existing)
    users = list(session.scalars(select(User).where(User.active.is_(True)).order_by(User.login)))
    wanted: dict[str, set[str]] = {}
    for kind, subject, numbers in NEEDS:
        for user in users:
            if (kind, subject) in service.subjects_of(user):
                wanted.setdefault(user.login, set()).update(n for n in numbers if n in effective)

    # Records first, so the needs below assign tasks only for what is really missing.
    skip = {LAPSED, *UNTRAINED}
    for user in users:
        for number in sorted(wanted.get(user.login, ())):
            current = effective[number]
            if (user.login, number) in skip:
                if (user.login, number) == LAPSED and current.previous_id is not None:
                    _record(uow, user, current.previous_id, coordinator)
                    added["training_records"] += 1
                continue
            if current.previous_id is not None:  # trained on the earlier version too, as it happened
                _record(uow, user, current.previous_id, coordinator)
                added["training_records"] += 1
            _record(uow, user, current.version_id, coordinator)
            added["training_records"] += 1

    # liuyang's task is the one the v2 approval gives (due at effective_from + 0 days): overdue at once.
    liuyang = identity.find_user(session, LAPSED[0])
    if liuyang is not None and LAPSED[1] in effective:
        current = effective[LAPSED[1]]
        version = session.get(DocumentVersion, current.version_id)
        assert version is not None
        service.assign(uow, liuyang, source="version_approved", due_at=current.grace_until, version=version)

    for kind, subject, numbers in NEEDS:
        for number in numbers:
            if number in existing:
                service.add_need(
                    uow, principal, NeedCreate(subject_kind=kind, subject=subject, document_number=number)
                )
                added["training_needs"] += 1
    for permission, number in REQUIREMENTS:
        if number in existing:
            service.add_requirement(
                uow, principal, RequirementCreate(permission=permission, document_number=number)
            )
            added["qualification_requirements"] += 1

    lina = identity.find_user(session, "lina")
    zhouqiang = identity.find_user(session, "zhouqiang")
    if lina is not None and zhouqiang is not None:
        access_requests.request_role(
            uow,
            identity.principal_of(lina),
            user_id=zhouqiang.id,
            role_code="production_operator",
            justification="周强调岗支援冻干粉针车间配料岗位（称量配料），需执行批生产称量步骤。",
        )
        added["access_requests"] += 1
    session.flush()
    return added


def _record(uow: UnitOfWork, user: User, version_id: int, trainer: User) -> TrainingRecord:
    return service.record_completion(
        uow,
        user_id=user.id,
        document_version_id=version_id,
        course_id=None,
        method="classroom" if user.id != trainer.id else "self_study",
        passed=True,
        score=None,
        trainer_user_id=trainer.id if user.id != trainer.id else None,
        evidence=EVIDENCE,
        valid_until=None,
    )
