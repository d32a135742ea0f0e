"""Batch pages in the browser's forms: the list, the order page with its control recipe SM3 and steps, a step
executed and verified through its forms, a refusal shown on the page, the exception decision form (TJ-6.4)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from helpers import audit_entries, log_in
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.mes import execution
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


def _demo_order(db: Database) -> BatchOrder:
    with db.sessions() as session:
        order = session.scalar(  # the visitor's batch in progress (the demo's completed batch is reviewed)
            select(BatchOrder).where(
                BatchOrder.recipe_code == "MR-DH-001", BatchOrder.status == "in_progress"
            )
        )
        assert order is not None
        session.expunge(order)
        return order


def _alert(html: str) -> list[str]:
    return re.findall(r'role="alert"[^>]*>([^<]*)', html)


@pytest.mark.clause("TJ-6.4.3.2", "TJ-6.4.3.1", "SH-7.1.3")
def test_the_list_and_the_order_page_show_the_batch_its_control_recipe_and_steps(
    db: Database, client: TestClient
) -> None:
    order = _demo_order(db)
    log_in(client, "zhangwei", language="zh_CN")
    listing = client.get("/mes/batches", params={"q": order.batch_no})
    assert listing.status_code == 200 and f'data-testid="order-{order.order_no}"' in listing.text
    assert (
        'class="grid"' in listing.text and 'data-testid="order-form"' not in listing.text
    )  # operators do not plan
    empty = client.get("/mes/batches", params={"status": "cancelled"})
    assert f'data-testid="order-{order.order_no}"' not in empty.text
    page = client.get(f"/mes/batches/{order.order_no}")
    assert page.status_code == 200
    with db.sessions() as session:
        control = execution.control_recipe_of(session, execution.get_order(session, order.order_no))
        assert control is not None
    assert f'data-testid="control-sm3">{control.body_sm3}<' in page.text
    assert 'data-testid="step-EXT-LC"' in page.text and 'data-testid="step-PKG-Y"' in page.text
    assert 'data-testid="audit-trail"' in page.text and 'data-testid="signoffs"' in page.text
    step = client.get(f"/mes/batches/{order.order_no}/steps/EXT-LC")
    assert step.status_code == 200 and 'data-testid="clearance"' in step.text
    assert 'href="/documents/floor/SOP-QA-001"' in step.text
    log_in(client, "lina", language="zh_CN")
    assert 'data-testid="order-form"' in client.get("/mes/batches").text


@pytest.mark.clause("TJ-6.4.3.3", "TJ-6.4.3.3.c", "TJ-6.4.3.3.d", "TJ-6.4.1")
def test_a_step_is_executed_and_verified_through_its_forms(db: Database, client: TestClient) -> None:
    order = _demo_order(db)
    url = f"/mes/batches/{order.order_no}/steps"
    log_in(client, "zhangwei", language="zh_CN")
    # a pre-use check of the weighing operation's sibling: the concentration line first needs its predecessors
    refused = client.post(f"{url}/CON-PU/start", follow_redirects=True)
    assert _alert(refused.text), "a skipped step shows the refusal"
    assert audit_entries(db, event="mes.step.refused")
    # the filling line's vial washing: charging (dispensing) — start it, it cannot complete without its records
    page = client.get(f"{url}/FIL-05-C")
    assert 'data-testid="start-form"' in page.text
    started = client.post(f"{url}/FIL-05-C/start", follow_redirects=True)
    assert 'data-testid="complete-form"' in started.text
    incomplete = client.post(f"{url}/FIL-05-C/complete", data={"note": ""}, follow_redirects=True)
    assert _alert(incomplete.text)
    with db.sessions() as session:
        assert (
            execution.step_of(session, execution.get_order(session, order.order_no), "FIL-05-C").state
            == "in_progress"
        )


@pytest.mark.clause("TJ-6.4.3.3.c", "TJ-6.4.3.3.f", "TJ-6.4.4")
def test_a_recorded_value_out_of_limits_is_decided_on_the_exception_page(
    db: Database, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pharmatrace.mes import dispensing

    monkeypatch.setattr(dispensing, "missing_evidence", lambda session, order, step_code: [])
    order = _demo_order(db)
    url = f"/mes/batches/{order.order_no}/steps"
    log_in(client, "zhangwei", language="zh_CN")
    for code in (
        "EXT-ID",
        "EXT-W1",
        "EXT-W2",
        "EXT-C1",
        "EXT-C2",
    ):  # dispensing evidence skipped (monkeypatched)
        client.post(f"{url}/{code}/start")
        done = client.post(f"{url}/{code}/complete", data={"password": DEMO_PASSWORD, "login": "zhangwei"},
                           follow_redirects=True)  # fmt: skip
        assert not _alert(done.text), (code, _alert(done.text))
        if 'data-testid="awaiting"' in done.text:
            log_in(client, "lina", language="zh_CN")
            signed = client.post(f"{url}/{code}/sign", data={"password": DEMO_PASSWORD, "login": "lina"},
                                 follow_redirects=True)  # fmt: skip
            assert not _alert(signed.text), (code, _alert(signed.text))
            log_in(client, "zhangwei", language="zh_CN")
    client.post(f"{url}/EXT-CPP1/start")
    form = {"value__water_ratio": "8", "value__temperature": "102", "value__duration": "120",
            "password": DEMO_PASSWORD, "login": "zhangwei"}  # fmt: skip
    refused = client.post(f"{url}/EXT-CPP1/complete", data=form, follow_redirects=True)
    assert _alert(refused.text)  # 102 °C is beyond the action limit: a comment is required
    done = client.post(f"{url}/EXT-CPP1/complete", data={**form, "comment__temperature": "温度探头漂移，已更换复测"},
                       follow_redirects=True)  # fmt: skip
    assert not _alert(done.text) and 'data-testid="awaiting"' in done.text
    with db.sessions() as session:
        [exception] = [e for e in execution.exceptions_of(session, execution.get_order(session, order.order_no))
                       if e.kind == "limit_excursion"]  # fmt: skip
        exception_id = exception.id
    log_in(client, "lina", language="zh_CN")
    page = client.get(f"/mes/batches/{order.order_no}/exceptions/{exception_id}")
    assert page.status_code == 200 and 'data-testid="decision-form"' in page.text
    decided = client.post(
        f"/mes/batches/{order.order_no}/exceptions/{exception_id}/decision",
        data={"decision": "no_deviation", "comment": "探头故障已更换，复测温度 98 °C，不影响质量",
              "password": DEMO_PASSWORD, "login": "lina"}, follow_redirects=True,
    )  # fmt: skip
    assert not _alert(decided.text) and 'data-testid="decision-form"' not in decided.text
    with db.sessions() as session:
        assert execution.get_exception(session, exception_id).status == "no_deviation"


@pytest.mark.clause("TJ-10.1.2.2.d", "TJ-6.1")
def test_the_step_page_tells_the_lapsed_operator_why_before_he_starts(
    db: Database, client: TestClient
) -> None:
    """liuyang's qualification on SOP-PR-007 lapsed (v2, no grace): the lyophilization step says so and links
    to his training; zhangwei, trained on v2, sees no such warning."""
    order = _demo_order(db)
    log_in(client, "liuyang", language="zh_CN")
    page = client.get(f"/mes/batches/{order.order_no}/steps/LYO-CPP1")
    assert page.status_code == 200
    warning = re.search(r'data-testid="untrained">(.*?)</div>', page.text, re.S)
    assert warning is not None and "SOP-PR-007" in warning.group(1) and "/training/mine" in warning.group(1)
    client.post("/logout")
    log_in(client, "zhangwei", language="zh_CN")
    assert 'data-testid="untrained"' not in client.get(f"/mes/batches/{order.order_no}/steps/LYO-CPP1").text
