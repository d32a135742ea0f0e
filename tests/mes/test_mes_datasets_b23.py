"""The production data sets of the Tianjin guide (TJ-B.2.3.1 to TJ-B.2.3.4) out of a batch: the batch
production record per process, the deviation raised from one of its exceptions, its line clearance, and the
batch packaging record per printed material — under the guide's short names and formats, through the export
API and the command line, each export audited; items the system has no data for are empty, not invented."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from dispensing_plant import new_order, run_step
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import audit_entries, principal, token
from pharmatrace.cli import app
from pharmatrace.compliance import catalogue
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.documents import service as documents
from pharmatrace.documents.schemas import ApproveDecision, DocumentCreate, ReviewDecision
from pharmatrace.equipment.models import Equipment
from pharmatrace.exchange import datasets, export
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, packaging, recipes
from pharmatrace.mes.execution_models import StepExecution
from pharmatrace.mes.execution_schemas import ExceptionDecision, OrderCreate, StepComplete
from pharmatrace.mes.packaging_schemas import (
    BalanceCreate,
    LineCheckCreate,
    LineCheckVerify,
    MaterialCheckCreate,
    PackagingRecordCreate,
    PrintCheckCreate,
    ReconciliationCreate,
    VisualInspectionCreate,
)
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database
from pharmatrace.wms.models import Material

PW = DEMO_PASSWORD
OPERATOR, SUPERVISOR, QA = "zhangwei", "lina", "chenjing"
API = "/api/v1/exchange/datasets"
CODE = "MR-X-001"
RECIPE: dict[str, Any] = {
    "recipe_code": CODE, "product_code": "FG-X-001", "product_name": "数据集测试冻干粉 100 mg/支",
    "batch_size": "1000", "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [{"code": "UP-A", "name": "配制", "operations": [
        {"code": "OP-A1", "name": "称量与配制", "equipment_classes": ["balance"], "room": "RM-WEIGH", "steps": [
            {"code": "A-LC", "name": "清场确认", "type": "line_clearance", "instruction": "确认清场",
             "checks": ["无上批物料", "清场合格证有效"], "signoff": "operator_verifier"},
            {"code": "A-PU", "name": "天平检查", "type": "pre_use_check", "instruction": "检查天平",
             "checks": ["水平泡居中"]},
            {"code": "A-IN", "name": "穿戴", "type": "instruction", "instruction": "按规定更衣", "signoff": "none"},
            {"code": "A-DE", "name": "称量记录", "type": "data_entry", "instruction": "记录重量",
             "parameters": [{"code": "weight", "name": "重量", "unit": "kg", "action_low": "9", "action_high": "11"}]},
            {"code": "A-CPP", "name": "搅拌", "type": "cpp", "instruction": "搅拌", "parameters": [
                {"code": "temp", "name": "温度", "unit": "°C", "target": "25", "alert_high": "27",
                 "action_low": "20", "action_high": "30"}]},
            {"code": "A-IPC", "name": "中控", "type": "ipc", "instruction": "测 pH", "signoff": "supervisor",
             "controls": [{"code": "ph", "name": "pH", "low": "5.5", "high": "6.5"}]},
            {"code": "A-Y", "name": "配制收率", "type": "yield", "instruction": "计算收率",
             "yield_limits": {"low_pct": "90", "high_pct": "100"}},
        ]},
    ]}],
}  # fmt: skip


def _act(db: Database, login: str, work: Any, reason: str | None = None) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor, reason=reason) as uow:
        result = work(uow, who)
        uow.commit()
        return result


def signed(login: str = OPERATOR, **values: Any) -> dict[str, Any]:
    return {"password": PW, "login": login, **values}


def production_batch(db: Database, monkeypatch: pytest.MonkeyPatch) -> str:
    """A completed batch of the test's recipe: cleared and verified, the balance checked, a value entered late
    from the paper record, a CPP above its alert limit, a failed control, a yield below its limits that the
    supervisor turns into a deviation. Returns the batch number."""
    version_id = _act(
        db, "lina", lambda uow, who: recipes.import_draft(uow, RecipeBody.model_validate(RECIPE)).id
    )
    _act(db, "lina", lambda uow, who: recipes.submit(uow, version_id))
    _act(db, "zhaomin", lambda uow, who: recipes.review(uow, who, version_id, password=PW, login="zhaomin"))
    _act(
        db, "chenjing", lambda uow, who: recipes.approve(uow, who, version_id, password=PW, login="chenjing")
    )

    def plan(uow: UnitOfWork, who: Any) -> str:
        order = execution.create_order(uow, who, OrderCreate.model_validate(
            {"recipe_code": CODE, "batch_size": "1000", "planned_start": "2026-12-01", "planned_end": "2026-12-02"}))  # fmt: skip
        execution.release(uow, who, order, password=PW, login=SUPERVISOR)
        return order.batch_no

    batch = str(_act(db, SUPERVISOR, plan))

    def step(code: str, data: dict[str, Any], second: str | None = None) -> None:
        _act(
            db,
            OPERATOR,
            lambda uow, who: execution.start(uow, who, execution.get_order(uow.session, batch), code),
        )
        _act(db, OPERATOR, lambda uow, who: execution.complete(
            uow, who, execution.get_order(uow.session, batch), code, StepComplete.model_validate(data)))  # fmt: skip
        if second:
            _act(db, second, lambda uow, who: execution.sign_step(
                uow, who, execution.get_order(uow.session, batch), code, password=PW, login=second))  # fmt: skip

    step("A-LC", signed(checks=["pass", "na"]), SUPERVISOR)
    step("A-PU", signed(checks=["pass"], equipment=["BAL-01"]))
    step("A-IN", {"acknowledged": True})
    observed = clock.now()
    _act(
        db,
        OPERATOR,
        lambda uow, who: execution.start(uow, who, execution.get_order(uow.session, batch), "A-DE"),
    )
    offset = timedelta(minutes=40)  # the entry is made 40 min after the reading (the recipe allows 30)
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + offset)
    _act(db, OPERATOR, lambda uow, who: execution.complete(
        uow, who, execution.get_order(uow.session, batch), "A-DE", StepComplete.model_validate(signed(
            values={"weight": "10.2"}, observed_at=(observed + timedelta(seconds=1)).isoformat(),
            late_reason="系统停机，纸质记录补录"))))  # fmt: skip
    step("A-CPP", signed(values={"temp": "28"}))
    step("A-IPC", signed(values={"ph": "6.8"}, comments={"ph": "复测 6.7"}), SUPERVISOR)
    step("A-Y", signed(values={"actual": "850", "theoretical": "1000"}, comments={"yield": "过滤损失"}))
    with db.sessions() as session:
        [exception] = [e for e in execution.exceptions_of(session, execution.get_order(session, batch))
                       if e.kind == "yield_limit"]  # fmt: skip
        exception_id = exception.id
    decision = ExceptionDecision(decision="deviation", comment="收率偏低，转偏差调查", immediate_actions="隔离本批中间体",
                                 password=PW, login=SUPERVISOR)  # fmt: skip
    _act(db, SUPERVISOR, lambda uow, who: execution.decide(uow, who, exception_id, decision))
    return batch


def artwork(db: Database) -> str:
    """The carton's artwork: a controlled drawing, effective."""
    body = DocumentCreate(
        title="数据集测试小盒印刷稿", doc_type="drawing", department="PR", markdown="# 小盒印刷稿"
    )
    number = str(_act(db, "lina", lambda uow, who: documents.create_document(uow, who, body).document.number))
    _act(db, "lina", lambda uow, who: documents.submit(uow, who, number))
    review = ReviewDecision(password=PW, login="chenjing")
    _act(db, "chenjing", lambda uow, who: documents.review(uow, who, number, review))
    approve = ApproveDecision(password=PW, login="zhaomin")
    _act(db, "zhaomin", lambda uow, who: documents.approve(uow, who, number, approve))
    return number


def packaged_batch(db: Database) -> str:
    """A batch of the demo recipe at its inspection and packaging stages (steps put in progress as test set-up)
    with the whole packaging record: the carton verified, printed data checked, 10 100 vials inspected, the
    visual inspection step completed, 10 000 finished and the cartons reconciled."""
    batch = new_order(db)
    with UnitOfWork(
        db, principal(db, OPERATOR).actor, reason="test set-up: shelf life, batch on the floor"
    ) as uow:
        product = uow.session.scalar(select(Material).where(Material.code == "FG-DH-0200"))
        assert product is not None
        product.shelf_life_months = 24
        order = execution.get_order(uow.session, batch)
        order.status, order.started_at = "in_progress", clock.now()
        uow.commit()
    for code in ("VI-DE", "PKG-ID", "PKG-Y"):
        run_step(db, batch, code)
    art = artwork(db)
    record = PackagingRecordCreate(step="PKG-ID", bulk_batch_no=batch, bulk_quantity=Decimal(10100),
                                   planned_quantity=Decimal(10000), pack_size="10 支/盒", line="包装线 1",
                                   room="RM-PACK", instruction="SOP-PR-010")  # fmt: skip
    opened = _act(db, OPERATOR, lambda uow, who: packaging.open_record(uow, who, batch, record))
    checks = [
        {"item": "无上批包装材料和标签", "result": "pass"},
        {"item": "打印模板为本批", "result": "pass"},
    ]
    line = LineCheckCreate.model_validate({"step": "PKG-ID", "checks": checks, **signed()})
    _act(db, OPERATOR, lambda uow, who: packaging.record_line_check(uow, who, batch, line))
    verify = LineCheckVerify(password=PW, login="liuyang")
    _act(db, "liuyang", lambda uow, who: packaging.verify_line_check(uow, who, batch, verify))
    carton = MaterialCheckCreate(step="PKG-ID", material="SP-BOX-10", kind="carton", lot_number="BX2611-03",
                                 artwork=art, artwork_version=1, per_unit=Decimal("0.1"))  # fmt: skip
    _act(db, OPERATOR, lambda uow, who: packaging.check_material(uow, who, batch, carton))
    printed = PrintCheckCreate(step="PKG-ID", material="SP-BOX-10", printed_batch_no=batch,
                               printed_expiry=opened.expiry_date)  # fmt: skip
    _act(db, OPERATOR, lambda uow, who: packaging.check_print(uow, who, batch, printed))
    counts = VisualInspectionCreate(
        step="VI-DE", inspected=10100, good=10000, particles=60, glass=10, cracks=30
    )
    _act(db, OPERATOR, lambda uow, who: packaging.inspect(uow, who, batch, counts))
    vi = StepComplete.model_validate(signed(values={"inspected": "10100", "rejected": "100"}))
    _act(
        db,
        OPERATOR,
        lambda uow, who: execution.complete(uow, who, execution.get_order(uow.session, batch), "VI-DE", vi),
    )
    balance = BalanceCreate(step="PKG-Y", finished=Decimal(10000), samples=Decimal(20), rejects=Decimal(80))
    _act(db, OPERATOR, lambda uow, who: packaging.record_balance(uow, who, batch, balance))
    reconciled = ReconciliationCreate(
        step="PKG-Y", material="SP-BOX-10", issued=1020, used=1000, destroyed=15, returned=5
    )
    _act(db, OPERATOR, lambda uow, who: packaging.reconcile(uow, who, batch, reconciled))
    return batch


def exported(client: TestClient, clause: str, batch: str, key: str = "CPPH") -> list[dict[str, Any]]:
    response = client.get(f"{API}/{clause}", headers=token(client, "inspector"))
    assert response.status_code == 200, response.text
    document = json.loads(response.content)
    assert document["dataset"] == clause
    return [r for r in document["records"] if batch in str(r[key])]


@pytest.mark.clause("TJ-B.2.3.1", "TJ-B.2.3.2", "TJ-B.2.3.3", "TJ-B.2.3.4", "TJ-B.1.3")
def test_the_four_production_data_sets_have_the_short_names_of_tables_b6_to_b9_and_are_exported() -> None:
    registered = datasets.load_all()
    cat = catalogue.load()
    for clause in ("TJ-B.2.3.1", "TJ-B.2.3.2", "TJ-B.2.3.3", "TJ-B.2.3.4"):
        assert registered[clause].short_names == cat[clause].short_names, clause
        assert datasets.SOURCES[clause].permission == "mes.batch.view"
    assert [i.type for i in registered["TJ-B.2.3.1"].items if i.type != "字符型"] == ["日期时间型"] * 4
    assert {i.short: i.type for i in registered["TJ-B.2.3.4"].items}["SYSL"] == "浮点型"


@pytest.mark.scenario
@pytest.mark.clause("TJ-B.2.3.1", "TJ-B.2.3.2", "TJ-B.2.3.3", "TJ-B.1.5", "TJ-10.1.3.1")
def test_a_batch_gives_its_production_record_deviation_and_line_clearance_through_the_api(
    db: Database, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = production_batch(db, monkeypatch)
    before = len(audit_entries(db, event=export.EXPORT_EVENT))
    with db.sessions() as session:
        order = execution.get_order(session, batch)
        steps = {
            s.step_code: s
            for s in session.scalars(select(StepExecution).where(StepExecution.batch_order_id == order.id))
        }
        assert order.status == "completed" and order.started_at and order.completed_at
        started, completed = order.started_at, order.completed_at
        balance_name = session.scalar(select(Equipment.name).where(Equipment.code == "BAL-01"))

    [process] = exported(client, "TJ-B.2.3.1", batch)
    assert list(process) == list(datasets.REGISTRY["TJ-B.2.3.1"].short_names)
    assert (process["CPBM"], process["CPMC"], process["CPGG"]) == (
        "FG-X-001",
        "数据集测试冻干粉 100 mg/支",
        "100 mg/支",
    )
    assert (process["PL"], process["SCGX"]) == ("1000 支", "UP-A 配制")
    assert process["SCKSSJ"] == clock.format_exchange(started) == process["GXKSSJ"]
    assert process["SCJSSJ"] == clock.format_exchange(completed)
    assert process["GXJSSJ"] == clock.format_exchange(
        max(s.completed_at for s in steps.values() if s.completed_at)
    )
    assert (process["SBBH"], process["SBMC"]) == ("BAL-01", balance_name)  # the room is no equipment
    assert process["CZR"] == "张伟（zhangwei）" and process["FHR"] == "李娜（lina）"
    assert process["GJGYCS"] == "温度 28 °C（超出警戒限）"
    manual = process["RGCZJL"].split("；")
    assert "清场确认：无上批物料 合格，清场合格证有效 不适用" in manual
    assert "天平检查：水平泡居中 合格" in manual and "穿戴：已按指令操作" in manual
    [entry] = [m for m in manual if m.startswith("称量记录")]
    assert entry.startswith("称量记录：重量 10.2 kg（观察时间 ") and entry.endswith(
        "，补录原因：系统停机，纸质记录补录）"
    )
    assert process["ZJKZJG"] == "pH 6.8 不合格"
    assert process["GXWLPH"] == "配制收率 收率 85.0 %（限度 90～100 %）"

    [deviation] = exported(client, "TJ-B.2.3.2", batch, key="SYXCPPH")
    assert batch in deviation["PCMS"] and "A-Y" in deviation["PCMS"]
    assert deviation["JJCLCS"] == "隔离本批中间体" and deviation["SYXCPBM"] == "FG-X-001"
    assert (
        deviation["SYXCPMC"] is None
    )  # the test's product is not in the material master: stated, not invented
    assert deviation["SYXCPPH"] == batch and deviation["PCJLR"] == "李娜（lina）"
    assert deviation["PCFHR"] is None  # the seam names no reviewer until the QMS reviews deviations
    assert len(deviation["PCFSSJ"]) == 15 and deviation["PCFSSJ"][8] == "T"

    [clearance] = exported(client, "TJ-B.2.3.3", batch)
    assert clearance == {
        "CZJBH": "RM-WEIGH", "CPMC": "数据集测试冻干粉 100 mg/支", "CPPH": batch, "SCGX": "UP-A 配制",
        "QCRQ": clock.to_beijing(steps["A-LC"].completed_at).strftime("%Y%m%d"),  # type: ignore[arg-type]
        "JCXM": "无上批物料；清场合格证有效", "JCJG": "合格；不适用", "QCRY": "张伟（zhangwei）", "QCFHR": "李娜（lina）",
    }  # fmt: skip
    recorded = [e.object_id for e in audit_entries(db, event=export.EXPORT_EVENT)[before:]]
    assert recorded == ["TJ-B.2.3.1", "TJ-B.2.3.2", "TJ-B.2.3.3"]


@pytest.mark.scenario
@pytest.mark.clause("TJ-B.2.3.4", "TJ-B.2.3.1", "TJ-6.4.6", "TJ-B.1.5")
def test_a_packaged_batch_gives_one_packaging_record_per_printed_material_and_its_inspection_process(
    db: Database, client: TestClient
) -> None:
    batch = packaged_batch(db)
    with db.sessions() as session:
        record = packaging.record_of(session, execution.get_order(session, batch))
        assert record is not None
        carton_name = session.scalar(select(Material.name).where(Material.code == "SP-BOX-10"))
        starts = [
            s.started_at
            for s in session.scalars(select(StepExecution).where(StepExecution.batch_order_id == record.batch_order_id,
                                                                 StepExecution.step_code.in_(["PKG-ID", "PKG-Y"])))
        ]  # fmt: skip
    [row] = exported(client, "TJ-B.2.3.4", batch)
    assert list(row) == list(datasets.REGISTRY["TJ-B.2.3.4"].short_names)
    assert (row["CPMC"], row["CPGG"], row["BZGG"]) == ("注射用丹红冻干粉 200 mg/支", "200 mg/支", "10 支/盒")
    assert row["SCRQ"] == record.manufacture_date.strftime("%Y%m%d")
    assert row["YXRQ"] == record.expiry_date.strftime("%Y%m%d")
    assert row["BZCZDSJ"] == clock.format_exchange(min(s for s in starts if s))
    assert (row["BZCLMC"], row["BZCLPH"], row["SYSL"]) == (carton_name, "BX2611-03", 1000.0)
    assert isinstance(row["SYSL"], float)
    assert row["JCJL"] == (
        f"无上批包装材料和标签 合格；打印模板为本批 合格；SP-BOX-10 打印批号 {batch}、有效期 "
        f"{record.expiry_date.isoformat()}：与本批一致"
    )
    assert row["JCR"] == "张伟（zhangwei）"
    assert row["FXSHR"] is None and row["SHR"] is None  # release is the QMS's; QA has not reviewed the batch
    assert row["CZR"] is None  # no packaging-stage step is completed yet
    processes = {p["SCGX"]: p for p in exported(client, "TJ-B.2.3.1", batch)}
    assert list(processes) == ["UP-VI 灯检"]  # the packaging stage is TJ-B.2.3.4's; nothing else started
    inspection = processes["UP-VI 灯检"]["RGCZJL"].split("；")
    assert inspection == [
        "灯检记录：灯检数量 10100 支，剔除数量 100 支",
        "灯检 10100：合格 10000，剔除 100（可见异物 60，玻璃屑 10，裂瓶 30）",
    ]
    assert processes["UP-VI 灯检"]["GXJSSJ"] is None  # VI-Y is not completed: the process has not ended
    csv_out = client.get(f"{API}/TJ-B.2.3.4", params={"format": "csv"}, headers=token(client, "inspector"))
    rows = list(csv.reader(io.StringIO(csv_out.content.decode("utf-8-sig"))))
    assert rows[0] == list(datasets.REGISTRY["TJ-B.2.3.4"].short_names)
    assert [r[2] for r in rows[1:]].count(batch) == 1


@pytest.mark.clause("TJ-B.2.3.3", "TJ-B.1.3", "SH-7.1.2")
def test_the_production_data_sets_are_refused_without_the_export_permission_and_nothing_is_recorded(
    db: Database, client: TestClient
) -> None:
    before = len(audit_entries(db, event=export.EXPORT_EVENT))
    for login in ("zhouqiang", "zhangwei"):  # warehouse keeper, operator: no exchange.export
        for clause in ("TJ-B.2.3.1", "TJ-B.2.3.2", "TJ-B.2.3.3", "TJ-B.2.3.4"):
            response = client.get(f"{API}/{clause}", headers=token(client, login))
            assert response.status_code == 403, (login, clause, response.text)
    assert len(audit_entries(db, event=export.EXPORT_EVENT)) == before


@pytest.mark.clause("TJ-B.2.3.3", "TJ-B.1.3")
def test_the_command_line_exports_the_demo_batchs_line_clearance(cli: CliRunner, db: Database) -> None:
    listed = cli.invoke(app, ["datasets", "list"])
    assert listed.exit_code == 0 and "TJ-B.2.3.3" in listed.output and "CZJBH CPMC CPPH" in listed.output
    done = cli.invoke(app, ["datasets", "export", "TJ-B.2.3.3", "--as", "inspector", "--password-stdin"],
                      input=f"{PW}\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    records = json.loads(done.stdout)["records"]
    with db.sessions() as session:
        cleared = session.scalars(
            select(StepExecution).where(StepExecution.step_type == "line_clearance", StepExecution.completed_at.is_not(None))
        ).all()  # fmt: skip
        assert cleared, "the demo batch in progress has its extraction line cleared"
        batches = {execution.get_order(session, s.batch_order_id).batch_no for s in cleared}
    assert {r["CPPH"] for r in records} == batches and len(records) == len(cleared)
    assert all(r["JCJG"] and r["QCRY"] for r in records)
    last = audit_entries(db, event=export.EXPORT_EVENT)[-1]
    assert (last.actor_login, last.object_id) == ("inspector", "TJ-B.2.3.3")
