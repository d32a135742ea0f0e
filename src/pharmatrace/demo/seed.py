"""``pharmatrace demo seed``: a realistic TCM-injection plant with a lyophilized powder-for-injection line.

One idempotent entry point: running it twice changes nothing the second time. Later areas extend
:func:`seed` with their own sections. Every write goes through the unit of work, so the seed itself
appears in the audit trail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from pharmatrace.equipment.demo import seed_equipment
from pharmatrace.kernel import clock
from pharmatrace.kernel.context import Actor
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.models import User
from pharmatrace.kernel.identity.schemas import UserCreate
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import service as wms
from pharmatrace.wms.models import Material, Supplier
from pharmatrace.wms.schemas import ApprovalDecision, MaterialCreate, SupplierCreate

DEMO_PASSWORD = "Pharma@2026"  # demo accounts only; printed by `make demo`
SITE_NAME = "沪津中药注射剂有限公司"


@dataclass(frozen=True, slots=True)
class DemoUser:
    login: str
    full_name: str
    employee_no: str
    department: str
    position: str
    role: str


DEMO_USERS: tuple[DemoUser, ...] = (
    DemoUser("sysadmin", "王建国", "E0001", "信息技术部", "系统管理员", "system_admin"),
    DemoUser("zhangwei", "张伟", "E1001", "生产部 冻干粉针车间", "配料岗位操作员", "production_operator"),
    DemoUser("liuyang", "刘洋", "E1002", "生产部 冻干粉针车间", "冻干岗位操作员", "production_operator"),
    DemoUser("lina", "李娜", "E1010", "生产部 冻干粉针车间", "车间主任", "production_supervisor"),
    DemoUser("chenjing", "陈静", "E2001", "质量保证部", "QA现场监督员", "qa_reviewer"),
    DemoUser("zhaomin", "赵敏", "E2010", "质量保证部", "质量受权人", "qa_release"),
    DemoUser("qianyu", "钱宇", "E2011", "质量保证部", "质量受权人", "qa_release"),
    DemoUser("wangfang", "王芳", "E3001", "质量控制部", "化学检验员", "qc_analyst"),
    DemoUser("sunli", "孙丽", "E3010", "质量控制部", "检验复核员", "qc_reviewer"),
    DemoUser("zhouqiang", "周强", "E4001", "物料部", "仓库保管员", "warehouse_keeper"),
    DemoUser("wuhao", "吴昊", "E5001", "工程设备部", "设备工程师", "equipment_engineer"),
    DemoUser("zhengxue", "郑雪", "E6001", "质量保证部", "文件管理员", "document_controller"),
    DemoUser("huangmei", "黄梅", "E6010", "人力资源部", "培训专员", "training_coordinator"),
    DemoUser("inspector", "钱立", "E9001", "药品监督管理局（外部）", "GMP检查员", "inspector"),
)

# The lyophilized TCM injection "注射用丹红冻干粉" and what goes into it.
DEMO_MATERIALS: tuple[MaterialCreate, ...] = (
    MaterialCreate(
        code="HB-DS-001",
        name="丹参（中药材）",
        kind="herb",
        unit="kg",
        storage_condition="阴凉干燥处，≤20 °C，相对湿度 ≤65 %",
        temp_max_c=Decimal("20"),
        humidity_max_pct=Decimal("65"),
        shelf_life_months=24,
        retest_months=12,
    ),
    MaterialCreate(
        code="HB-HH-001",
        name="红花（中药材）",
        kind="herb",
        unit="kg",
        storage_condition="阴凉干燥处，避光，≤20 °C",
        temp_max_c=Decimal("20"),
        humidity_max_pct=Decimal("65"),
        shelf_life_months=24,
        retest_months=12,
    ),
    MaterialCreate(
        code="HB-SQ-001",
        name="三七（中药材）",
        kind="herb",
        unit="kg",
        storage_condition="阴凉干燥处，防蛀，≤20 °C，相对湿度 ≤65 %",
        temp_max_c=Decimal("20"),
        humidity_max_pct=Decimal("65"),
        shelf_life_months=36,
        retest_months=12,
    ),
    MaterialCreate(
        code="DP-DS-001",
        name="丹参饮片",
        kind="decoction_piece",
        unit="kg",
        storage_condition="阴凉干燥处，≤20 °C",
        temp_max_c=Decimal("20"),
        shelf_life_months=24,
        retest_months=12,
    ),
    MaterialCreate(
        code="EX-DH-001",
        name="丹红提取物",
        kind="extract",
        unit="kg",
        storage_condition="2–8 °C 冷藏，密封",
        temp_min_c=Decimal("2"),
        temp_max_c=Decimal("8"),
        shelf_life_months=12,
        retest_months=6,
    ),
    MaterialCreate(
        code="EXC-MAN-01",
        name="甘露醇（注射用）",
        kind="excipient",
        unit="kg",
        storage_condition="密封，常温 10–30 °C",
        temp_min_c=Decimal("10"),
        temp_max_c=Decimal("30"),
        shelf_life_months=36,
        retest_months=24,
    ),
    MaterialCreate(
        code="PP-VIAL-10",
        name="10 mL 中硼硅玻璃管制注射剂瓶",
        kind="primary_packaging",
        unit="支",
        storage_condition="常温，防尘",
        shelf_life_months=60,
    ),
    MaterialCreate(
        code="PP-STOP-20",
        name="20 mm 冻干用覆膜胶塞",
        kind="primary_packaging",
        unit="只",
        storage_condition="常温，密封",
        shelf_life_months=36,
        retest_months=24,
    ),
    MaterialCreate(
        code="SP-CAP-20",
        name="20 mm 铝塑组合盖",
        kind="secondary_packaging",
        unit="只",
        storage_condition="常温",
    ),
    MaterialCreate(
        code="SP-BOX-10",
        name="注射用丹红冻干粉 小盒（10支装）",
        kind="secondary_packaging",
        unit="个",
        storage_condition="常温，防潮",
    ),
    MaterialCreate(
        code="IM-DH-SOL",
        name="丹红配制药液（中间产品）",
        kind="intermediate",
        unit="L",
        storage_condition="2–8 °C，最长存放 24 h",
    ),
    MaterialCreate(
        code="FG-DH-0200",
        name="注射用丹红冻干粉 200 mg/支",
        kind="finished_good",
        unit="支",
        strength="200 mg/支",
        storage_condition="遮光，密闭，不超过 20 °C",
        shelf_life_months=24,  # the expiry printed at packaging (TJ-6.4.6)
    ),
)


# Suppliers and the approved-supplier list: herbs from named planting bases (TJ-5.1), one conditional
# approval, one suspended supplier and one approval that has lapsed, so receipts can be refused.
DEMO_SUPPLIERS: tuple[SupplierCreate, ...] = (
    SupplierCreate(code="SUP-SL-DS", name="商洛丹参规范化种植基地", kind="planting_base",
                   address="陕西省商洛市商州区", contact="刘建国 0914-2310000"),
    SupplierCreate(code="SUP-YM-HH", name="裕民红花种植合作社", kind="planting_base",
                   address="新疆塔城地区裕民县", contact="马晓东 0901-6520000"),
    SupplierCreate(code="SUP-WS-SQ", name="文山三七GAP基地", kind="planting_base",
                   address="云南省文山壮族苗族自治州砚山县", contact="王春华 0876-2120000"),
    SupplierCreate(code="SUP-TL-MAN", name="鲁南药用辅料有限公司", kind="manufacturer",
                   address="山东省临沂市", contact="质量部 0539-8880000"),
    SupplierCreate(code="SUP-LZ-GLS", name="鲁中药用玻璃有限公司", kind="manufacturer",
                   address="山东省淄博市", contact="销售部 0533-4180000"),
    SupplierCreate(code="SUP-JN-STP", name="江南医用胶塞有限公司", kind="manufacturer",
                   address="江苏省江阴市", contact="客服 0510-8600000"),
    SupplierCreate(code="SUP-BZ-YP", name="亳州华济中药饮片有限公司", kind="manufacturer",
                   address="安徽省亳州市谯城区", contact="质量部 0558-5510000"),
    SupplierCreate(code="SUP-SD-STP", name="山东永瑞医用胶塞有限公司", kind="manufacturer",
                   address="山东省淄博市", contact="销售部 0533-3160000"),
    SupplierCreate(code="SUP-HB-CAP", name="河北华强药用包装有限公司", kind="manufacturer",
                   address="河北省沧州市", contact="客服 0317-5280000"),
    SupplierCreate(code="SUP-SH-PRT", name="上海美印包装印刷有限公司", kind="manufacturer",
                   address="上海市松江区", contact="质量部 021-57780000"),
)  # fmt: skip


def _month_end(day: date, months: int) -> date:
    """The last day of the month ``months`` after ``day``'s."""
    first = date(day.year + (day.month - 1 + months + 1) // 12, (day.month - 1 + months + 1) % 12 + 1, 1)
    return first - timedelta(days=1)


def demo_approvals(on: date) -> tuple[ApprovalDecision, ...]:
    """The approved-supplier list as the plant is set up ``on``: the approvals valid for months to come (so the demo
    never ages into expiry), 裕民's 红花 expired on a fixed date, one supplier suspended."""
    return (
        ApprovalDecision(supplier_code="SUP-SL-DS", material_code="HB-DS-001", status="approved",
                         valid_until=_month_end(on, 7), reason="现场审计合格（基地 GAP 审计 2026-06）"),
        ApprovalDecision(supplier_code="SUP-YM-HH", material_code="HB-HH-001", status="approved",
                         valid_until=date(2026, 10, 31), reason="年度评价合格"),
        ApprovalDecision(supplier_code="SUP-WS-SQ", material_code="HB-SQ-001", status="approved",
                         valid_until=_month_end(on, 10), reason="基地 GAP 现场审计合格（2026-09）"),
        ApprovalDecision(supplier_code="SUP-TL-MAN", material_code="EXC-MAN-01", status="conditional",
                         valid_until=_month_end(on, 4), reason="新增供应商，三批检验合格前有条件批准"),
        ApprovalDecision(supplier_code="SUP-LZ-GLS", material_code="PP-VIAL-10", status="approved",
                         valid_until=_month_end(on, 13), reason="质量审计合格"),
        ApprovalDecision(supplier_code="SUP-JN-STP", material_code="PP-STOP-20", status="suspended",
                         reason="胶塞可见异物投诉，暂停采购，待现场审计"),
        # the suppliers of the completed batch's materials (pharmatrace.mes.history_demo)
        ApprovalDecision(supplier_code="SUP-BZ-YP", material_code="DP-DS-001", status="approved",
                         valid_until=_month_end(on, 9), reason="饮片生产企业现场审计合格（2026-08）"),
        ApprovalDecision(supplier_code="SUP-BZ-YP", material_code="HB-HH-001", status="approved",
                         valid_until=_month_end(on, 9), reason="红花（新疆产）来源与质量审计合格"),
        ApprovalDecision(supplier_code="SUP-SD-STP", material_code="PP-STOP-20", status="approved",
                         valid_until=_month_end(on, 11), reason="胶塞第二供应商，质量审计合格"),
        ApprovalDecision(supplier_code="SUP-HB-CAP", material_code="SP-CAP-20", status="approved",
                         valid_until=_month_end(on, 10), reason="质量审计合格，盖面印字按 DWG-PK-002"),
        ApprovalDecision(supplier_code="SUP-SH-PRT", material_code="SP-BOX-10", status="approved",
                         valid_until=_month_end(on, 10), reason="印刷包装材料供应商审计合格，按 DWG-PK-001 印刷"),
    )  # fmt: skip


def _seed_suppliers(db: Database, actor: Actor) -> int:
    added = 0
    with UnitOfWork(db, actor, reason="demo plant seed: suppliers and the approved-supplier list") as uow:
        codes = set(uow.session.scalars(select(Supplier.code)))
        for supplier in DEMO_SUPPLIERS:
            if supplier.code not in codes:
                wms.create_supplier(uow, supplier)
                added += 1
        listed = {(a.supplier.code, a.material.code) for a in wms.list_approvals(uow.session)}
        for decision in demo_approvals(clock.to_beijing(clock.now()).date()):
            if (decision.supplier_code, decision.material_code) not in listed:
                wms.decide_approval(uow, decision)
        uow.commit()
    return added


def seed(db: Database) -> dict[str, int]:
    """Build the demo plant, or add what is missing; returns what was added (ADR 0015).

    On a new database the plant's set-up runs under the seed clock at day −14 (Beijing working hours), then
    the completed batch over the following days (:mod:`pharmatrace.mes.history_demo`); the seed then returns
    to the real time for what the demo shows as "now" (stock and its readings, read tasks, the batch in
    progress) and the final checkpoint, so the times along the ledger stay in order. A database with an
    audit trail already keeps it: what is missing is added at the real time, without the history.
    """
    from pharmatrace.bootstrap import prepare
    from pharmatrace.mes.history_demo import seed_history, set_up_time

    added: dict[str, int] = {}
    actor = Actor.system("demo-seed")
    if _is_new(db):
        with clock.seeded(set_up_time()) as seed_clock:
            prepare(db)  # the schema and the standard roles, at the set-up time too
            _set_up(db, actor, added)
            added.update(seed_history(db, DEMO_PASSWORD, seed_clock))
    else:
        prepare(db)
        _set_up(db, actor, added)
        added.update(seed_history(db, DEMO_PASSWORD, None))
    _today(db, actor, added)
    return added


def _is_new(db: Database) -> bool:
    """No audit trail yet (not even the standard roles): the set-up and the history can be dated back."""
    from sqlalchemy import inspect

    from pharmatrace.kernel.audit import AuditEntry

    if not inspect(db.engine).has_table(AuditEntry.__tablename__):
        return True
    with db.sessions() as session:
        return session.scalar(select(AuditEntry.id).limit(1)) is None


def _set_up(db: Database, actor: Actor, added: dict[str, int]) -> None:
    """The plant as it was set up: people, materials, suppliers, equipment, documents, lots, recipe, training."""
    from pharmatrace.bootstrap import install_standard_roles

    added["roles"] = install_standard_roles(db)
    with UnitOfWork(db, actor, reason="demo plant seed: demo accounts start ready to use") as uow:
        logins = set(uow.session.scalars(select(User.login)))
        added["users"] = 0
        for demo in DEMO_USERS:
            if demo.login in logins:
                continue
            user = identity.create_user(
                uow,
                UserCreate(
                    login=demo.login,
                    full_name=demo.full_name,
                    employee_no=demo.employee_no,
                    department=demo.department,
                    position=demo.position,
                    password=DEMO_PASSWORD,
                    roles=[demo.role],
                ),
            )
            user.must_change_password = False
            added["users"] += 1
        uow.commit()
    with UnitOfWork(db, actor, reason="demo plant seed") as uow:
        codes = set(uow.session.scalars(select(Material.code)))
        added["materials"] = 0
        for material in DEMO_MATERIALS:
            if material.code not in codes:
                wms.create_material(uow, material)
                added["materials"] += 1
        uow.commit()
    added["suppliers"] = _seed_suppliers(db, actor)
    with UnitOfWork(db, actor, reason="demo plant seed: rooms and equipment with their logbooks") as uow:
        added.update(seed_equipment(uow))  # the lyophilized-injection line (pharmatrace.equipment.demo)
        uow.commit()
    from pharmatrace.documents.demo import seed_documents

    added["documents"] = seed_documents(db, DEMO_PASSWORD)  # SOPs, MPR, spec, artwork (documents.demo)
    from pharmatrace.origin.demo import seed_origin

    with UnitOfWork(db, actor, reason="demo plant seed: planting bases, plots, harvests, shipments") as uow:
        added.update(seed_origin(uow))  # where the herbs come from (pharmatrace.origin.demo, TJ-5.1)
        uow.commit()
    from pharmatrace.wms.demo import seed_lots

    added["lots"] = seed_lots(db, DEMO_PASSWORD)  # received by scanning, signed (pharmatrace.wms.demo)
    from pharmatrace.wms.stock_demo import seed_locations

    added["locations"] = seed_locations(db)  # the stores (pharmatrace.wms.stock_demo)
    from pharmatrace.mes.dispensing import seed_scale_endpoints

    added["scale_endpoints"] = seed_scale_endpoints(db)  # the balances' MT-SICS addresses (TJ-6.3.2.2)
    from pharmatrace.mes.recipe_demo import seed_recipes

    added["master_recipes"] = seed_recipes(db, DEMO_PASSWORD)  # imported, reviewed, approved (TJ-6.4.3.1)
    from pharmatrace.training.demo import seed_training

    with UnitOfWork(db, actor, reason="demo plant seed: training needs, records and gates") as uow:
        added.update(seed_training(uow))  # after documents (pharmatrace.training.demo)
        uow.commit()


def _today(db: Database, actor: Actor, added: dict[str, int]) -> None:
    """What the demo shows as "now", at the real time: read tasks, courses, stock, samples, the line's recent
    logbooks, the batch in progress and the final checkpoint."""
    from pharmatrace.documents.distribution import seed_distribution

    added["read_tasks"] = seed_distribution(db, DEMO_PASSWORD)  # read tasks, acknowledgements, copies
    from pharmatrace.training.course_demo import seed_courses

    added["training_courses"] = seed_courses(db)  # courses, curricula, plan (training.course_demo)
    from pharmatrace.equipment.sops import seed_sops

    with UnitOfWork(db, actor, reason="demo plant seed: the SOPs of the equipment and rooms") as uow:
        added["equipment_sops"] = seed_sops(uow)  # after the documents (pharmatrace.equipment.sops, TJ-6.1)
        uow.commit()
    from pharmatrace.wms.stock_demo import seed_stock

    added["locations"] += seed_stock(db)  # stock, readings, an intermediate (pharmatrace.wms.stock_demo)
    from pharmatrace.lims.reagent_demo import seed_reagents
    from pharmatrace.lims.sample_demo import seed_samples
    from pharmatrace.lims.specs_demo import seed_specifications

    added["lims_specifications"] = seed_specifications(db, DEMO_PASSWORD)  # herbs, excipients, product
    added["lims_reagents"] = seed_reagents(db, DEMO_PASSWORD)  # reagents, standards, solutions, instruments
    added["lims_samples"] = seed_samples(db, DEMO_PASSWORD)  # plans, samples, retained samples
    from pharmatrace.lims.result_demo import seed_results

    added["lims_results"] = seed_results(db, DEMO_PASSWORD)  # test orders, results, one OOS
    from pharmatrace.lims.certificate_demo import seed_certificate

    added["lims_certificates"] = seed_certificate(db, DEMO_PASSWORD)  # the completed batch's lot certified
    from pharmatrace.lims.stability_demo import seed_stability

    added["lims_stability"] = seed_stability(db, DEMO_PASSWORD)  # a stability study of the product
    from pharmatrace.qms.change_demo import seed_changes
    from pharmatrace.qms.deviation_demo import seed_deviations

    added["qms_deviations"] = seed_deviations(db, DEMO_PASSWORD)  # deviations under investigation, closed
    from pharmatrace.qms.capa_demo import seed_capas

    added["qms_capas"] = seed_capas(db, DEMO_PASSWORD)  # CAPA from the deviations and the OOS
    added["qms_changes"] = seed_changes(db, DEMO_PASSWORD)  # change controls in their stages
    from pharmatrace.origin.demo import seed_feedback

    with UnitOfWork(db, actor, reason="demo plant seed: a quality anomaly reported to a base") as uow:
        added["origin_feedback"] = seed_feedback(uow)
        uow.commit()
    if added.get("completed_batches"):  # the line's logbooks since the completed batch, up to today
        added["logbook_entries"] = _recent_logbooks(db, actor)
    from pharmatrace.mes.execution_demo import seed_batches

    added["batch_orders"] = seed_batches(db, DEMO_PASSWORD)  # a released batch in progress (TJ-6.4)
    from pharmatrace.qms.dossier_demo import seed_dossiers
    from pharmatrace.qms.release_demo import seed_release

    # the product's registration certificate (the release checklist asks for it), the licence, the agreements
    added["qms_dossiers"] = seed_dossiers(db, DEMO_PASSWORD)

    added["batch_releases"] = seed_release(db, DEMO_PASSWORD)  # the completed batch's release (TJ-9.1)
    from pharmatrace.trace.demo import seed_shipments

    added["shipments"] = seed_shipments(db)  # the released batch shipped and picked (SH-6.2.5, TJ-9.1)
    from pharmatrace.qms.complaint_demo import seed_complaints
    from pharmatrace.qms.recall_demo import seed_recalls

    added["qms_complaints"] = seed_complaints(
        db, DEMO_PASSWORD
    )  # a hospital's complaint on the shipped batch
    added["qms_recalls"] = seed_recalls(db, DEMO_PASSWORD)  # a mock recall of the shipped batch, closed
    from pharmatrace.qms.audit_demo import seed_audits
    from pharmatrace.qms.pqr_demo import seed_pqr
    from pharmatrace.qms.risk_demo import seed_risks

    added["qms_audits"] = seed_audits(db, DEMO_PASSWORD)  # a closed self-inspection, a planned supplier audit
    added["qms_risks"] = seed_risks(db, DEMO_PASSWORD)  # an approved FMEA of the lyophilization step
    added["qms_pqr"] = seed_pqr(db, DEMO_PASSWORD)  # the product's quality review for the year, compiled
    from pharmatrace.qms.supplier_qualification_demo import seed_supplier_qualifications
    from pharmatrace.qms.validation_demo import seed_validation

    added["qms_validation"] = seed_validation(
        db, DEMO_PASSWORD
    )  # the lyophilizer's qualification, a process validation
    added["qms_supplier_qualifications"] = seed_supplier_qualifications(
        db, DEMO_PASSWORD
    )  # a supplier qualified
    from pharmatrace.monitoring.demo import seed_monitoring

    added["monitoring"] = seed_monitoring(db)  # sources, tags, a history of values (SH-8.4.3)
    from pharmatrace.monitoring.assignments import seed_assignments

    added["monitoring_assignments"] = seed_assignments(db)  # who is told of a room's or a system's alarms
    from pharmatrace.kernel.ledger_jobs import checkpoint

    checkpoint(db)  # the seeded plant starts fully covered by a signed, witnessed checkpoint


def _recent_logbooks(db: Database, actor: Actor) -> int:
    """The equipment demo's logbook entries that still hold now, recorded again relative to today.

    The line was set up at day −14 with its logbooks "imported from paper" relative to that moment
    (pharmatrace.equipment.demo), and the completed batch cleaned and used it since. What the demo shows now —
    most of the line clean and valid, 轧盖间 in use; TK-01 and 外包间 past their cleaning, VW-01 under
    maintenance, BAL-02 past its calibration, as they were — takes again the cleanings, sterilisations and uses
    whose validity still runs now, relative to the real time (TJ-6.1).
    """
    from pharmatrace.equipment import service as equipment_service
    from pharmatrace.equipment.demo import DEMO_EQUIPMENT, ROOM_HISTORY, Event
    from pharmatrace.equipment.schemas import LogEntryCreate

    added = 0
    with UnitOfWork(db, actor, reason="demo plant seed: the line's logbooks of the last days") as uow:
        now = clock.now()

        def holding(
            events: tuple[Event, ...], validity: dict[str, int | None]
        ) -> Iterator[tuple[LogEntryCreate, datetime]]:
            for event in events:
                hours = validity.get(event.kind)
                if event.kind == "use" or (hours is not None and event.hours_ago < hours):
                    entry = LogEntryCreate(kind=event.kind, description=event.description,
                                           reference=event.reference, batch_no=event.batch_no)  # fmt: skip
                    yield entry, now - timedelta(hours=event.hours_ago)

        for room_code, events in ROOM_HISTORY.items():
            room = equipment_service.room_by_code(uow.session, room_code)
            for entry, performed_at in holding(events, {"cleaning": room.clean_validity_hours}):
                equipment_service.record_room_entry(uow, room.id, entry, performed_at=performed_at)
                added += 1
        for demo in DEMO_EQUIPMENT:
            validity = {"cleaning": demo.data.cleaning_validity_hours,
                        "sterilisation": demo.data.sterilisation_validity_hours}  # fmt: skip
            found = equipment_service.find_by_code(uow.session, demo.data.code)
            for entry, performed_at in holding(demo.history, validity):
                equipment_service.record_equipment_entry(uow, found.id, entry, performed_at=performed_at)
                added += 1
        uow.commit()
    return added
