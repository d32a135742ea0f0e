"""A plant ready for a whole batch in the browser (TJ-6.4.3, TJ-6.3.2.2): a compact master recipe with one
step of every type the engine has, approved; its order released to the floor by the supervisor; the
mannitol lot released by QA; the balance BAL-01 simulated over MT-SICS on a free loopback port and
registered as its interface; then uvicorn serving the prepared copy of the SQLite plant.

Everything is prepared through the services before the server starts; the browser does the rest.

The recipe is not the API test's (``tests/mes/test_execution_engine.py``): that one has no dispensing steps
and its CPP has a minimum duration, which a browser test cannot wait for without moving the server's clock.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import uvicorn

from helpers import principal
from mes.dispensing_plant import MANNITOL, balance, containers, release_lot
from pharmatrace.adapters.simulators.mtsics import MtSicsSimulator, SimulatedScale
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import clock
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, recipes
from pharmatrace.mes.execution_schemas import OrderCreate
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

CODE = "MR-E2E-001"
SALVIA = "DS20260915"  # a released lot of another material: the wrong container at identification
# The demo's 220 g analytical balance as the simulator presents it (its serial number is on record).
BAL_01 = SimulatedScale(
    capacity=Decimal("220"), readability=Decimal("0.0001"), unit="g", serial_number="B945123456",
    settle_time=0.05, stable_wait=0.5,
)  # fmt: skip
# 配制 in the weighing room: every step type once, in the order an operator meets them.
RECIPE: dict[str, Any] = {
    "recipe_code": CODE, "product_code": "FG-E2E-001", "product_name": "浏览器测试冻干粉", "batch_size": "1000",
    "batch_unit": "支", "mpr_number": "MPR-DH-001",
    "unit_procedures": [
        {"code": "UP-A", "name": "配制", "operations": [
            {"code": "OP-A1", "name": "称量与配制", "equipment_classes": ["balance"], "room": "RM-WEIGH", "steps": [
                {"code": "A-LC", "name": "清场确认", "type": "line_clearance", "instruction": "确认清场",
                 "sop": "SOP-QA-001", "checks": ["无上批物料", "清场合格证有效"], "signoff": "operator_verifier"},
                {"code": "A-PU", "name": "天平使用前检查", "type": "pre_use_check", "instruction": "检查天平和称量间",
                 "sop": "SOP-WH-001", "checks": ["水平泡居中"]},
                {"code": "A-IN", "name": "穿戴", "type": "instruction", "instruction": "按规定更衣", "signoff": "none"},
                {"code": "A-ID", "name": "物料确认", "type": "material_identification",
                 "instruction": "扫描甘露醇桶标签", "sop": "SOP-WH-001", "materials": ["EXC-MAN-01"]},
                {"code": "A-W", "name": "称量甘露醇", "type": "weighing", "instruction": "称取甘露醇，双人复核",
                 "sop": "SOP-WH-001", "material_code": "EXC-MAN-01", "signoff": "operator_verifier"},
                {"code": "A-C", "name": "投入甘露醇", "type": "charging", "instruction": "扫描称量标签后投料",
                 "sop": "SOP-PR-001", "material_code": "EXC-MAN-01"},
                {"code": "A-DE", "name": "配液重量", "type": "data_entry", "instruction": "记录配液重量",
                 "sop": "SOP-PR-001", "signoff": "operator_verifier", "parameters": [
                     {"code": "weight", "name": "重量", "unit": "kg", "alert_low": "9.5", "alert_high": "10.5",
                      "action_low": "9", "action_high": "11"}]},
                {"code": "A-CAL", "name": "计算比例", "type": "calculation", "instruction": "计算",
                 "formula": "ratio = weight / extra * 100", "parameters": [{"code": "ratio", "name": "比例", "unit": "%"}]},
                {"code": "A-CPP", "name": "搅拌", "type": "cpp", "instruction": "搅拌并记录温度", "parameters": [
                    {"code": "temp", "name": "温度", "unit": "°C", "target": "25", "action_low": "20",
                     "action_high": "30"}]},
                {"code": "A-IPC", "name": "中控", "type": "ipc", "instruction": "测 pH 和澄清度", "signoff": "supervisor",
                 "controls": [{"code": "ph", "name": "pH", "low": "5.5", "high": "6.5"},
                              {"code": "clarity", "name": "澄清度"}]},
                {"code": "A-Y", "name": "收率", "type": "yield", "instruction": "计算收率", "signoff": "qa",
                 "yield_limits": {"low_pct": "90", "high_pct": "100"}},
            ]},
        ]},
    ],
    "bom": [{"material_code": "EXC-MAN-01", "quantity": "0.1", "unit": "kg", "tolerance_pct": "1", "step": "A-C"}],
}  # fmt: skip
STEPS = tuple(s["code"] for s in RECIPE["unit_procedures"][0]["operations"][0]["steps"])


@dataclass(frozen=True)
class Plant:
    """The served plant: its address, the released batch, the simulated balance and the containers."""

    url: str
    db: Database
    order_no: str
    batch_no: str
    scale: MtSicsSimulator
    mannitol: list[str]  # container codes of the released mannitol lot
    salvia: list[str]  # container codes of a lot of another material


def _approved_recipe(db: Database) -> None:
    """lina authors, zhaomin reviews, chenjing approves (TJ-6.4.3.1)."""
    author, reviewer, approver = (principal(db, login) for login in ("lina", "zhaomin", "chenjing"))
    with UnitOfWork(db, author.actor) as uow:
        version = recipes.import_draft(uow, RecipeBody.model_validate(RECIPE), "e2e")
        uow.commit()
        version_id = version.id
    with UnitOfWork(db, author.actor) as uow:
        recipes.submit(uow, version_id)
        uow.commit()
    with UnitOfWork(db, reviewer.actor) as uow:
        recipes.review(uow, reviewer, version_id, password=DEMO_PASSWORD, login=reviewer.login)
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        recipes.approve(uow, approver, version_id, password=DEMO_PASSWORD, login=approver.login)
        uow.commit()


def _released_order(db: Database) -> tuple[str, str]:
    """The supervisor plans the order and releases it to the floor, signed; returns (order, batch)."""
    lina = principal(db, "lina")
    today = clock.to_beijing(clock.now()).date()
    with UnitOfWork(db, lina.actor) as uow:
        order = execution.create_order(uow, lina, OrderCreate(
            recipe_code=CODE, batch_size=Decimal(1000), planned_start=today, planned_end=today + timedelta(days=1)))  # fmt: skip
        execution.release(uow, lina, order, password=DEMO_PASSWORD, login="lina")
        uow.commit()
        return order.order_no, order.batch_no


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def _serving(db: Database) -> Iterator[str]:
    """uvicorn on a free loopback port in a thread, as ``tests/e2e/conftest.py`` serves the plain plant."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def batch_plant(sqlite_template: Path, tmp_path: Path) -> Iterator[Plant]:
    """A copy of the seeded plant with the released batch of :data:`RECIPE`, served with its balance."""
    copy = tmp_path / "plant.sqlite3"
    shutil.copyfile(sqlite_template, copy)
    shutil.copytree(sqlite_template.parent / "var", tmp_path / "var")
    db = Database.from_url(f"sqlite:///{copy}", state_dir=tmp_path / "var")
    try:
        _approved_recipe(db)
        release_lot(db)  # QA releases the mannitol lot and assesses its storage record
        order_no, batch_no = _released_order(db)
        with balance(db, BAL_01, "BAL-01") as scale, _serving(db) as url:
            yield Plant(url, db, order_no, batch_no, scale, containers(db, MANNITOL), containers(db, SALVIA))
    finally:
        db.dispose()
