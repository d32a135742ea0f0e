"""Anyone scanning a pack learns product, batch, expiry, manufacturer and whether it is genuine — without log-in,
rate-limited, and nothing internal (SH-6.2.5.1, TJ-9.1; issue 10 item 8)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from trace_steps import act, batch_id, gs1_pool, pool_of

from demo_codes import demo_codes
from helpers import actor
from pharmatrace.codes import gs1
from pharmatrace.kernel.identity.service import store_setting
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.trace.public import TokenBucket
from pharmatrace.web.app import create_app
from pharmatrace.wms import lots
from pharmatrace.wms.models import Lot, Material

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)

GENUINE, DAMAGED, UNUSED, UNRELEASED = (f"6901234{n:09d}7788" for n in range(1, 5))
GTIN = "0690123456789" + gs1.check_digit("0690123456789")
PUBLIC_FIELDS = {"code", "verdict", "verdict_label", "advice", "product", "strength", "batch", "expiry", "expired",
                 "manufacturer"}  # fmt: skip


def _released(db: Database) -> tuple[str, str]:
    """The demo plant's released batch (its completed one) and its finished lot's expiry date, ``YYYY-MM-DD``."""
    batch = demo_codes(db).batch_done
    with db.sessions() as session:
        expiry = session.scalar(select(Lot.expiry_date).where(Lot.lot_number == batch))
    assert expiry is not None
    return batch, expiry.isoformat()


@pytest.fixture
def client(db: Database) -> Iterator[TestClient]:
    pool_of(db, [GENUINE, DAMAGED, UNUSED, UNRELEASED])
    gs1_pool(db, GTIN, ["A7x/9"])
    plant = demo_codes(db)
    released, in_progress = batch_id(db, plant.batch_done), batch_id(db, plant.batch_in_progress)
    act(db, "allocate", [GENUINE, DAMAGED, UNUSED, f"01{GTIN}21A7x/9"], batch_order_id=released, line="PK-01")
    act(db, "allocate", [UNRELEASED], batch_order_id=in_progress, line="PK-02")
    act(db, "commission", [GENUINE, DAMAGED, f"01{GTIN}21A7x/9", UNRELEASED])
    act(db, "decommission", [DAMAGED], disposition="damaged", reason="vial crushed")
    with UnitOfWork(db, actor(db, "sysadmin")) as uow:
        store_setting(uow, "trace.public", {"manufacturer": "丹红制药有限公司"}, "public verification page")
        uow.commit()
    with TestClient(create_app(db)) as test_client:
        yield test_client


def _verdict(client: TestClient, code: str) -> dict[str, object]:
    response = client.get(f"/api/v1/public/verify/{code}")
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    assert set(body) == PUBLIC_FIELDS  # nothing internal: no ids, users, lines, customers
    return body


@pytest.mark.clause("SH-6.2.5.1", "TJ-9.1")
def test_each_state_through_the_api_without_log_in(client: TestClient, db: Database) -> None:
    released, expiry = _released(db)
    genuine = _verdict(client, GENUINE)
    assert genuine == {
        "code": GENUINE, "verdict": "genuine", "verdict_label": genuine["verdict_label"], "advice": genuine["advice"],
        "product": "注射用丹红冻干粉 200 mg/支", "strength": "200 mg/支", "batch": released, "expiry": expiry,
        "expired": False, "manufacturer": "丹红制药有限公司",
    }  # fmt: skip
    # the GS1 code as an element string (with the symbology identifier), in parentheses, as a Digital Link URI
    for scan in (f"]d201{GTIN}21A7x%2F9", f"(01){GTIN}(21)A7x%2F9"):
        assert _verdict(client, scan)["verdict"] == "genuine", scan
    link = client.get("/verify", params={"code": f"https://id.gs1.org/01/{GTIN}/21/A7x%2F9?17=281118"})
    assert 'data-verdict="genuine"' in link.text
    assert _verdict(client, DAMAGED)["verdict"] == "decommissioned"
    assert _verdict(client, UNRELEASED)["verdict"] == "not_for_sale"  # its batch has no released lot
    # the strength is the material master's (规格), not a reading of the product's name
    with UnitOfWork(db, actor(db, "zhouqiang"), reason="规格按注册批件更正") as uow:
        product = uow.session.scalar(select(Material).where(Material.code == "FG-DH-0200"))
        assert product is not None and product.strength == "200 mg/支"
        product.strength = "0.2 g/瓶"
        uow.commit()
    for unknown in (UNUSED, "69012349999999997788", "not-a-code"):  # unused and absent look alike
        body = _verdict(client, unknown)
        assert body["verdict"] == "unknown" and body["product"] is None and body["batch"] is None
    # QA puts the released batch's lot on hold: its packs read as recalled
    with UnitOfWork(db, actor(db, "zhaomin"), reason="complaint: particles in vials") as uow:
        lot = uow.session.scalar(select(Lot).where(Lot.lot_number == released))
        assert lot is not None
        lots.hold(uow, lot.id)
        uow.commit()
    recalled = _verdict(client, GENUINE)
    assert (recalled["verdict"], recalled["strength"], recalled["product"]) == (
        "recalled", "0.2 g/瓶", "注射用丹红冻干粉 200 mg/支")  # fmt: skip


@pytest.mark.clause("SH-6.2.5.1")
def test_the_phone_page_needs_no_log_in_speaks_chinese_and_shows_nothing_internal(
    client: TestClient, db: Database
) -> None:
    released, expiry = _released(db)
    form = client.get("/verify")
    assert form.status_code == 200 and 'lang="zh-CN"' in form.text and 'name="code"' in form.text
    assert "/login" not in str(form.url)
    page = client.get("/verify", params={"code": GENUINE})
    assert page.status_code == 200 and 'data-verdict="genuine"' in page.text
    assert "注射用丹红冻干粉 200 mg/支" in page.text and released in page.text and expiry in page.text
    for internal in ("PK-01", "zhangwei", "zhouqiang", "张伟"):
        assert internal not in page.text
    assert 'data-verdict="decommissioned"' in client.get("/verify", params={"code": DAMAGED}).text


@pytest.mark.clause("SH-6.2.5.1")
def test_too_many_verifications_from_one_address_get_429(client: TestClient) -> None:
    client.app.state.verify_limiter = TokenBucket(burst=2, per_minute=6)  # type: ignore[attr-defined]
    assert client.get(f"/api/v1/public/verify/{GENUINE}").status_code == 200
    assert client.get("/verify", params={"code": GENUINE}).status_code == 200
    refused = client.get(f"/api/v1/public/verify/{GENUINE}")
    wait = refused.headers["retry-after"]
    assert refused.status_code == 429 and 1 <= int(wait) <= 10  # a token every 10 s
    assert refused.json()["error"]["code"] == "rate_limited" and wait in refused.json()["error"]["message"]
    page = client.get("/verify", params={"code": GENUINE})
    assert page.status_code == 429 and "data-verdict" not in page.text and 'role="alert"' in page.text
    assert client.get("/verify").status_code == 200  # the empty form costs nothing
