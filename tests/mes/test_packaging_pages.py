"""The packaging pages (TJ-6.4.6, TJ-B.2.3.4): the panel on a packaging step of the batch step page, the forms
of the packaging record filled in by an operator, a refusal shown on the page, and the summary with its trail
and the line check's signatures."""

from __future__ import annotations

from datetime import date

import pytest
from dispensing_plant import new_order, run_step
from fastapi.testclient import TestClient
from test_packaging_api import CARTON, INSTRUCTION, artwork, give_shelf_life, png

from helpers import audit_entries, log_in
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.mes import execution, packaging
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


@pytest.mark.clause("TJ-6.4.6", "TJ-B.2.3.4")
def test_an_operator_keeps_the_packaging_record_on_the_pages(db: Database) -> None:
    batch = new_order(db)
    give_shelf_life(db)
    run_step(db, batch, "PKG-ID")
    art = artwork(db)
    base = f"/mes/batches/{batch}/packaging"
    with TestClient(create_app(db)) as client:
        log_in(client, "zhangwei")
        step_page = client.get(f"/mes/batches/{batch}/steps/PKG-ID")
        assert step_page.status_code == 200 and 'data-testid="packaging-slot"' in step_page.text
        assert client.get(f"/mes/batches/{batch}/steps/EXT-LC").text.count("packaging-slot") == 0
        slot = client.get(base, params={"partial": 1, "step": "PKG-ID"})
        assert 'id="packaging-panel"' in slot.text and "<html" not in slot.text
        assert 'data-testid="packaging-open-form"' in slot.text
        read_only = client.get(base, params={"step": "EXT-LC"})
        assert (
            'data-testid="packaging-not-active"' in read_only.text
            and "packaging-open-form" not in read_only.text
        )

        opened = client.post(base + "/open", data={"step": "PKG-ID", "bulk_batch_no": batch, "bulk_quantity": "10100",
                             "planned_quantity": "10000", "line": "包装线 1", "room": "RM-PACK",
                             "instruction": INSTRUCTION}, follow_redirects=False)  # fmt: skip
        assert opened.status_code == 303, opened.text[:2000]
        bad = client.post(
            base + "/open", data={"step": "PKG-ID", "bulk_batch_no": batch, "bulk_quantity": "x"}
        )
        assert bad.status_code == 422 and 'data-testid="packaging-error"' in bad.text

        line = {"step": "PKG-ID", "password": DEMO_PASSWORD, "login": "zhangwei"}
        line.update({f"result_{n}": "pass" for n in range(len(packaging_views_items()))})
        assert client.post(base + "/line-check", data=line, follow_redirects=False).status_code == 303
        same = client.post(base + "/line-check/verify", data={"step": "PKG-ID", "password": DEMO_PASSWORD})
        assert same.status_code == 403 and 'data-testid="packaging-error"' in same.text

        refused = client.post(base + "/materials", data={"step": "PKG-ID", "material": CARTON, "kind": "carton",
                              "artwork": art, "artwork_version": "1", "per_unit": "0.1"},
                              headers={"HX-Request": "true"})  # fmt: skip
        assert refused.status_code == 200 and 'data-testid="packaging-error"' in refused.text
        checked = client.post(base + "/materials", data={"step": "PKG-ID", "material": CARTON, "kind": "carton",
                              "artwork": art, "artwork_version": "2", "per_unit": "0.1"},
                              headers={"HX-Request": "true"})  # fmt: skip
        assert 'data-testid="packaging-ok"' in checked.text and f"{art}</code></a> v2" in checked.text
        uploaded = client.post(base + "/specimens", data={"step": "PKG-ID", "material": CARTON},
                               files={"image": ("carton.png", png(), "image/png")}, follow_redirects=False)  # fmt: skip
        assert uploaded.status_code == 303
        with db.sessions() as session:
            record = packaging.record_of(session, execution.get_order(session, batch))
            assert record is not None
            expiry: date = record.expiry_date
        wrong = client.post(base + "/print-checks", data={"step": "PKG-ID", "material": CARTON,
                            "printed_batch_no": batch, "printed_expiry": "2099-01-01"},
                            headers={"HX-Request": "true"})  # fmt: skip
        assert 'data-testid="packaging-error"' in wrong.text
        right = client.post(base + "/print-checks", data={"step": "PKG-ID", "material": CARTON,
                            "printed_batch_no": batch, "printed_expiry": expiry.isoformat()},
                            headers={"HX-Request": "true"})  # fmt: skip
        assert 'data-testid="packaging-ok"' in right.text

    with TestClient(create_app(db)) as other:
        log_in(other, "liuyang")
        verified = other.post(base + "/line-check/verify", data={"password": DEMO_PASSWORD, "login": "liuyang"},
                              follow_redirects=False)  # fmt: skip
        assert verified.status_code == 303
        summary = other.get(base)
        assert summary.status_code == 200
        for testid in ("packaging-facts", "packaging-line-check", "packaging-materials", "packaging-prints",
                       "packaging-missing", "signatures"):  # fmt: skip
            assert f'data-testid="{testid}"' in summary.text, testid
        assert "packaging.line_check.verify" in summary.text and 'class="trail"' in summary.text
        assert "<img" in summary.text
        specimen = other.get(summary.text.split('<img src="')[1].split('"')[0])
        assert specimen.status_code == 200 and specimen.content == png()
    assert len(audit_entries(db, event="mes.packaging.refused")) == 3  # verifier, artwork, printed expiry


def packaging_views_items() -> tuple[str, ...]:
    from pharmatrace.mes.packaging_views import LINE_CHECK_ITEMS

    return LINE_CHECK_ITEMS
