"""Retake the README's screenshots of the business areas from a freshly seeded demo plant.

    PYTHONPATH=src .venv/bin/python docs/screenshots/take.py [NAME.png ...]

With names, only those are retaken.

Seeds the demo plant into a throwaway SQLite database, serves it on a free loopback port and photographs the
pages in Debian's headless Chromium (Chinese UI, 1280 px wide). Writes PNGs next to this file.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import uvicorn
from playwright.sync_api import Page, sync_playwright
from sqlalchemy import select

from pharmatrace.demo.seed import seed
from pharmatrace.lims.result_models import OosCase
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.qms.deviation_models import Deviation
from pharmatrace.storage.engine import Database
from pharmatrace.trace.models import TraceCode
from pharmatrace.web.app import create_app
from pharmatrace.wms.models import Lot, Material

HERE = Path(__file__).resolve().parent
PASSWORD = "Pharma@2026"
# (file, log-in, path)
SHOTS: tuple[tuple[str, str, str], ...] = (
    ("home.png", "sysadmin", "/"),
    ("stock.png", "zhouqiang", "/wms/stock"),
    ("alerts.png", "chenjing", "/wms/alerts"),
    ("origin.png", "chenjing", "/origin/lots/{sanqi_lot}"),
    ("documents.png", "zhengxue", "/documents"),
    ("floor.png", "zhangwei", "/documents/floor/SOP-PR-007"),
    ("training-mine.png", "liuyang", "/training/mine"),
    ("training-matrix.png", "huangmei", "/training/matrix"),
    ("recipe.png", "lina", "/mes/recipes/MR-DH-001"),
    ("batch.png", "zhangwei", "/mes/batches/{order}"),
    ("deviation.png", "chenjing", "/qms/deviations/{deviation}"),
    ("capa.png", "chenjing", "/qms/capa"),
    ("changes.png", "zhaomin", "/qms/changes"),
    ("oos.png", "chenjing", "/lims/oos/{oos}"),
    ("release.png", "zhaomin", "/qms/release/{batch}"),
    ("complaints.png", "chenjing", "/qms/complaints"),
    ("recall.png", "zhaomin", "/qms/recalls/RC-2026-0001"),
    ("qms-audit.png", "chenjing", "/qms/audits/AU-2026-0001"),  # audit.png is the audit trail's
    ("fmea.png", "chenjing", "/qms/risks/RA-2026-0001"),
    ("pqr.png", "zhaomin", "/qms/pqr/PQR-2026-0001"),
    ("validation.png", "chenjing", "/qms/validation/VAL-2026-0001"),
    ("dossiers.png", "chenjing", "/qms/dossiers"),
    ("supplier-qualification.png", "chenjing", "/qms/supplier-qualifications/SQ-2026-0001"),
    ("qms-overview.png", "chenjing", "/qms"),
    ("monitoring.png", "wuhao", "/monitoring"),
    ("alarms.png", "lina", "/monitoring/alarms"),
    ("floor-plan.png", "wuhao", "/monitoring/floor-plan"),
    ("trend.png", "wuhao", "/monitoring/tags/RM-PREP.conductivity?hours=8"),
    ("trace.png", "zhouqiang", "/trace"),
    ("genealogy.png", "zhaomin", "/trace/genealogy?code={unit}"),
    ("shipment.png", "zhouqiang", "/trace/shipments/SHP-2026-0001"),
    ("verify.png", "", "/verify?code={unit}"),  # public: no log-in
)

TOP_ONLY = {
    "recipe.png",
    "batch.png",
    "deviation.png",
    "oos.png",
    "release.png",
    "recall.png",
    "qms-audit.png",
    "fmea.png",
    "pqr.png",
    "validation.png",
    "supplier-qualification.png",
    "qms-overview.png",
    "trace.png",
    "genealogy.png",
    "shipment.png",
    "trend.png",
}  # long pages (the audit trail below): the first screen only


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _log_in(page: Page, base: str, login: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{base}/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_load_state("networkidle")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Database.from_url(f"sqlite:///{Path(tmp) / 'demo.sqlite3'}", state_dir=Path(tmp) / "var")
        seed(db)  # migrates the new database itself (ADR 0015)
        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(db), host="127.0.0.1", port=port, log_level="warning")
        )
        threading.Thread(target=server.run, daemon=True).start()
        while not server.started:
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        with db.sessions() as session:
            sanqi = session.scalars(
                select(Lot.id).join(Lot.material).where(Material.code == "HB-SQ-001").order_by(Lot.id)
            ).first()
            order = session.scalars(  # the visitor's batch in progress (the completed one is reviewed)
                select(BatchOrder.order_no).where(BatchOrder.status == "in_progress").order_by(BatchOrder.id)
            ).first()
            deviation = session.scalars(  # the completed batch's deviation, carried to its signed closure
                select(Deviation.number).where(Deviation.status == "closed").order_by(Deviation.id)
            ).first()
            batch = session.scalars(  # the completed batch, at its release
                select(BatchOrder.batch_no).where(BatchOrder.status == "reviewed").order_by(BatchOrder.id)
            ).first()
            oos = session.scalars(select(OosCase.code).order_by(OosCase.id)).first()
            unit = session.scalars(  # a shipped box of the released batch
                select(TraceCode.value)
                .where(TraceCode.level == 1, TraceCode.state == "shipped")
                .order_by(TraceCode.id)
            ).first()
        ids = {
            "sanqi_lot": sanqi,
            "order": order,
            "deviation": deviation,
            "batch": batch,
            "oos": oos,
            "unit": unit,
        }
        wanted = set(sys.argv[1:]) or {name for name, _, _ in SHOTS}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium")
            page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
            for name, login, path in (shot for shot in SHOTS if shot[0] in wanted):
                if login:
                    _log_in(page, base, login)
                else:
                    page.context.clear_cookies()
                page.goto(f"{base}{path.format(**ids)}")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(HERE / name), full_page=name not in TOP_ONLY)
                print(f"{name}: {login} {path}")
            browser.close()
        server.should_exit = True
        db.dispose()


if __name__ == "__main__":
    main()
