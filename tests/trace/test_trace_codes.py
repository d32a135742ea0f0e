"""Product identifiers, code pools, allocation and the manual lifecycle operations as the warehouse and the packaging
line use them: an issuer's file imported whole or not at all, GS1 serials generated, codes allocated to a batch of
their product, commissioned, decommissioned and reactivated where the rules allow (NMPAB/T 1002, SH-6.2.5.1,
TJ-6.3.4, issue 10 item 1)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from helpers import audit_entries, count_rows, principal
from pharmatrace.cli import app
from pharmatrace.codes import gs1
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel import filestore
from pharmatrace.kernel.errors import Conflict, NotPermitted, PharmaTraceError, ValidationFailed
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.trace import codes as service
from pharmatrace.trace import demo, lifecycle
from pharmatrace.trace.code_schemas import (
    AllocationCreate,
    CodesCommission,
    CodesDecommission,
    CodesReactivate,
    Deallocation,
    IdentifierCreate,
    PoolGenerate,
)
from pharmatrace.trace.models import CodePool, ProductIdentifier, TraceCode, TraceEvent
from pharmatrace.wms import service as wms
from pharmatrace.wms.schemas import MaterialCreate

PRODUCT = "FG-DH-0200"
UNIT_ID = "8123456"  # the demo product's new 药品标识码, level 1 (the demo's own is voided first)
CASE_ID = "8123499"


def _codes(prefix: str, numbers: range) -> list[str]:
    return [f"{prefix}{n:09d}{(n * 7919) % 10000:04d}" for n in numbers]


def _as(db: Database, login: str, write: Callable[[UnitOfWork, Any], Any], reason: str | None = None) -> Any:
    who = principal(db, login)
    with UnitOfWork(db, who.actor, reason=reason) as uow:
        result = write(uow, who)
        uow.commit()
        return result


def _register(db: Database, code: str, *, scheme: str = "nmpa", level: int = 1, material: str = PRODUCT,
              pack_quantity: int = 1, login: str = "zhouqiang") -> None:  # fmt: skip
    body = IdentifierCreate(
        scheme=scheme, code=code, material=material, level=level, pack_quantity=pack_quantity
    )  # type: ignore[arg-type]
    _as(db, login, lambda uow, who: service.register_identifier(uow, who, body))


def _import(db: Database, identifier: str, content: str, login: str = "zhouqiang") -> str:
    pool = _as(db, login, lambda uow, who: service.import_pool(uow, who, identifier, content.encode(), "pool.csv",
                                                               reference="MSFX-2611-0042"))  # fmt: skip
    return str(pool.number)


def _batch(db: Database, *statuses: str) -> str:
    with db.sessions() as session:
        found = session.scalar(select(BatchOrder.batch_no).where(BatchOrder.status.in_(statuses)).limit(1))
        assert found is not None, statuses
        return found


def _state_of_the_codes(db: Database) -> tuple[int, int, int, int]:
    files = sum(1 for p in service.POOL_FILES.root(db).rglob("*") if p.is_file())
    return count_rows(db, TraceCode), count_rows(db, CodePool), count_rows(db, TraceEvent), files


@pytest.fixture(autouse=True)
def _demo_identifiers_voided(db: Database) -> None:
    """The demo plant's product has its identifiers at levels 1 and 3 (``demo.BOX``, ``demo.CASE``): the plant
    voids them before it registers new ones at those levels, as a real plant must (their codes stay)."""
    for code in (demo.BOX, demo.CASE):
        _as(db, "zhouqiang", lambda uow, who, code=code: service.void_identifier(uow, who, code),
            reason="the issuer assigned new product identifiers")  # fmt: skip


def _ids(db: Database, model: type[Any], *where: Any) -> set[str]:
    """The ids (as audited) of the rows of ``model`` matching ``where``: this test's own rows."""
    with db.sessions() as session:
        return {str(i) for i in session.scalars(select(model.id).where(*where))}


@pytest.mark.clause("SH-6.2.5.1", "SH-6.2.5.2", "SH-7.1.3")
def test_an_issuers_file_becomes_a_pool_of_available_codes_with_the_file_kept_by_its_sm3(
    db: Database, cli: CliRunner, tmp_path: Path
) -> None:
    _register(db, UNIT_ID)
    _register(db, CASE_ID, level=3, pack_quantity=20)
    content = "追溯码\r\n" + "\r\n".join(_codes(UNIT_ID, range(1, 101))) + "\r\n"
    number = _import(db, UNIT_ID, content)

    assert re.fullmatch(r"CP-\d{6}-\d{3}", number)
    with db.sessions() as session:
        pool = service.get_pool(session, number)
        assert (pool.origin, pool.count, pool.reference) == ("issuer_file", 100, "MSFX-2611-0042")
        assert pool.file_sm3 == filestore.sm3_hex(content.encode())
        assert service.POOL_FILES.read(db, pool.file_sm3) == content.encode()  # the original, byte for byte
        public = service.pool_public(session, pool)
        assert public.states["available"] == 100 and sum(public.states.values()) == 100
        identifiers = {i.code: i for i in service.list_identifiers(session)}
        assert identifiers[UNIT_ID].available == 100 and identifiers[CASE_ID].available == 0
        event = session.scalar(select(TraceEvent).where(TraceEvent.pool_id == pool.id))
        assert event is not None and event.action == "import" and event.count == 100
        assert lifecycle.verify_event(session, event.id)
    assert len(audit_entries(db, object_type="trace_pool", object_id=str(pool.id))) == 1
    mine = _ids(db, ProductIdentifier, ProductIdentifier.code.in_((UNIT_ID, CASE_ID)))
    assert len([e for e in audit_entries(db, object_type="trace_identifier") if e.object_id in mine]) == 2

    # the same from the command line, as the keeper who logs in (attributed to them, their permissions)
    issuer_file = tmp_path / "MSFX-2611-0043.txt"
    issuer_file.write_text("\n".join(_codes(UNIT_ID, range(101, 121))))
    args = ["trace", "import-pool", UNIT_ID, str(issuer_file), "--as", "zhouqiang", "--password-stdin"]
    result = cli.invoke(app, args, input=f"{DEMO_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert re.search(r"pool CP-\d{6}-\d{3}: 20 codes of 8123456 imported", result.output)
    issuer_file.write_text("\n".join(_codes(UNIT_ID, range(120, 130))))  # its first code is stored already
    before = _state_of_the_codes(db)
    refused = cli.invoke(app, args, input=f"{DEMO_PASSWORD}\n")
    assert refused.exit_code == 2 and "Line 1: code 8123456000000120" in refused.output
    assert _state_of_the_codes(db) == before
    unit = _ids(db, ProductIdentifier, ProductIdentifier.code == UNIT_ID)
    mine = _ids(db, CodePool, CodePool.identifier_id.in_([int(i) for i in unit]))
    pools = [
        p for p in audit_entries(db, object_type="trace_pool") if p.event == "create" and p.object_id in mine
    ]
    assert len(pools) == 2 and pools[-1].actor_login == "zhouqiang"


@pytest.mark.clause("SH-6.2.5.1", "TJ-6.3.4", "SH-7.1.2")
def test_a_bad_file_is_refused_whole_naming_line_and_code_and_nothing_is_written(db: Database) -> None:
    _register(db, UNIT_ID)
    _register(db, "06901234567892", scheme="gs1")
    good = _codes(UNIT_ID, range(1, 4))
    _import(db, UNIT_ID, "\n".join(good))
    fresh = _codes(UNIT_ID, range(10, 13))
    before = _state_of_the_codes(db)
    refusals: list[tuple[str, str, str, type[PharmaTraceError], str]] = [
        ("zhouqiang", UNIT_ID, f"{fresh[0]}\n{fresh[1][:-1]}\n", ValidationFailed, "Line 2: Code .* has 19 characters"),
        ("zhouqiang", UNIT_ID, f"{fresh[0]}\n{fresh[1][:-2]}AB\n", ValidationFailed, "Line 2: .* other than digits"),
        ("zhouqiang", UNIT_ID, f"{fresh[0]}\n8123457{fresh[1][7:]}\n", ValidationFailed, "does not start with .* 8123456"),
        ("zhouqiang", UNIT_ID, f"{fresh[0]}\n{fresh[1]}\n{fresh[0]}\n", ValidationFailed, "Line 3: code .* already on line 1"),
        ("zhouqiang", UNIT_ID, f"code\n{fresh[0]}\n{good[1]}\n", Conflict, f"Line 3: code {good[1]} exists already"),
        ("zhouqiang", "06901234567892", f"{fresh[0]}\n", ValidationFailed, "serials are generated here"),
        ("zhouqiang", "8123400", f"{fresh[0]}\n", PharmaTraceError, "No product identifier 8123400"),
        ("inspector", UNIT_ID, f"{fresh[0]}\n", NotPermitted, ""),  # reads the trace, imports nothing
        ("wangfang", UNIT_ID, f"{fresh[0]}\n", NotPermitted, ""),
    ]  # fmt: skip
    for login, identifier, content, error, message in refusals:
        with pytest.raises(error, match=message or None):
            _import(db, identifier, content, login=login)
        assert _state_of_the_codes(db) == before, content
    with pytest.raises(ValidationFailed, match="IM-DH-SOL is not a finished good"):
        _register(db, "8123488", material="IM-DH-SOL")
    with pytest.raises(NotPermitted):
        _register(db, "8123488", login="inspector")
    with pytest.raises(Conflict, match="has the identifier 8123456 for this level already"):
        _register(db, "8123488")
    with db.sessions() as session:
        assert session.scalar(select(ProductIdentifier).where(ProductIdentifier.code == "8123488")) is None


@pytest.mark.clause("SH-6.2.5.1", "TJ-6.3.4")
def test_generated_gs1_serials_are_stored_as_gtin_and_serial_and_found_by_any_scan(db: Database) -> None:
    gtin = "06901234567892"
    _register(db, gtin, scheme="gs1")
    body = PoolGenerate(
        identifier=gtin, count=500, serial_length=10, alphabet="alphanumeric", reference="line PK-01"
    )
    number = _as(db, "zhouqiang", lambda uow, who: service.generate_pool(uow, who, body)).number
    with db.sessions() as session:
        pool = service.get_pool(session, number)
        values = list(session.scalars(select(TraceCode.value).where(TraceCode.pool_id == pool.id)))
        assert pool.origin == "generated" and pool.file_sm3 is None and len(set(values)) == 500
        parts = [gs1.split_serialized(v) for v in values]
        assert all(p is not None and p[0] == gtin and len(p[1]) == 10 for p in parts)
        serial = values[7][18:]
        for scan in (values[7], "]d2" + gs1.item_element_string(gtin, serial, "DH261101"),
                     f"(01){gtin}(21){serial}", gs1.digital_link(gtin, serial, "DH261101"),
                     f"/01/{gtin}/21/{serial}", f"https:/id.example.cn/p/01/{gtin}/21/{serial}?17=281130"):  # fmt: skip
            assert service.find_code(session, scan).value == values[7], scan
        national = session.scalar(select(TraceCode.value).where(TraceCode.value.regexp_match("^[0-9]{20}$")))
        assert national is not None  # the demo's box codes
        spaced = " ".join(national[i : i + 4] for i in range(0, 20, 4))  # as people type it off a box
        assert service.find_code(session, spaced).value == national
        for unknown in ("", "9" * 20, f"(01){gtin}(21)NOSUCHSERIAL", "0" * 201):
            assert service.lookup(session, unknown) is None, unknown
        shown = service.code_public(session, service.find_code(session, values[7]))
        assert (shown.gtin, shown.serial, shown.state, shown.verified) == (gtin, serial, "available", True)
    _register(db, UNIT_ID)
    nmpa_body = body.model_copy(update={"identifier": UNIT_ID})
    with pytest.raises(ValidationFailed, match="come from the issuer's file"):
        _as(db, "zhouqiang", lambda uow, who: service.generate_pool(uow, who, nmpa_body))


@pytest.mark.clause("SH-6.2.5.1", "TJ-9.1")
def test_allocation_takes_the_oldest_codes_for_a_batch_of_their_product_or_is_refused(db: Database) -> None:
    _register(db, UNIT_ID)
    older, newer = _codes(UNIT_ID, range(1, 6)), _codes(UNIT_ID, range(100, 106))
    _import(db, UNIT_ID, "\n".join(older))
    _import(db, UNIT_ID, "\n".join(newer))
    batch = _batch(db, "planned", "released", "in_progress")
    closed = _batch(db, "completed", "reviewed")
    _as(db, "zhouqiang", lambda uow, who: wms.create_material(uow, MaterialCreate(
        code="FG-XS-0100", name="注射用血栓通 100 mg/支", kind="finished_good", unit="支")))  # fmt: skip
    _register(db, "8123477", material="FG-XS-0100")
    _import(db, "8123477", "\n".join(_codes("8123477", range(1, 4))))

    def allocate(identifier: str, count: int, on: str = batch, login: str = "zhangwei") -> Any:
        body = AllocationCreate(batch=on, line="pk-01", identifier=identifier, count=count)
        return _as(db, login, lambda uow, who: service.allocate(uow, who, body))

    before = _state_of_the_codes(db)
    refusals: list[tuple[Callable[[], Any], type[PharmaTraceError], str]] = [
        (lambda: allocate("8123477", 1), Conflict, f"Batch {batch} is of {PRODUCT}; the identifier 8123477 is of FG-XS-0100"),
        (lambda: allocate(UNIT_ID, 12), Conflict, "Only 11 codes of 8123456 are available; 12 were asked for"),
        (lambda: allocate(UNIT_ID, 1, on=closed), Conflict, f"Batch {closed} is (Completed|Reviewed): its codes can no longer be allocated"),
        (lambda: allocate(UNIT_ID, 1, on="NO-SUCH-BATCH"), PharmaTraceError, "No batch order"),
        (lambda: allocate(UNIT_ID, 1, login="inspector"), NotPermitted, ""),
    ]  # fmt: skip
    for attempt, error, message in refusals:
        with pytest.raises(error, match=message or None):
            attempt()
        assert _state_of_the_codes(db) == before
    event = allocate(UNIT_ID, 7)
    with db.sessions() as session:
        unit = service.get_identifier(session, UNIT_ID)
        taken = list(session.scalars(select(TraceCode).where(
            TraceCode.identifier_id == unit.id, TraceCode.state == "allocated").order_by(TraceCode.id)))  # fmt: skip
        assert [c.value for c in taken] == older + newer[:2]  # the oldest pool first
        assert {(c.line, c.batch_order_id) for c in taken} == {("PK-01", event.batch_order_id)}
        rows = [
            r for r in service.batch_codes(session, batch=batch) if r.identifier not in (demo.BOX, demo.CASE)
        ]
        assert [(r.identifier, r.states["allocated"]) for r in rows] == [(UNIT_ID, 7)]
    back = Deallocation(batch=batch, identifier=UNIT_ID, count=2, reason="line PK-01 stopped early")
    _as(db, "zhangwei", lambda uow, who: service.deallocate(uow, who, back), reason=back.reason)
    with db.sessions() as session:
        rows = [r for r in service.batch_codes(session, batch=batch) if r.identifier == UNIT_ID]
        assert [r.states["allocated"] for r in rows] == [5]
        returned = service.find_code(session, newer[1])
        assert (returned.state, returned.batch_order_id, returned.line) == ("available", None, "")


@pytest.mark.clause("SH-6.2.5.1", "TJ-6.3.4")
def test_manual_commissioning_decommissioning_and_reactivation_follow_the_rules(db: Database) -> None:
    _register(db, UNIT_ID)
    values = _codes(UNIT_ID, range(1, 7))
    _import(db, UNIT_ID, "\n".join(values))
    batch = _batch(db, "planned", "released", "in_progress")
    allocated = AllocationCreate(batch=batch, line="PK-01", identifier=UNIT_ID, count=5)
    _as(db, "zhouqiang", lambda uow, who: service.allocate(uow, who, allocated))

    def run(write: Callable[[UnitOfWork, Any], Any], login: str = "zhangwei") -> Any:
        return _as(db, login, write)

    with pytest.raises(Conflict, match=f"Code {values[5]} is not allocated to batch {batch}"):
        run(lambda uow, who: service.commission(uow, who, CodesCommission(batch=batch, codes=values[4:6])))
    run(lambda uow, who: service.commission(uow, who, CodesCommission(batch=batch, codes=values[:4])))
    before = _state_of_the_codes(db)
    with pytest.raises(Conflict, match=f"Code {values[5]} is not allocated to a batch"):
        run(lambda uow, who: service.decommission(uow, who, CodesDecommission(
            codes=[values[0], values[5]], disposition="damaged", reason="torn")))  # fmt: skip
    assert _state_of_the_codes(db) == before
    sample = CodesDecommission(codes=[values[0]], disposition="sample", reason="QC retention sample")
    run(lambda uow, who: service.decommission(uow, who, sample))
    stolen = CodesDecommission(codes=[values[1]], disposition="stolen", reason="carton missing at the line")
    run(lambda uow, who: service.decommission(uow, who, stolen))
    with pytest.raises(
        lifecycle.TransitionRefused, match="decommissioned as “Sample”: it can never be reactivated"
    ):
        run(lambda uow, who: service.reactivate(uow, who, CodesReactivate(codes=[values[0]], reason="found")))
    with pytest.raises(NotPermitted):
        run(lambda uow, who: service.reactivate(uow, who, CodesReactivate(codes=[values[1]], reason="found")),
            login="inspector")  # fmt: skip
    run(
        lambda uow, who: service.reactivate(
            uow, who, CodesReactivate(codes=[values[1]], reason="found intact")
        )
    )
    with pytest.raises(PharmaTraceError, match="No traceability code 8123456999"):
        run(lambda uow, who: service.commission(uow, who, CodesCommission(batch=batch, codes=["8123456999"])))

    with db.sessions() as session:
        states = [service.find_code(session, v).state for v in values]
        assert states == ["decommissioned", "commissioned", "commissioned", "commissioned", "allocated",
                          "available"]  # fmt: skip
        shown = service.code_public(session, service.find_code(session, values[1]))
        assert [(h.action, h.to_state) for h in shown.history] == [
            ("import", "available"), ("allocate", "allocated"), ("commission", "commissioned"),
            ("decommission", "decommissioned"), ("reactivate", "commissioned")]  # fmt: skip
        assert shown.history[3].disposition == "stolen" and shown.history[4].reason == "found intact"
        assert shown.verified and all(h.event_verified for h in shown.history)
        assert (shown.batch, shown.line, shown.product_code) == (batch, "PK-01", PRODUCT)
