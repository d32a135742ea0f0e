"""Specifications through the API: bad limits are refused with a clear message before anything is written, the
lifecycle runs with its permissions, the laboratory reads the effective specifications of a material, and a value
is computed, rounded once and judged against an item (TJ-7.2, TJ-7.3, TJ-10.5.2.a, SH-6.2.3)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from helpers import count_rows, token
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.lims.specs_models import Specification, SpecificationItem, SpecificationVersion
from pharmatrace.storage.engine import Database

API = "/api/v1/lims"


def _as(client: TestClient, login: str) -> dict[str, str]:
    """The log-in's bearer token, messages in English (the msgids the tests compare)."""
    return {**token(client, login), "accept-language": "en"}


def _spec(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "QS-IM-DH-001", "category": "intermediate", "title": "丹红配制药液中间体质量标准",
        "basis": "企业内控标准", "standard_kind": "in_house", "purpose": "release", "material_codes": ["IM-DH-SOL"],
        "items": [
            {"name": "pH值", "limit_type": "range", "lower": "5.0", "upper": "7.0", "decimals": 1},
            {"name": "含量", "limit_type": "range", "lower": "95.0", "upper": "105.0", "unit": "%", "decimals": 1,
             "formula": "assay = A_s / A_r * 100",
             "raw_inputs": [{"name": "A_s", "label": "供试品峰面积"}, {"name": "A_r", "label": "对照品峰面积"}]},
            {"name": "澄明度", "limit_type": "conforms", "decimals": 0, "requirement": "应澄清"},
        ],
    }  # fmt: skip
    body.update(changes)
    return body


def _rows(db: Database) -> tuple[int, int, int]:
    return (
        count_rows(db, Specification),
        count_rows(db, SpecificationVersion),
        count_rows(db, SpecificationItem),
    )


# Each bad item: (case, the one item of the specification, the message its details give).
BAD_LIMITS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("lower above upper", {"name": "水分", "limit_type": "range", "lower": "13.0", "upper": "12.0"},
     "The lower limit is above the upper limit"),
    ("range without an upper limit", {"name": "水分", "limit_type": "range", "lower": "12.0"},
     "A range needs a lower and an upper limit"),
    ("≤ with a lower limit", {"name": "水分", "limit_type": "le", "lower": "1.0", "upper": "13.0"},
     "A “≤” or “<” limit has an upper limit only"),
    ("≥ without its limit", {"name": "含量", "limit_type": "ge"}, "A “≥” or “>” limit has a lower limit only"),
    ("conforms without a requirement", {"name": "无菌", "limit_type": "conforms", "decimals": 0},
     "A conforms or descriptive item states its requirement"),
    ("conforms with a limit", {"name": "无菌", "limit_type": "conforms", "requirement": "应符合规定", "upper": "1"},
     "A conforms or descriptive item has no numeric limits"),
    ("limit finer than the result", {"name": "水分", "limit_type": "le", "upper": "13.05", "decimals": 1},
     "A limit has more decimal places than the result is reported with"),
    ("unreadable formula", {"name": "含量", "limit_type": "ge", "lower": "98.0", "formula": "x = a ** 2",
                            "raw_inputs": [{"name": "a"}]},
     "The formula cannot be read: write “name = expression” with + − × ÷ and parentheses"),
    ("raw inputs not the formula's", {"name": "含量", "limit_type": "ge", "lower": "98.0", "formula": "x = a / b",
                                      "raw_inputs": [{"name": "a"}]},
     "The raw inputs listed must be exactly the names the formula uses"),
    ("raw inputs without a formula", {"name": "含量", "limit_type": "ge", "lower": "98.0",
                                      "raw_inputs": [{"name": "a"}]},
     "Raw inputs are listed only for a formula"),
    ("formula on a text item", {"name": "性状", "limit_type": "text", "requirement": "澄清", "formula": "x = a",
                                "raw_inputs": [{"name": "a"}]},
     "Only an item with numeric limits has a formula"),
)  # fmt: skip


@pytest.mark.clause("TJ-7.2", "TJ-7.3")
def test_bad_limits_are_refused_with_a_clear_message_and_nothing_is_written(
    client: TestClient, db: Database
) -> None:
    """Every case of BAD_LIMITS on one database with one log-in: each specification is refused with its one
    message on items.0, and no specification, version or item is written (so the next case starts from the same
    plant). Every case that differs is named."""
    author = _as(client, "sunli")
    failures: list[str] = []
    for case, item, message in BAD_LIMITS:
        before = _rows(db)
        response = client.post(f"{API}/specifications", headers=author, json=_spec(items=[item]))
        wrong: list[str] = []
        if response.status_code != 422:
            wrong.append(f"status {response.status_code}: {response.text}")
        is_json = response.headers.get("content-type", "").startswith("application/json")
        details = ((response.json().get("error") if is_json else None) or {}).get("details") or []
        if [d.get("message") for d in details] != [message]:
            wrong.append(f"messages {[d.get('message') for d in details]!r}, expected {[message]!r}")
        if not details or details[0].get("field") != "items.0":
            wrong.append(f"field {details[0].get('field') if details else None!r}, expected 'items.0'")
        if _rows(db) != before:
            wrong.append(f"rows {before} -> {_rows(db)}")
        if wrong:
            failures.append(f"{case}: " + "; ".join(wrong))
    assert failures == []


@pytest.mark.clause("TJ-7.2", "TJ-10.2", "SH-6.2.3")
def test_the_lifecycle_through_the_api_with_its_refusals(client: TestClient, db: Database) -> None:
    author, qa, analyst = _as(client, "sunli"), _as(client, "zhaomin"), _as(client, "wangfang")
    assert client.post(f"{API}/specifications", headers=analyst, json=_spec()).status_code == 403
    assert client.post(f"{API}/specifications", headers=qa, json=_spec()).status_code == 403
    unknown = client.post(f"{API}/specifications", headers=author, json=_spec(material_codes=["IM-NOPE"]))
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "spec_invalid"
    created = client.post(f"{API}/specifications", headers=author, json=_spec())
    assert created.status_code == 201, created.text
    draft = created.json()
    assert (draft["status"], draft["version"], [i["name"] for i in draft["items"]]) == (
        "draft",
        1,
        ["pH值", "含量", "澄明度"],
    )
    assert draft["items"][0]["limit"] == "5.0 ~ 7.0" and draft["items"][2]["limit"] == "应澄清"
    vid = draft["id"]
    content = {k: draft[k] for k in ("title", "basis", "standard_kind", "purpose", "material_codes")}
    edited = client.put(f"{API}/spec-versions/{vid}", headers=author,
                        json={**content, "items": _spec()["items"][:2], "reason": "澄明度移至可见异物检查"})  # fmt: skip
    assert edited.status_code == 200 and [i["name"] for i in edited.json()["items"]] == ["pH值", "含量"]
    assert (
        client.post(
            f"{API}/spec-versions/{vid}/approve",
            headers=qa,
            json={"password": DEMO_PASSWORD, "login": "zhaomin"},
        ).status_code
        == 409
    )  # not submitted
    assert client.post(f"{API}/spec-versions/{vid}/submit", headers=author).status_code == 200
    changed = client.put(f"{API}/spec-versions/{vid}", headers=author, json={**content, "items": []})
    assert changed.status_code == 409  # in review: frozen
    assert client.post(f"{API}/spec-versions/{vid}/approve", headers=author,
                       json={"password": DEMO_PASSWORD, "login": "sunli"}).status_code == 403  # fmt: skip
    approved = client.post(f"{API}/spec-versions/{vid}/approve", headers=qa,
                           json={"password": DEMO_PASSWORD, "login": "zhaomin", "comment": "同意"})  # fmt: skip
    assert approved.status_code == 201, approved.text
    signed = approved.json()
    assert signed["kind"] == "approved" and signed["content_sm3"] == edited.json()["content_sm3"]
    assert [(s["meaning"], s["signer_login"], s["status"]) for s in signed["signatures"]] == [
        ("approved", "zhaomin", "valid")
    ]
    history = client.get(f"{API}/specifications/QS-IM-DH-001", headers=analyst).json()
    assert history["effective_version"] == 1 and [v["status"] for v in history["versions"]] == ["approved"]
    effective = client.get(f"{API}/effective-specifications", headers=analyst,
                           params={"material": "IM-DH-SOL", "purpose": "release"})  # fmt: skip
    assert [v["code"] for v in effective.json()] == ["QS-IM-DH-001"]
    assert client.get(f"{API}/specifications/QS-IM-DH-001/effective", headers=analyst).json()["id"] == vid
    new = client.post(f"{API}/specifications/QS-IM-DH-001/versions", headers=author,
                      json={"change_summary": "含量限度调整"})  # fmt: skip
    assert new.status_code == 201 and new.json()["version"] == 2 and new.json()["status"] == "draft"
    one = client.get(f"{API}/specifications/QS-IM-DH-001/versions/1", headers=analyst).json()
    assert one["status"] == "approved" and one["decisions"][0]["signatures"][0]["signer_name"] == "赵敏"


@pytest.mark.clause("TJ-7.3", "TJ-10.5.2.a", "TJ-7.2")
def test_a_value_is_computed_rounded_once_and_judged_against_an_item(
    client: TestClient, db: Database
) -> None:
    analyst = _as(client, "wangfang")
    (release,) = client.get(f"{API}/effective-specifications", headers=analyst,
                            params={"material": "FG-DH-0200", "purpose": "release"}).json()  # fmt: skip
    items = {i["name"]: i for i in release["items"]}
    assay = items["含量测定（丹参素，以标示量计）"]
    assert assay["formula"] == "assay = (A_s / A_r) * C_r * V / L * 100"
    raws = {"A_s": "1502.3", "A_r": "1498.7", "C_r": "0.2012", "V": "50", "L": "10.0"}
    verdict = client.post(
        f"{API}/spec-items/{assay['id']}/judge", headers=analyst, json={"raws": raws}
    ).json()
    assert verdict["outcome"] == "pass" and verdict["limit"] == "90.0 ~ 110.0"
    assert verdict["computed"] == "100.8416494295055714952959231" and verdict["reported"] == "100.8"
    water = items["水分"]
    edge = client.post(
        f"{API}/spec-items/{water['id']}/judge", headers=analyst, json={"value": "3.05"}
    ).json()
    assert (edge["reported"], edge["outcome"]) == ("3.0", "pass")  # 3.05 → 3.0 (five after an even digit)
    over = client.post(
        f"{API}/spec-items/{water['id']}/judge", headers=analyst, json={"value": "3.15"}
    ).json()
    assert (over["reported"], over["outcome"]) == ("3.2", "fail")
    sterile = items["无菌"]
    failed = client.post(f"{API}/spec-items/{sterile['id']}/judge", headers=analyst,
                         json={"answer": "does_not_conform"}).json()  # fmt: skip
    assert failed["outcome"] == "fail"
    looks = client.post(f"{API}/spec-items/{items['性状']['id']}/judge", headers=analyst,
                        json={"text": "红棕色疏松块状物"}).json()  # fmt: skip
    assert looks["outcome"] == "review"
    missing = client.post(
        f"{API}/spec-items/{assay['id']}/judge", headers=analyst, json={"raws": {"A_s": "1"}}
    )
    assert (
        missing.status_code == 422 and missing.json()["error"]["message"] == "The formula needs the value A_r"
    )
    refused = client.post(f"{API}/spec-items/{assay['id']}/judge", headers=_as(client, "zhangwei"), json={})
    assert refused.status_code == 403  # an operator reads no laboratory data
