"""A whole batch through the browser (TJ-6.4.3, TJ-6.3.2.2): the operator works through every step type on the
step pages, the supervisor verifies in a second browser, QA signs on the floor in a third, and the batch
record shows what was entered.

SOP in short: 张伟 (operator) opens the released batch; only the step whose predecessors are done offers
*start*. He clears the line (李娜 verifies), checks the balance and the room before use, follows an
instruction, scans the mannitol drum (a drum of another material is refused on the spot and nothing is
recorded), tares and weighs on the balance — the weight is read over MT-SICS, never typed — and 李娜 verifies
the weighing; he scans the weighing label to charge it, records the solution's weight (out of its action
limits: a comment is asked for, then an exception is raised; 李娜 verifies), lets the server calculate,
records a CPP, the in-process controls (李娜 signs as supervisor) and the yield, which 陈静 (QA) signs. The
batch is then completed, and its electronic batch record holds the values, the weighing, the
identification, the charge and the exception.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from batch_plant import STEPS, Plant, batch_plant
from browser import log_in
from playwright.sync_api import Browser, Locator, Page, expect
from sqlalchemy import func, select

from helpers import audit_entries
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.mes.dispensing_models import MaterialIdentification
from pharmatrace.mes.execution_models import BatchOrder

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# What the Chinese pages show (zh_CN is the default locale): step states and the order's status.
IN_PROGRESS, SIGNING, DONE = "进行中", "待第二人签名", "已完成"
COMPLETED, LIMIT_EXCURSION = "已完成", "超出限度"


@pytest.fixture
def plant(sqlite_template: Path, tmp_path: Path) -> Iterator[Plant]:
    with batch_plant(sqlite_template, tmp_path) as prepared:
        yield prepared


@pytest.fixture
def colleague(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Callable[[], Page]]:
    """Pages in browser contexts of their own (another person's tablet); screenshots when the test fails."""
    pages: list[Page] = []

    def new_page() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
        pages.append(context.new_page())
        pages[-1].set_default_timeout(10_000)
        return pages[-1]

    yield new_page
    report = getattr(request.node, "rep_call", None)
    for number, page in enumerate(pages, start=2):
        if report is not None and report.failed:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}-{number}.png"), full_page=True)
        page.context.close()


# --- what a user does on a step page ---------------------------------------------------------------------


def open_step(page: Page, plant: Plant, code: str) -> None:
    page.goto(f"{plant.url}/mes/batches/{plant.order_no}/steps/{code}")


def start(page: Page, plant: Plant, code: str) -> None:
    open_step(page, plant, code)
    page.get_by_test_id("start-form").locator("button[type=submit]").click()
    expect(page.get_by_test_id("state")).to_have_text(IN_PROGRESS)


def complete(page: Page, *, signed: bool = True, **fields: str) -> Locator:
    """Fill the step's form (``value__…``, ``comment__…``, ``equipment``…), sign with the password when the
    step asks for the performer's signature, and complete; returns the state shown afterwards."""
    form = page.get_by_test_id("complete-form")
    for name, value in fields.items():
        form.locator(f"[name={name}]").fill(value)
    if signed:
        form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    return page.get_by_test_id("state")


def sign(page: Page, plant: Plant, code: str) -> None:
    """The second signature (verifier, supervisor or QA on the floor) with the password."""
    open_step(page, plant, code)
    form = page.get_by_test_id("sign-form")
    form.locator("input[name=password]").fill(DEMO_PASSWORD)
    form.locator("button[type=submit]").click()
    expect(page.get_by_test_id("state")).to_have_text(DONE)


def wedge(page: Page, field: Locator, text: str) -> None:
    """A keyboard-wedge scanner: it types into the focused field, then presses Enter."""
    field.click()
    page.keyboard.type(text)
    page.keyboard.press("Enter")


def step_row(page: Page, code: str) -> Locator:
    return page.get_by_test_id(f"step-{code}")


def identifications(plant: Plant) -> int:
    """The containers identified on this test's batch (the demo's completed batch has its own)."""
    with plant.db.sessions() as session:
        order = session.scalar(select(BatchOrder).where(BatchOrder.order_no == plant.order_no))
        assert order is not None
        counted = select(func.count()).select_from(MaterialIdentification)
        return int(session.scalar(counted.where(MaterialIdentification.batch_order_id == order.id)) or 0)


# --- the batch ---------------------------------------------------------------------------------------------


@pytest.mark.clause(
    "TJ-6.4.3.2", "TJ-6.4.3.3", "TJ-6.3.2.2", "TJ-6.3.2.2.a", "TJ-6.4.3.3.c", "TJ-6.4.3.3.d", "TJ-6.4.3.3.e",
    "TJ-6.4.3.3.f", "TJ-6.4.3.3.g", "TJ-6.4.3.3.h", "TJ-6.4.3.3.i", "TJ-6.4.1", "TJ-6.4.2", "TJ-6.4.5",
    "TJ-B.2.3.3", "TJ-6.4.3.5",
)  # fmt: skip
def test_a_whole_batch_runs_through_the_browser_from_release_to_the_batch_record(
    page: Page, plant: Plant, colleague: Callable[[], Page]
) -> None:
    operator = page
    log_in(operator, plant.url, "zhangwei")
    operator.goto(f"{plant.url}/mes/batches/{plant.order_no}")
    expect(operator.get_by_test_id("status")).to_have_text("已下达至生产现场")
    expect(step_row(operator, "A-LC")).to_have_class(re.compile(r"\bstate-ready\b"))
    for code in STEPS[1:]:
        expect(step_row(operator, code)).to_have_class(re.compile(r"\bstate-waiting\b"))
    open_step(operator, plant, "A-PU")  # a step whose predecessor is not done offers no start
    expect(operator.get_by_test_id("state")).to_have_text("等待中")
    expect(operator.get_by_test_id("start-form")).to_have_count(0)

    supervisor = colleague()
    log_in(supervisor, plant.url, "lina")

    # line clearance: checklist and the performer's signature, then the verifier's (TJ-6.4.5, TJ-B.2.3.3)
    start(operator, plant, "A-LC")
    expect(complete(operator)).to_have_text(SIGNING)
    expect(operator.get_by_test_id("clearance")).to_contain_text(plant.batch_no)
    expect(operator.get_by_test_id("sign-form")).to_have_count(0)  # the performer does not verify
    expect(operator.get_by_test_id("awaiting")).to_be_visible()
    sign(supervisor, plant, "A-LC")
    operator.goto(f"{plant.url}/mes/batches/{plant.order_no}")
    expect(step_row(operator, "A-LC")).to_have_class(re.compile(r"\bstate-done\b"))
    expect(step_row(operator, "A-PU")).to_have_class(re.compile(r"\bstate-ready\b"))  # enabled next
    expect(step_row(operator, "A-IN")).to_have_class(re.compile(r"\bstate-waiting\b"))

    # pre-use check of the balance and the weighing room (TJ-6.4.1, TJ-6.4.2)
    start(operator, plant, "A-PU")
    expect(complete(operator, equipment="BAL-01")).to_have_text(DONE)
    expect(operator.get_by_test_id("record")).to_contain_text("BAL-01")

    # an instruction, acknowledged (sign-off "none": no password)
    start(operator, plant, "A-IN")
    operator.get_by_test_id("complete-form").locator("input[name=acknowledged]").check()
    expect(complete(operator, signed=False)).to_have_text(DONE)

    # material identification by scanning: a drum of another material is refused, nothing recorded
    start(operator, plant, "A-ID")
    wedge(operator, operator.get_by_test_id("identify-scan"), plant.salvia[0])
    expect(operator.get_by_test_id("dispensing-error")).to_contain_text(plant.salvia[0])
    expect(operator.get_by_test_id("dispensing-identifications")).to_have_count(0)
    expect(operator.get_by_test_id("dispensing-missing")).to_contain_text("EXC-MAN-01")
    assert identifications(plant) == 0
    refused = audit_entries(plant.db, event="mes.material.refused")  # recorded, on the batch order
    assert (
        refused
        and refused[-1].actor_login == "zhangwei"
        and refused[-1].changes["scan"][1] == plant.salvia[0]
    )
    wedge(operator, operator.get_by_test_id("identify-scan"), plant.mannitol[0])
    expect(operator.get_by_test_id("dispensing-ok")).to_contain_text(plant.mannitol[0])
    expect(operator.get_by_test_id("dispensing-identifications")).to_contain_text(plant.mannitol[0])
    expect(operator.get_by_test_id("dispensing-complete")).to_be_visible()
    expect(complete(operator)).to_have_text(DONE)

    # weighing: tare the empty vessel, dispense, the server reads the balance (TJ-6.3.2.2.a, TJ-6.4.3.2)
    start(operator, plant, "A-W")
    plant.scale.set_load(Decimal("35.2"))
    tare = operator.get_by_test_id("tare-form")
    tare.locator("select[name=scale]").select_option("BAL-01")
    tare.locator("button[type=submit]").click()
    expect(operator.get_by_test_id("dispensing-ok")).to_contain_text("35.2")
    plant.scale.set_load(Decimal("135.25"))  # 100.05 g of mannitol in the vessel
    weigh = operator.get_by_test_id("weigh-form")
    weigh.locator("select[name=scale]").select_option("BAL-01")
    wedge(operator, operator.get_by_test_id("weigh-container"), plant.mannitol[0])
    expect(operator.get_by_test_id("dispensing-ok")).to_contain_text(f"WG-{plant.batch_no}-")
    weighings = operator.get_by_test_id("dispensing-weighings")
    expect(weighings).to_contain_text("100.05 g")
    expect(weighings).to_contain_text("BAL-01")
    weighing_code = weighings.locator("tbody tr code").first.inner_text()
    expect(complete(operator)).to_have_text(SIGNING)
    sign(supervisor, plant, "A-W")

    # charging: the weighing label scanned (TJ-6.4.3.3.e)
    start(operator, plant, "A-C")
    wedge(operator, operator.get_by_test_id("charge-scan"), weighing_code)
    charges = operator.get_by_test_id("dispensing-charges")
    expect(charges).to_contain_text(weighing_code)
    expect(charges).to_contain_text("0.10005 kg")
    expect(complete(operator)).to_have_text(DONE)

    # data entry out of its action limits: a comment is asked for, then it raises an exception (TJ-6.4.3.3.i)
    start(operator, plant, "A-DE")
    complete(operator, value__weight="11.6")
    expect(operator.get_by_test_id("error").first).to_contain_text("11.6")  # "… a comment is required"
    expect(operator.get_by_test_id("state")).to_have_text(IN_PROGRESS)
    expect(operator.get_by_test_id("record")).to_have_count(0)  # refused: nothing recorded
    expect(operator.get_by_test_id("step-exceptions")).not_to_contain_text(LIMIT_EXCURSION)
    comment = "配液罐称重复核无误，报告主管"
    expect(complete(operator, value__weight="11.6", comment__weight=comment)).to_have_text(SIGNING)
    expect(operator.get_by_test_id("record")).to_contain_text(comment)
    expect(operator.get_by_test_id("step-exceptions")).to_contain_text(LIMIT_EXCURSION)
    sign(supervisor, plant, "A-DE")

    # a calculation over the recorded weight and an entered value, evaluated by the server
    start(operator, plant, "A-CAL")
    expect(complete(operator, value__extra="40")).to_have_text(DONE)
    expect(operator.get_by_test_id("record")).to_contain_text("29.00")  # 11.6 / 40 × 100, shown to 2 places

    # a critical process parameter without a minimum duration, entered by hand (TJ-6.4.3.3.f)
    start(operator, plant, "A-CPP")
    expect(complete(operator, value__temp="25.4")).to_have_text(DONE)

    # in-process controls, signed by the supervisor (TJ-6.4.3.3.g)
    start(operator, plant, "A-IPC")
    operator.get_by_test_id("complete-form").locator("select[name=result__clarity]").select_option("pass")
    expect(complete(operator, value__ph="6.1")).to_have_text(SIGNING)
    sign(supervisor, plant, "A-IPC")

    # the yield, signed by QA on the floor — not by the supervisor (TJ-6.4.3.3.h, TJ-6.4.3.3.d)
    start(operator, plant, "A-Y")
    expect(complete(operator, value__actual="960", value__theoretical="1000")).to_have_text(SIGNING)
    open_step(supervisor, plant, "A-Y")
    expect(supervisor.get_by_test_id("sign-form")).to_have_count(0)
    expect(supervisor.get_by_test_id("awaiting")).to_be_visible()
    qa = colleague()
    log_in(qa, plant.url, "chenjing")
    sign(qa, plant, "A-Y")

    operator.goto(f"{plant.url}/mes/batches/{plant.order_no}")
    expect(operator.get_by_test_id("status")).to_have_text(COMPLETED)
    for code in STEPS:
        expect(step_row(operator, code)).to_have_class(re.compile(r"\bstate-done\b"))
    expect(operator.get_by_test_id("plan")).to_contain_text(f"{len(STEPS)} / {len(STEPS)}")
    expect(operator.get_by_test_id("exceptions")).to_contain_text(LIMIT_EXCURSION)

    # the electronic batch record shows what was entered (TJ-6.4.3.3, TJ-6.4.3.5)
    qa.goto(f"{plant.url}/mes/batches/{plant.order_no}")
    qa.get_by_test_id("record-link").click()
    expect(qa).to_have_url(re.compile(rf"/mes/batches/{plant.order_no}/record$"))
    expect(qa.get_by_test_id("ebr-header")).to_contain_text(COMPLETED)
    expect(qa.get_by_test_id("ebr-step-A-LC")).to_contain_text("清场合格证有效")
    expect(qa.get_by_test_id("ebr-step-A-PU")).to_contain_text("BAL-01")
    expect(qa.get_by_test_id("ebr-step-A-DE")).to_contain_text("11.6")
    expect(qa.get_by_test_id("ebr-step-A-DE")).to_contain_text(comment)
    expect(qa.get_by_test_id("ebr-step-A-CAL")).to_contain_text("29.00")
    expect(qa.get_by_test_id("ebr-step-A-CPP")).to_contain_text("25.4")
    expect(qa.get_by_test_id("ebr-step-A-IPC")).to_contain_text("6.1")
    expect(qa.get_by_test_id("ebr-step-A-Y")).to_contain_text("96.0")
    expect(qa.get_by_test_id("ebr-step-A-Y")).to_contain_text("陈静")
    expect(qa.get_by_test_id("ebr-exceptions")).to_contain_text(LIMIT_EXCURSION)
    body = qa.locator("main")
    for shown in (weighing_code, plant.mannitol[0], "100.05", "0.10005"):
        expect(body).to_contain_text(shown)
