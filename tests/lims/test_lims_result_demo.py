"""The demo plant's testing (TJ-7.3, TJ-7.4, TJ-7.7): the sampled 三七 lot ordered against its release specification,
results entered by the QC analyst and signed off by the QC reviewer, one OOS under phase I investigation."""

from __future__ import annotations

import pytest
from lims_result_steps import ANALYST, REVIEWER

from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.exchange import datasets
from pharmatrace.kernel.esign import service as esign
from pharmatrace.lims import results
from pharmatrace.lims.result_demo import seed_results
from pharmatrace.storage.engine import Database


@pytest.mark.clause("TJ-7.3", "TJ-7.4", "TJ-7.7", "TJ-B.2.4.3")
def test_the_demo_lot_is_tested_reviewed_and_has_one_oos_under_investigation(db: Database) -> None:
    with db.sessions() as session:
        (order,) = [o for o in results.list_orders(session) if o.source == "receipt"]  # the 三七 lot
        detail = results.order_detail(session, order)
        states = {t.item_name[:4]: (t.state, t.verdict) for t in detail.tests}
        latest = [t.latest for t in detail.tests if t.latest is not None]
        signed = [
            s
            for r in latest
            for v in r.reviews
            for s in esign.manifestations(session, results.REVIEW_TYPE, str(v.id))
        ]
        (case,) = results.list_oos(session)
    assert (detail.material_name, detail.spec_code, detail.source, detail.state) == ("三七（中药材）", "QS-HB-SQ-001",
                                                                                    "receipt", "oos")  # fmt: skip
    assert states == {"性状": ("approved", "pass"), "鉴别": ("approved", "pass"), "水分": ("oos", "fail"),
                      "总灰分": ("approved", "pass"), "醇溶性浸": ("approved", "pass"), "含量测定": ("pending", None)}  # fmt: skip
    assert {r.entered_by for r in latest} == {ANALYST}
    assert len(signed) == 4 and {(s.signer_login, s.status) for s in signed} == {(REVIEWER, "valid")}
    assert (case.item_name, case.phase, case.status, case.result_text, case.limit_text) == ("水分", "II", "open",
                                                                                           "14.6 %", "≤ 14.0")  # fmt: skip
    assert seed_results(db, DEMO_PASSWORD) == 0  # idempotent


@pytest.mark.clause("TJ-B.2.4.1.4", "TJ-B.2.4.3", "TJ-B.1.3")
def test_the_inspection_and_oos_data_sets_are_exchanged_in_the_guides_short_names(db: Database) -> None:
    loaded = datasets.load_all()
    with db.sessions() as session:
        inspection = loaded["TJ-B.2.4.1.4"].records(datasets.SOURCES["TJ-B.2.4.1.4"].records(session))
        oos = loaded["TJ-B.2.4.3"].records(datasets.SOURCES["TJ-B.2.4.3"].records(session))
        (order,) = [o for o in results.list_orders(session) if o.source == "receipt"]  # the 三七 lot
    inspection = [r for r in inspection if r["PH"] == order.lot_number]  # not the finished-product lot's
    water = next(r for r in inspection if r["JYXM"] == "水分")
    assert (water["PH"], water["JYJG"], water["ZLBZ"], water["JYRY"], water["FHRY"]) == (
        order.lot_number, "14.6 %（不合格）", "≤ 14.0 %", "王芳（wangfang）", None,
    )  # fmt: skip
    assert water["JYYJ"].startswith("QS-HB-SQ-001 v1") and len(water["JYSJ"]) == 15
    ash = next(r for r in inspection if r["JYXM"] == "总灰分")
    assert (ash["JYJG"], ash["FHRY"]) == ("4.2 %（合格）", "孙丽（sunli）")
    assert len(inspection) == 5 and len(oos) == 1
    (case,) = oos
    assert (case["YPPH"], case["CBDJYXM"], case["JYJG"], case["SBBH"], case["SBMC"]) == (
        order.lot_number, "水分", "14.6 %（不合格）", "BAL-QC-01", "电子分析天平 220 g",
    )  # fmt: skip
    assert case["SBZT"].startswith("备用；检验时校验有效至") and case["SJSYMC"] is None
