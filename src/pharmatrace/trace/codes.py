"""Product identifiers, code pools, allocation and the manual lifecycle operations (药品追溯码; NMPAB/T 1002-2019,
SH-6.2.5.1, SH-6.2.5.2, TJ-6.3.4, TJ-9.1; issue 10 item 1).

* **Product identifiers** (:func:`register_identifier`): one per packaging level of a finished good (level 1 the
  minimum saleable unit, 2 the middle pack, 3 the outer case), either the 7-digit 药品标识码 of the national
  scheme (``nmpa``, :mod:`pharmatrace.codes.nmpa`) or a GTIN-14 with its check digit (``gs1``,
  :mod:`pharmatrace.codes.gs1`). Voided with a reason, never deleted.
* **Pools**: :func:`import_pool` takes an issuer's file (text or CSV, one code per line, an optional header), keeps
  the original file in the file store under its SM3 and records that SM3 on the pool. Every code is validated —
  20 digits, the identifier as prefix, not twice in the file, not stored before (codes are never reused) — and
  the first bad line refuses the whole file, naming line and code: nothing is written. :func:`generate_pool`
  draws random, non-sequential GS1 serials from a cryptographic generator for a GTIN identifier; the stored value
  is ``01<GTIN>21<serial>`` (:func:`pharmatrace.codes.gs1.serialized_value`). Pools are numbered
  ``CP-YYMMDD-NNN`` (Beijing date).
* **Allocation** (:func:`allocate`): the oldest available codes of an identifier go to a batch that is for the
  identifier's product and not completed or cancelled, and to its packaging line; :func:`deallocate` gives them
  back with a reason.
* **Manual lifecycle operations**: :func:`commission` (codes allocated to that batch, printed and read good),
  :func:`decommission` (sample, damaged, destroyed, stolen, rejected; with a reason) and :func:`reactivate` (with
  a reason; the lifecycle allows it only for a stolen item recovered).

Every change of a code is an event of :mod:`pharmatrace.trace.lifecycle` (the only writer of codes and their
items) inside the caller's unit of work. Writing needs ``trace.codes.manage``, reading ``trace.view``.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.codes import gs1, nmpa
from pharmatrace.kernel import clock, filestore
from pharmatrace.kernel.errors import N_, Conflict, Msgid, NotFound, ReasonRequired, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import execution
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.trace import lifecycle
from pharmatrace.trace.code_schemas import (
    AllocationCreate,
    BatchCodesPublic,
    CodePublic,
    CodesCommission,
    CodesDecommission,
    CodesReactivate,
    Deallocation,
    EventPublic,
    HistoryPublic,
    IdentifierCreate,
    IdentifierPublic,
    PoolGenerate,
    PoolImport,
    PoolPublic,
)
from pharmatrace.trace.models import (
    STATES,
    CodePool,
    OutboundShipment,
    ProductIdentifier,
    TraceCode,
    TraceEvent,
)
from pharmatrace.wms.codes import next_serial
from pharmatrace.wms.models import Material

MANAGE_PERMISSION = "trace.codes.manage"
VIEW_PERMISSION = "trace.view"
CLOSED_BATCH = ("completed", "reviewed", "cancelled")  # codes are no longer allocated or commissioned
CHUNK = lifecycle.CHUNK

SCHEME_LABELS = {"nmpa": N_("National drug traceability code (20 digits)"), "gs1": N_("GS1 (GTIN + serial)")}
ORIGIN_LABELS = {"issuer_file": N_("Issuer's file"), "generated": N_("Generated serials")}


@dataclass(frozen=True)
class TextFileStore(filestore.FileStore):
    """Issuer files are text (UTF-8 or GB 18030, CSV or plain), which the binary sniffing does not know."""

    def check(self, data: bytes, file_name: str) -> filestore.StoredFile:
        if not data:
            raise self.refused(N_("The file is empty"))
        if len(data) > self.max_bytes:
            raise self.refused(
                N_("The file is {size} bytes; at most {limit} bytes are accepted"), size=len(data),
                limit=self.max_bytes,
            )  # fmt: skip
        if b"\x00" in data:
            raise self.refused(self.refused_message, name=file_name[:100])
        nmpa.decode(data)
        base = os.path.basename(file_name.replace("\\", "/")).strip()
        base = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*').strip(". ")
        stem, extension = os.path.splitext(base)
        csv_file = extension.lower() == ".csv"
        name = (stem[:200] or self.default_name) + (".csv" if csv_file else ".txt")
        return filestore.StoredFile(filestore.sm3_hex(data), len(data), "text/csv" if csv_file else "text/plain",
                                    name)  # fmt: skip


# Issuers' files of code pools, kept by SM3 in <state dir>/trace-pools (the original, as received).
POOL_FILES = TextFileStore(
    "trace-pools",
    accepted=(),
    max_bytes=32 * 1024 * 1024,
    refused_message=N_("Only text and CSV files of codes are accepted; “{name}” is none of them"),
    default_name="pool",
)


# --- look-ups ----------------------------------------------------------------------------------------------


def get_identifier(session: Session, code: str) -> ProductIdentifier:
    found = session.scalar(select(ProductIdentifier).where(ProductIdentifier.code == code.strip()))
    if found is None:
        raise NotFound(N_("No product identifier {code}"), code=code)
    return found


def _active_identifier(session: Session, code: str) -> ProductIdentifier:
    identifier = get_identifier(session, code)
    if identifier.voided_at is not None:
        raise Conflict(N_("The product identifier {code} is voided"), code=identifier.code)
    return identifier


def get_pool(session: Session, number: str) -> CodePool:
    found = session.scalar(select(CodePool).where(CodePool.number == number.strip().upper()))
    if found is None:
        raise NotFound(N_("No code pool {number}"), number=number)
    return found


MAX_SCAN = 200  # longer than any code, Digital Link or element string a person can scan or type


def gs1_keys(scan: str) -> tuple[str | None, str | None, str | None]:
    """(GTIN, serial, SSCC) of a GS1 element string (FNC1 as GS, bracketed, with a symbology identifier) or of a
    Digital Link URI or path (a proxy may have folded its "//", a resolver put its own segments first); Nones
    when it is neither."""
    text = scan.strip()
    if re.match(r"(?i)https?:/|/|\d{2,4}/", text):
        path = urlsplit(text).path if text[:1] != "/" and not text[:1].isdigit() else text.split("?", 1)[0]
        parts = [unquote(p) for p in path.split("/") if p]
        pairs = dict(zip(parts[0::2], parts[1::2], strict=False))
        for index, part in enumerate(parts):
            if part in ("01", "00") and index + 1 < len(parts):
                pairs = dict(zip(parts[index::2], parts[index + 1 :: 2], strict=False))
                break
        return pairs.get("01"), pairs.get("21"), pairs.get("00")
    try:
        parsed = gs1.parse(text)
    except gs1.InvalidElementString:
        return None, None, None
    return parsed.gtin, parsed.serial, parsed.get("00")


def candidates(scan: str) -> list[str]:
    """The stored values a scan may stand for: as typed; a national code without the spaces people type in it;
    for GS1 its ``01<GTIN>21<serial>`` and bracketed forms, or the SSCC with and without its AI."""
    text = scan.strip(" \r\n\t")
    if not text or len(text) > MAX_SCAN:
        return []
    compact = re.sub(r"\s+", "", text)
    if nmpa.is_code(compact):
        return list(dict.fromkeys((text, compact)))
    found = [text]
    gtin, serial, sscc = gs1_keys(text)
    if gtin and serial:
        found += [f"01{gtin}21{serial}", f"(01){gtin}(21){serial}"]
    if sscc:
        found += [f"00{sscc}", sscc, f"(00){sscc}"]
    return list(dict.fromkeys(found))


def _with_more_elements(session: Session, scan: str) -> TraceCode | None:
    """A GS1 code stored with its batch or expiry too: the identifier's codes holding the serial, checked AI by
    AI (at most 50 read)."""
    gtin, serial, _ = gs1_keys(scan)
    if gtin is None or serial is None:
        return None
    rows = session.scalars(
        select(TraceCode)
        .join(ProductIdentifier, ProductIdentifier.id == TraceCode.identifier_id)
        .where(
            ProductIdentifier.code == gtin,
            ProductIdentifier.scheme == "gs1",
            TraceCode.value.contains(serial),
        )
        .limit(50)
    )
    for code in rows:
        try:
            parsed = gs1.parse(code.value)
        except gs1.InvalidElementString:
            continue
        if parsed.gtin == gtin and parsed.serial == serial:
            return code
    return None


def lookup(session: Session, scan: str) -> TraceCode | None:
    """The code a scan or a typed value names, in any accepted form, or None: the one resolver of scans."""
    wanted = candidates(scan)
    if not wanted:
        return None
    found = session.scalars(select(TraceCode).where(TraceCode.value.in_(wanted)).limit(1)).first()
    return found if found is not None else _with_more_elements(session, scan)


def find_code(session: Session, scan: str) -> TraceCode:
    """The code a scan or a typed value names (:func:`lookup`), or :class:`NotFound`."""
    code = lookup(session, scan)
    if code is None:
        raise NotFound(N_("No traceability code {code}"), code=scan.strip()[:80])
    return code


def resolve(session: Session, scans: Sequence[str]) -> list[TraceCode]:
    """The codes of ``scans``, in their order, read in chunks; the first one not found is refused by name."""
    wanted = {scan: candidates(scan) for scan in scans}
    values = sorted({v for found in wanted.values() for v in found})
    by_value: dict[str, TraceCode] = {}
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        by_value.update(
            (c.value, c) for c in session.scalars(select(TraceCode).where(TraceCode.value.in_(chunk)))
        )
    codes: list[TraceCode] = []
    for scan in scans:
        code = next((by_value[v] for v in wanted[scan] if v in by_value), None)
        codes.append(code if code is not None else find_code(session, scan))
    return codes


def _batch_is_open(order: BatchOrder) -> None:
    if order.status in CLOSED_BATCH:
        raise Conflict(
            N_("Batch {batch} is {status}: its codes can no longer be allocated or commissioned"),
            batch=order.batch_no, status=Msgid(execution.ORDER_STATUS_LABELS[order.status]),
        )  # fmt: skip


def _next_pool_number(session: Session) -> str:
    day = clock.to_beijing(clock.now()).strftime("%y%m%d")
    while True:
        number = f"CP-{day}-{next_serial(session, f'TRACE:CP-{day}-#'):03d}"
        if session.scalar(select(CodePool.id).where(CodePool.number == number)) is None:
            return number


def _taken(session: Session, values: Sequence[str]) -> list[str]:
    """The values of ``values`` stored already."""
    found: list[str] = []
    for start in range(0, len(values), CHUNK):
        found += session.scalars(
            select(TraceCode.value).where(TraceCode.value.in_(values[start : start + CHUNK]))
        )
    return found


# --- product identifiers -------------------------------------------------------------------------------------


def register_identifier(uow: UnitOfWork, principal: Principal, body: IdentifierCreate) -> ProductIdentifier:
    """A product identifier of one packaging level of a finished good (SH-6.2.5.1: every level is coded)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    code = nmpa.validate_identifier(body.code) if body.scheme == "nmpa" else gs1.validate_gtin(body.code)
    material = session.scalar(select(Material).where(Material.code == body.material))
    if material is None:
        raise NotFound(N_("No material {code}"), code=body.material)
    if material.kind != "finished_good":
        raise ValidationFailed(
            N_("{material} is not a finished good: product identifiers are registered for finished products only"),
            material=material.code,
        )  # fmt: skip
    if session.scalar(select(ProductIdentifier.id).where(ProductIdentifier.code == code)) is not None:
        raise Conflict(N_("The product identifier {code} exists already"), code=code)
    same_level = session.scalar(
        select(ProductIdentifier.code).where(
            ProductIdentifier.material_id == material.id, ProductIdentifier.level == body.level,
            ProductIdentifier.scheme == body.scheme, ProductIdentifier.voided_at.is_(None),
        )
    )  # fmt: skip
    if same_level is not None:
        raise Conflict(
            N_("{material} has the identifier {code} for this level already: void it first"),
            material=material.code, code=same_level,
        )  # fmt: skip
    identifier = ProductIdentifier(
        scheme=body.scheme, code=code, material_id=material.id, level=body.level, pack_quantity=body.pack_quantity,
        description=body.description, created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(identifier)
    session.flush()
    return identifier


def void_identifier(uow: UnitOfWork, principal: Principal, code: str) -> ProductIdentifier:
    """An identifier out of use (no new pools, no allocation); its codes stay. The reason is the unit of work's."""
    principal.require(MANAGE_PERMISSION)
    if uow.reason is None:
        raise ReasonRequired(N_("A reason is required for this change"))
    identifier = get_identifier(uow.session, code)
    if identifier.voided_at is None:
        uow.void(identifier)
    return identifier


# --- pools ---------------------------------------------------------------------------------------------------


def import_pool(
    uow: UnitOfWork, principal: Principal, identifier_code: str, data: bytes, file_name: str, *, reference: str = ""
) -> CodePool:  # fmt: skip
    """Import an issuer's file of 20-digit codes for a national-scheme identifier: all codes or none."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    identifier = _active_identifier(session, identifier_code)
    if identifier.scheme != "nmpa":
        raise ValidationFailed(
            N_("{code} is a GTIN: its serials are generated here, not imported"), code=identifier.code
        )
    stored = POOL_FILES.check(data, file_name)
    values = nmpa.read_pool_file(data, identifier.code)
    taken = _taken(session, values)
    if taken:
        raise Conflict(
            N_("Line {line}: code {code} exists already: codes are never reused"),
            line=nmpa.line_of(data, taken[0]) or 0, code=taken[0],
        )  # fmt: skip
    POOL_FILES.put(uow.db, data, file_name)
    pool = CodePool(
        number=_next_pool_number(session), identifier_id=identifier.id, origin="issuer_file",
        reference=(reference.strip() or stored.file_name)[:200], file_sm3=stored.sm3, count=len(values),
        created_at=clock.now(), created_by=uow.actor.login,
    )  # fmt: skip
    session.add(pool)
    session.flush()
    lifecycle.create(
        uow, "import", values, level=identifier.level, pool_id=pool.id, identifier_id=identifier.id
    )
    return pool


def import_codes(uow: UnitOfWork, principal: Principal, body: PoolImport) -> CodePool:
    """A pool given as a JSON list: kept as the text file it amounts to (one code per line), then imported."""
    data = ("\n".join(c.strip() for c in body.codes) + "\n").encode()
    return import_pool(uow, principal, body.identifier, data, "codes.txt", reference=body.reference or "API")


def generate_pool(uow: UnitOfWork, principal: Principal, body: PoolGenerate) -> CodePool:
    """Random GS1 serials (``secrets``) for a GTIN identifier, none of them stored before."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    identifier = _active_identifier(session, body.identifier)
    if identifier.scheme != "gs1":
        raise ValidationFailed(
            N_("{code} is a national-scheme identifier: its codes come from the issuer's file"), code=identifier.code
        )  # fmt: skip
    serials = gs1.random_serials(body.count, length=body.serial_length, alphabet=body.alphabet)
    values = [gs1.serialized_value(identifier.code, s) for s in serials]
    for _ in range(5):  # a clash with a stored serial is astronomically rare: draw those again
        taken = set(_taken(session, values))
        if not taken:
            break
        fresh = iter(
            gs1.serialized_value(identifier.code, s)
            for s in gs1.random_serials(len(taken), length=body.serial_length, alphabet=body.alphabet)
        )
        values = list(dict.fromkeys(next(fresh) if v in taken else v for v in values))
    pool = CodePool(
        number=_next_pool_number(session), identifier_id=identifier.id, origin="generated",
        reference=body.reference, file_sm3=None, count=len(values), created_at=clock.now(),
        created_by=uow.actor.login,
    )  # fmt: skip
    session.add(pool)
    session.flush()
    lifecycle.create(
        uow, "generate", values, level=identifier.level, pool_id=pool.id, identifier_id=identifier.id
    )
    return pool


def pool_file(db: Database, session: Session, number: str) -> tuple[CodePool, bytes]:
    """The issuer's original file of a pool, checked against its SM3 before it is handed out."""
    pool = get_pool(session, number)
    if pool.file_sm3 is None:
        raise NotFound(N_("The pool {number} has no file"), number=pool.number)
    return pool, POOL_FILES.read(db, pool.file_sm3)


# --- allocation ----------------------------------------------------------------------------------------------


def allocate(uow: UnitOfWork, principal: Principal, body: AllocationCreate) -> TraceEvent:
    """The oldest ``count`` available codes of an identifier, to a batch of its product and a packaging line."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    order = execution.get_order(session, body.batch)
    _batch_is_open(order)
    identifier = _active_identifier(session, body.identifier)
    material = session.get(Material, identifier.material_id)
    if material is None or material.code != order.product_code:
        raise Conflict(
            N_("Batch {batch} is of {product}; the identifier {identifier} is of {material}"),
            batch=order.batch_no, product=order.product_code, identifier=identifier.code,
            material=material.code if material else "",
        )  # fmt: skip
    codes = list(
        session.scalars(
            select(TraceCode)
            .where(TraceCode.identifier_id == identifier.id, TraceCode.state == "available")
            .order_by(TraceCode.id)
            .limit(body.count)
            .with_for_update(skip_locked=True)  # two allocations at once take different codes (PostgreSQL)
        )
    )
    if len(codes) < body.count:
        raise Conflict(
            N_("Only {available} codes of {identifier} are available; {count} were asked for"),
            available=len(codes), identifier=identifier.code, count=body.count,
        )  # fmt: skip
    return lifecycle.record(uow, "allocate", codes, batch_order_id=order.id, line=body.line)


def deallocate(uow: UnitOfWork, principal: Principal, body: Deallocation) -> TraceEvent:
    """Allocated codes of a batch back to available (the newest first): ``count`` of them or all, with a reason."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    order = execution.get_order(session, body.batch)
    identifier = get_identifier(session, body.identifier)
    query = (
        select(TraceCode)
        .where(TraceCode.identifier_id == identifier.id, TraceCode.batch_order_id == order.id,
               TraceCode.state == "allocated")
        .order_by(TraceCode.id.desc())
    )  # fmt: skip
    codes = list(session.scalars(query if body.count is None else query.limit(body.count)))
    if not codes or (body.count is not None and len(codes) < body.count):
        raise Conflict(
            N_("Batch {batch} has {allocated} allocated codes of {identifier}"),
            batch=order.batch_no, allocated=len(codes), identifier=identifier.code,
        )  # fmt: skip
    return lifecycle.record(uow, "deallocate", codes, batch_order_id=None, line="", reason=body.reason)


# --- manual lifecycle operations -----------------------------------------------------------------------------


def commission(uow: UnitOfWork, principal: Principal, body: CodesCommission) -> TraceEvent:
    """Codes allocated to ``batch`` printed and read good (a manual entry of the line's results)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    order = execution.get_order(session, body.batch)
    _batch_is_open(order)
    codes = resolve(session, body.codes)
    for code in codes:
        if code.batch_order_id != order.id:
            raise Conflict(
                N_("Code {code} is not allocated to batch {batch}"), code=code.value, batch=order.batch_no
            )
    return lifecycle.record(uow, "commission", codes)


def _by_batch(codes: Sequence[TraceCode]) -> list[list[TraceCode]]:
    """Codes grouped by their batch, so that each event names the batch its codes belong to."""
    groups: dict[int | None, list[TraceCode]] = defaultdict(list)
    for code in codes:
        groups[code.batch_order_id].append(code)
    return list(groups.values())


def decommission(uow: UnitOfWork, principal: Principal, body: CodesDecommission) -> list[TraceEvent]:
    """Codes out of the supply chain for good (sample, damaged, destroyed, rejected) or until found (stolen)."""
    principal.require(MANAGE_PERMISSION)
    codes = resolve(uow.session, body.codes)
    for code in codes:
        if code.batch_order_id is None and code.level < 4:
            # a code of the pool was never printed: it goes back or stays, it has nothing to take out of trade
            raise Conflict(
                N_("Code {code} is not allocated to a batch: only codes of a batch are decommissioned"),
                code=code.value,
            )
    return [
        lifecycle.record(uow, "decommission", group, disposition=body.disposition, reason=body.reason)
        for group in _by_batch(codes)
    ]


def reactivate(uow: UnitOfWork, principal: Principal, body: CodesReactivate) -> list[TraceEvent]:
    """Decommissioned codes back to commissioned: only a stolen item recovered (the lifecycle refuses the rest)."""
    principal.require(MANAGE_PERMISSION)
    codes = resolve(uow.session, body.codes)
    return [lifecycle.record(uow, "reactivate", group, reason=body.reason) for group in _by_batch(codes)]


# --- reading -------------------------------------------------------------------------------------------------


def _states(rows: Sequence[tuple[str, int]]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for state, count in rows:
        counts[state] += count
    return counts


def pool_states(session: Session, pool_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    """Codes by state per pool."""
    found: dict[int, list[tuple[str, int]]] = defaultdict(list)
    if pool_ids:
        rows = session.execute(
            select(TraceCode.pool_id, TraceCode.state, func.count())
            .where(TraceCode.pool_id.in_(pool_ids))
            .group_by(TraceCode.pool_id, TraceCode.state)
        )
        for pool_id, state, count in rows:
            found[pool_id].append((state, int(count)))
    return {pool_id: _states(found.get(pool_id, [])) for pool_id in pool_ids}


def list_identifiers(session: Session) -> list[IdentifierPublic]:
    identifiers = list(session.scalars(select(ProductIdentifier).order_by(ProductIdentifier.material_id,
                                                                          ProductIdentifier.level,
                                                                          ProductIdentifier.code)))  # fmt: skip
    available: dict[int, int] = {}
    for identifier_id, count in session.execute(
        select(TraceCode.identifier_id, func.count())
        .where(TraceCode.state == "available", TraceCode.identifier_id.is_not(None))
        .group_by(TraceCode.identifier_id)
    ):
        if identifier_id is not None:
            available[identifier_id] = int(count)
    materials = {m.id: m for m in session.scalars(select(Material).where(
        Material.id.in_({i.material_id for i in identifiers})))}  # fmt: skip
    return [
        IdentifierPublic(
            scheme=i.scheme,
            code=i.code,
            material=materials[i.material_id].code,
            material_name=materials[i.material_id].name,
            level=i.level,
            pack_quantity=i.pack_quantity,
            description=i.description,
            created_at=i.created_at,
            created_by=i.created_by,
            voided_at=i.voided_at,
            void_reason=i.void_reason,
            available=available.get(i.id, 0),
        )
        for i in identifiers
    ]


def pool_public(session: Session, pool: CodePool, states: dict[str, int] | None = None) -> PoolPublic:
    identifier = (
        session.get(ProductIdentifier, pool.identifier_id) if pool.identifier_id is not None else None
    )
    return PoolPublic(
        number=pool.number, identifier=identifier.code if identifier else None,
        scheme=identifier.scheme if identifier else None, level=identifier.level if identifier else 4,
        origin=pool.origin, reference=pool.reference, file_sm3=pool.file_sm3, count=pool.count,
        created_at=pool.created_at, created_by=pool.created_by,
        states=states if states is not None else pool_states(session, [pool.id])[pool.id],
    )  # fmt: skip


def list_pools(session: Session, *, identifier: str | None = None, limit: int = 200) -> list[PoolPublic]:
    """Pools, newest first, with their codes by state."""
    query = select(CodePool).order_by(CodePool.id.desc()).limit(limit)
    if identifier:
        query = query.where(CodePool.identifier_id == get_identifier(session, identifier).id)
    pools = list(session.scalars(query))
    states = pool_states(session, [p.id for p in pools])
    return [pool_public(session, p, states[p.id]) for p in pools]


def batch_codes(session: Session, *, batch: str | None = None) -> list[BatchCodesPublic]:
    """Per batch and identifier, the codes allocated to it by state (newest batch first)."""
    query = (
        select(TraceCode.batch_order_id, TraceCode.identifier_id, TraceCode.state, func.count())
        .where(TraceCode.batch_order_id.is_not(None), TraceCode.identifier_id.is_not(None))
        .group_by(TraceCode.batch_order_id, TraceCode.identifier_id, TraceCode.state)
    )
    if batch:
        query = query.where(TraceCode.batch_order_id == execution.get_order(session, batch).id)
    found: dict[tuple[int, int], list[tuple[str, int]]] = defaultdict(list)
    for order_id, identifier_id, state, count in session.execute(query):
        if order_id is not None and identifier_id is not None:
            found[(order_id, identifier_id)].append((state, int(count)))
    orders = {
        o.id: o for o in session.scalars(select(BatchOrder).where(BatchOrder.id.in_({k[0] for k in found})))
    }
    identifiers = {i.id: i for i in session.scalars(
        select(ProductIdentifier).where(ProductIdentifier.id.in_({k[1] for k in found})))}  # fmt: skip
    rows = [
        BatchCodesPublic(
            batch=orders[o].batch_no,
            order_no=orders[o].order_no,
            product_code=orders[o].product_code,
            batch_status=orders[o].status,
            identifier=identifiers[i].code,
            level=identifiers[i].level,
            states=_states(counts),
        )
        for (o, i), counts in found.items()
    ]
    return sorted(rows, key=lambda r: (r.batch, r.level, r.identifier), reverse=False)


def event_public(session: Session, event: TraceEvent) -> EventPublic:
    order = session.get(BatchOrder, event.batch_order_id) if event.batch_order_id is not None else None
    return EventPublic(
        event_key=event.event_key, action=event.action, count=event.count, batch=order.batch_no if order else None,
        line=event.line, disposition=event.disposition, reason=event.reason, items_sm3=event.items_sm3,
        recorded_at=event.recorded_at, recorded_by=event.recorded_by,
    )  # fmt: skip


def _value_of(session: Session, code_id: int | None) -> str | None:
    return (
        session.scalar(select(TraceCode.value).where(TraceCode.id == code_id))
        if code_id is not None
        else None
    )


def code_public(session: Session, code: TraceCode) -> CodePublic:
    """A code with its identifier, product, batch, line, parent and shipment, its history and whether its row still
    agrees with the ledger-vouched events (:func:`pharmatrace.trace.lifecycle.verify_code`)."""
    identifier = (
        session.get(ProductIdentifier, code.identifier_id) if code.identifier_id is not None else None
    )
    material = session.get(Material, identifier.material_id) if identifier is not None else None
    pool = session.get(CodePool, code.pool_id)
    order = session.get(BatchOrder, code.batch_order_id) if code.batch_order_id is not None else None
    shipment = session.get(OutboundShipment, code.shipment_id) if code.shipment_id is not None else None
    split = gs1.split_serialized(code.value)
    children = session.scalar(
        select(func.count()).select_from(TraceCode).where(TraceCode.parent_id == code.id)
    )
    history: list[HistoryPublic] = []
    batches: dict[int, str] = {}
    pools: dict[int, str] = {}
    verified_events: dict[int, bool] = {}
    for item, event in lifecycle.history(session, code.id):
        if event.batch_order_id is not None and event.batch_order_id not in batches:
            found = session.get(BatchOrder, event.batch_order_id)
            batches[event.batch_order_id] = found.batch_no if found else ""
        if event.pool_id is not None and event.pool_id not in pools:
            found_pool = session.get(CodePool, event.pool_id)
            pools[event.pool_id] = found_pool.number if found_pool else ""
        if event.id not in verified_events:
            verified_events[event.id] = lifecycle.verify_event(session, event.id)
        history.append(
            HistoryPublic(
                at=event.recorded_at,
                action=event.action,
                from_state=item.from_state,
                to_state=item.to_state,
                parent=_value_of(session, item.parent_id),
                batch=batches.get(event.batch_order_id) if event.batch_order_id is not None else None,
                line=event.line,
                disposition=event.disposition,
                reason=event.reason,
                by=event.recorded_by,
                by_name=event.recorded_by_name,
                pool=pools.get(event.pool_id) if event.pool_id is not None else None,
                event_verified=verified_events[event.id],
            )
        )
    return CodePublic(
        value=code.value, level=code.level, identifier=identifier.code if identifier else None,
        scheme=identifier.scheme if identifier else None, product_code=material.code if material else None,
        product_name=material.name if material else None, gtin=split[0] if split else None,
        serial=split[1] if split else None, pool=pool.number if pool else "", state=code.state,
        disposition=code.disposition, batch=order.batch_no if order else None, line=code.line,
        parent=_value_of(session, code.parent_id), children=int(children or 0),
        shipment=shipment.number if shipment else None, verified=lifecycle.verify_code(session, code),
        history=history,
    )  # fmt: skip


@dataclass
class Overview:
    """The trace area's landing page: identifiers, pools with counts by state, allocations per batch."""

    identifiers: list[IdentifierPublic] = field(default_factory=list)
    pools: list[PoolPublic] = field(default_factory=list)
    batches: list[BatchCodesPublic] = field(default_factory=list)
    open_batches: list[BatchOrder] = field(default_factory=list)  # where codes may be allocated


def overview(session: Session) -> Overview:
    open_batches = list(
        session.scalars(
            select(BatchOrder)
            .where(BatchOrder.status.not_in(CLOSED_BATCH))
            .order_by(BatchOrder.batch_no.desc())
        )
    )
    return Overview(list_identifiers(session), list_pools(session), batch_codes(session), open_batches)
