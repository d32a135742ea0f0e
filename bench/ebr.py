"""``make bench`` — (3) review by exception and the batch record for a big batch (TJ-6.4.7, TJ-6.4.3.5).

The plant: the demo seed, a master recipe of 300 data-entry steps (10 operations of 30) approved with its
signatures, one order released to the floor by the engine, then each step recorded directly through the unit of
work (audited like any write): 5,000 values with units and limits (17 on the first 200 steps, 16 on the last
100), the performer's signature on every step (a real e-signature), a verifier's on every tenth (a late one on
every fiftieth), 60 exceptions with their decisions and 10 corrections; the batch completed.

Measured in the same run, alternating the sides, median of ``BENCH_EBR_RUNS`` (default 5):

* the review-by-exception page of the batch (``GET /mes/review?batch=…``: the query and the page rendered);
* the batch record as HTML (``GET /mes/batches/{order}/record``) and as PDF (``GET …/record.pdf``), each also
  recording its audited export;
* the baseline: the same record's raw data (every step's values) read and rendered as one plain HTML table.

Each figure is printed with its ratio to the baseline (how many times slower than the raw table).
"""

from __future__ import annotations

import os

# A throwaway plant: cheap password hashing and key sealing, as in the test suite (never for a real plant).
os.environ.setdefault("PHARMATRACE_ARGON2_MEMORY_KIB", "8192")
os.environ.setdefault("PHARMATRACE_ARGON2_TIME_COST", "1")
os.environ.setdefault("PHARMATRACE_ARGON2_PARALLELISM", "1")
os.environ.setdefault("PHARMATRACE_KEY_KDF_ITERATIONS", "1000")

import json
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient
from jinja2 import Template
from sqlalchemy import select

from bench.databases import on_each_database
from pharmatrace.demo.seed import DEMO_PASSWORD, seed
from pharmatrace.kernel import clock, crypto, ledger
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution, recipes
from pharmatrace.mes.execution_models import (
    BatchException,
    BatchOrder,
    BatchSignoff,
    StepCorrection,
    StepExecution,
)
from pharmatrace.mes.execution_schemas import OrderCreate
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

STEPS, OPERATIONS = 300, 10
POINTS = 5000
RUNS = int(os.environ.get("BENCH_EBR_RUNS", "5"))
CODE = "MR-BENCH-300"
OPERATOR, SUPERVISOR = "zhangwei", "lina"


def _values_per_step(i: int) -> int:
    return 17 if i < 200 else 16  # 200 × 17 + 100 × 16 = 5,000


def _body() -> RecipeBody:
    per_op = STEPS // OPERATIONS
    operations = []
    for o in range(OPERATIONS):
        steps = []
        for s in range(per_op):
            i = o * per_op + s
            steps.append({
                "code": f"S{i:03d}", "name": f"记录 {i}", "type": "data_entry", "instruction": "记录参数",
                "signoff": "operator_verifier" if i % 10 == 0 else "operator",
                "parameters": [{"code": f"p{k}", "name": f"参数 {k}", "unit": "°C", "target": "25",
                                "alert_low": "22", "alert_high": "28", "action_low": "20", "action_high": "30"}
                               for k in range(_values_per_step(i))],
            })  # fmt: skip
        operations.append({"code": f"OP-{o:02d}", "name": f"操作 {o}", "room": "RM-WEIGH", "steps": steps})
    return RecipeBody.model_validate({
        "recipe_code": CODE, "product_code": "FG-BENCH", "product_name": "基准冻干粉", "batch_size": "10000",
        "batch_unit": "支", "mpr_number": "MPR-DH-001",
        "unit_procedures": [{"code": "UP-1", "name": "配制", "operations": operations}],
    })  # fmt: skip


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def build(db: Database) -> str:
    """The 300-step batch with its 5,000 values; returns the order number."""
    seed(db)
    author, reviewer, approver = (_principal(db, login) for login in ("lina", "zhaomin", "chenjing"))
    with UnitOfWork(db, author.actor) as uow:
        version_id = recipes.import_draft(uow, _body(), "bench").id
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        recipes.submit(uow, version_id)
        uow.commit()
    with UnitOfWork(db, reviewer.actor) as uow:
        recipes.review(uow, reviewer, version_id, password=DEMO_PASSWORD, login=reviewer.login)
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        recipes.approve(uow, approver, version_id, password=DEMO_PASSWORD, login=approver.login)
        uow.commit()
    with UnitOfWork(db, author.actor) as uow:
        order = execution.create_order(uow, author, OrderCreate.model_validate(
            {"recipe_code": CODE, "batch_size": "10000", "planned_start": "2026-12-01", "planned_end": "2026-12-05"}))  # fmt: skip
        execution.release(uow, author, order, password=DEMO_PASSWORD, login=author.login)
        uow.commit()
        order_no = order.order_no
    operator, supervisor = _principal(db, OPERATOR), _principal(db, SUPERVISOR)
    start = clock.now() - timedelta(days=2)
    with UnitOfWork(db, operator.actor, reason="bench: the batch recorded") as uow:
        session = uow.session
        order = execution.get_order(session, order_no)
        rows = list(session.scalars(
            select(StepExecution).where(StepExecution.batch_order_id == order.id).order_by(StepExecution.seq)
        ))  # fmt: skip
        order.status, order.started_at = "in_progress", start
        for i, row in enumerate(rows):
            begun = start + timedelta(minutes=5 * i)
            values = {
                f"p{k}": {"value": str(Decimal("25.0") + Decimal(k % 7) / 2 - Decimal("1.5")), "unit": "°C",
                          "flag": "ok", "comment": ""}
                for k in range(_values_per_step(i))
            }  # fmt: skip
            if i % 5 == 0:
                values["p0"] = {"value": "31.5", "unit": "°C", "flag": "action", "comment": "探头复核"}
            record = {"values": values}
            row.record = ledger.canonical_text(record)
            row.record_sm3 = crypto.sm3(row.record.encode()).hex()
            row.state, row.started_at, row.started_by = "done", begun, OPERATOR
            row.completed_at, row.performed_by = begun + timedelta(minutes=4), OPERATOR
            session.flush()
            signoff = BatchSignoff(batch_order_id=order.id, step_code=row.step_code, role="performed",
                                   covers_sm3=row.record_sm3, signed_at=row.completed_at, signed_by=OPERATOR,
                                   signed_by_name=operator.full_name, comment="")  # fmt: skip
            session.add(signoff)
            session.flush()
            esign.sign_with_event(uow, operator, object_type="batch_signoff", object_id=str(signoff.id),
                                  action_code="batch.step.perform", password=DEMO_PASSWORD, login=OPERATOR)  # fmt: skip
            if i % 5 == 0:
                session.add(BatchException(
                    batch_order_id=order.id, step_code=row.step_code, kind="limit_excursion",
                    message="{name} = {value} {unit} is out of its action limits ({limits})",
                    params=json.dumps({"name": "参数 0", "value": "31.5", "unit": "°C", "limits": "20 ~ 30 °C"}),
                    evidence="探头复核", raised_at=row.completed_at, raised_by=OPERATOR, status="no_deviation",
                    decided_at=row.completed_at + timedelta(minutes=30), decided_by=SUPERVISOR,
                    decision_comment="探头漂移，复核后在限内",
                ))  # fmt: skip
            if i % 30 == 7:
                session.add(StepCorrection(step_execution_id=row.id, field="p1", old_value="25.5",
                                           new_value="25.0", reason="抄写错误", corrected_at=row.completed_at,
                                           corrected_by=OPERATOR))  # fmt: skip
        order.status, order.completed_at = "completed", start + timedelta(minutes=5 * STEPS)
        uow.commit()
    with UnitOfWork(db, supervisor.actor, reason="bench: verifications") as uow:
        for i, row in enumerate(rows):
            if i % 10:
                continue
            step = uow.session.get(StepExecution, row.id)
            assert step is not None
            assert step.completed_at is not None
            late = timedelta(minutes=90 if i % 50 == 0 else 10)
            step.verified_by, step.verified_at = SUPERVISOR, step.completed_at + late
            signoff = BatchSignoff(batch_order_id=step.batch_order_id, step_code=step.step_code, role="verified",
                                   covers_sm3=step.record_sm3 or "", signed_at=step.completed_at + late,
                                   signed_by=SUPERVISOR, signed_by_name=supervisor.full_name, comment="")  # fmt: skip
            uow.session.add(signoff)
            uow.session.flush()
            esign.sign_with_event(uow, supervisor, object_type="batch_signoff", object_id=str(signoff.id),
                                  action_code="batch.step.verify", password=DEMO_PASSWORD, login=SUPERVISOR)  # fmt: skip
        uow.commit()
    return order_no


BASELINE = Template(
    "<table><thead><tr><th>step</th><th>parameter</th><th>value</th><th>unit</th><th>flag</th></tr></thead><tbody>"
    "{% for s, p, v in rows %}<tr><td>{{ s }}</td><td>{{ p }}</td><td>{{ v.value }}</td><td>{{ v.unit }}</td>"
    "<td>{{ v.flag }}</td></tr>{% endfor %}</tbody></table>",
    autoescape=True,
)


def baseline(db: Database, order_no: str) -> int:
    """The record's raw data as one plain HTML table: every step's values, read and rendered."""
    with db.sessions() as session:
        order = session.scalar(select(BatchOrder).where(BatchOrder.order_no == order_no))
        assert order is not None
        records = session.execute(
            select(StepExecution.step_code, StepExecution.record).where(StepExecution.batch_order_id == order.id)
            .order_by(StepExecution.seq)
        ).all()  # fmt: skip
    rows = [
        (code, name, value) for code, text in records for name, value in json.loads(text)["values"].items()
    ]
    assert len(rows) == POINTS, len(rows)
    return len(BASELINE.render(rows=rows))


def measure(db: Database, label: str) -> None:
    began = time.perf_counter()
    order_no = build(db)
    print(
        f"[{label}] built a {STEPS}-step batch with {POINTS:,} values in {time.perf_counter() - began:.0f} s"
    )
    with TestClient(create_app(db)) as client:
        reply = client.post("/api/v1/auth/token", json={"login": "zhaomin", "password": DEMO_PASSWORD})
        headers = {"Authorization": f"Bearer {reply.json()['token']}"}

        def get(url: str, **params: str) -> Callable[[], None]:
            def call() -> None:
                response = client.get(url, params=params, headers=headers)
                assert response.status_code == 200, (url, response.status_code, response.text[:300])

            return call

        figures = {
            "baseline: raw data as one HTML table": lambda: baseline(db, order_no),
            "review by exception page": get("/mes/review", batch=order_no),
            "batch record, HTML": get(f"/mes/batches/{order_no}/record"),
            "batch record, PDF/A": get(f"/api/v1/mes/batches/{order_no}/record.pdf"),
        }
        for work in figures.values():  # warm-up: templates, fonts, caches
            work()
        results: dict[str, list[float]] = {name: [] for name in figures}
        for _ in range(RUNS):  # the sides alternate run by run, so a busy machine slows all alike
            for name, work in figures.items():
                results[name].append(_median_once(work))
    base = statistics.median(results["baseline: raw data as one HTML table"])
    for name, times in results.items():
        value = statistics.median(times)
        print(f"[{label}] {name:<38} {value * 1000:9.1f} ms   ratio {value / base:7.1f}× of the raw table")


def _median_once(work: Callable[[], Any]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def run() -> None:
    on_each_database("bench_ebr", measure)


if __name__ == "__main__":
    run()
