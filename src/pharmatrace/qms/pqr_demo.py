"""Demo plant: the product quality review of 注射用丹红冻干粉 (``FG-DH-0200``) for the current year (TJ-9.4).

陈静 (``chenjing``, QA reviewer) compiles it — the year's batches and their release, yields, deviations, test
results, changes, complaints and the mock recall, the stability study — and records her conclusions per section and
overall. It stays *in review*: the demo shows the qualified person's signed approval as the next step (赵敏 or
钱宇; never the compiler).

Everything goes through the service. Idempotent: nothing is added once a review exists.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.qms import pqr as service
from pharmatrace.qms.pqr_models import ProductQualityReview
from pharmatrace.qms.pqr_schemas import PqrCompile, PqrReview
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material

PRODUCT, COMPILER = "FG-DH-0200", "chenjing"


def _period(session: Session) -> PqrCompile:
    """The current year; in the first days of January, while the completed batch is still last year's (the plant
    was set up 14 days back, ADR 0015), from 1 January of that year to the end of this one, so the review has it."""
    first = session.scalar(select(BatchOrder.created_at).order_by(BatchOrder.id).limit(1))
    this_year = service.today().year
    since = clock.to_beijing(first).year if first is not None else this_year
    if since == this_year:
        return PqrCompile(product=PRODUCT)
    return PqrCompile(product=PRODUCT, period_start=date(since, 1, 1), period_end=date(this_year, 12, 31))


def seed_pqr(db: Database, password: str) -> int:
    """Add the demo's review unless there is one; returns how many were added (``password``: the demo's, unused
    as the approval is left to the demo's visitor)."""
    del password
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(ProductQualityReview)):
            return 0
        if session.scalar(select(Material.id).where(Material.code == PRODUCT)) is None:
            return 0
        user = identity.find_user(session, COMPILER)
        assert user is not None, COMPILER
        compiler = identity.principal_of(user)
        period = _period(session)
    with UnitOfWork(db, compiler.actor, reason="demo plant seed: product quality review compiled") as uow:
        number = service.compile_review(uow, compiler, period).number
        service.record_review(uow, compiler, number, PqrReview(
            comments={
                "batches": "本年度已完成批次经质量受权人放行，无不合格批；另有 1 批生产中，待完成后审核放行。",
                "yields": "浓缩、灯检、包装收率均在规定限度内；目前仅 1 批有收率数据，批间波动待积累数据后评价。",
                "deviations": "冻干工序偏差 1 起（主要：LYO-CPP1 步骤超出工序间放置时限，根本原因为冻干机箱门密封圈"
                              "老化），已调查关闭，对所涉批次的影响评估为可接受。",
                "laboratory": "已检批次的成品检验结果均符合标准；本品种无 OOS、无 OOT；含量趋势数据尚少，需继续积累。",
                "changes": "浓缩 SOP 修订已关闭；冻干机 FD-01 真空泵更换按变更控制实施中，需在下年度回顾中确认效果。",
                "complaints": "投诉 2 起（外箱破损不成立；可见异物调查中），模拟召回 1 次，召回体系有效。",
                "stability": "长期稳定性考察已启动，0 月样品已取样送检，结果尚未报告；待结果报告后评价，继续按方案取样。",
            },
            process_stable=True,
            actions="1. 跟踪可见异物投诉调查结论；2. 冻干机真空泵更换后首 3 批加强监控；3. 跟踪稳定性 0 月检验结果；"
                    "4. 持续积累收率与含量趋势数据。",
            overall_conclusion="已完成批次工艺稳定，现行质量标准适用，未发现不良趋势；建议维持现行工艺并落实上述改进措施。",
        ))  # fmt: skip
        uow.commit()
    return 1
