"""Aggregation (包装关联, SH-6.2.5 一物一码 with the levels linked; NMPAB/T 1002; issue 10 item 3).

Units go into a middle pack, middle packs into a case (units straight into a case when the product has no level-2
identifier), cases onto a pallet, whose label is an SSCC (level 4) made here by :func:`new_pallet`. Every link is
a ``pack`` event of :mod:`pharmatrace.trace.lifecycle` (the only writer of codes): the parent is a commissioned
code one level up, the children are commissioned codes of that level.

:func:`pack` refuses, naming the code and changing nothing: a code already in another pack, case or pallet ("a
unit in two cases"); a decommissioned or not (yet) commissioned code; a code of another batch than its case or
middle pack (a foreign batch in a case); a code of the wrong level; more children than the parent identifier's
``pack_quantity``; a code packed into itself; a shipped parent; a parent or child picked onto a shipment being
picked (unpick it first). **Pallets may mix batches**: a distribution pallet often carries cases of several batches
of one product, and each case still holds one batch, so the batch a unit belongs to is always known from its case;
a pallet's content is shown by batch.

:func:`unpack` (disaggregation, some or all children, with a reason) and :func:`reaggregate` (children moved from
one parent to another, with a reason, in the caller's one unit of work) complete it. :func:`children`,
:func:`chain` (unit → case → pallet) and :func:`descendants` answer the questions the station page, the shipments
and the genealogy ask.

Scans are resolved by :func:`find_code`: the value as printed, or a GS1 element string (SSCC AI 00, GTIN + serial
AI 01/21) in any of its written forms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pharmatrace.codes import gs1
from pharmatrace.config import get_settings
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, Conflict, Msgid, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.trace import codes, lifecycle
from pharmatrace.trace.models import (
    LEVEL_NAMES,
    CodePool,
    OutboundShipment,
    ProductIdentifier,
    TraceCode,
    TraceEvent,
)
from pharmatrace.trace.shipment_models import ShipmentPick
from pharmatrace.trace.shipment_schemas import CodePublic, PackContent

MANAGE_PERMISSION = "trace.codes.manage"  # the packaging line (production operators) and the warehouse keeper
VIEW_PERMISSION = "trace.view"
SSCC_EXTENSION = "0"  # GS1 GenSpecs §2.2.1: the extension digit, the plant's choice
CHUNK = lifecycle.CHUNK


class AggregationRefused(Conflict):
    code = "trace_aggregation_refused"


# --- finding codes -------------------------------------------------------------------------------------------


def find_code(session: Session, scan: str) -> TraceCode:
    """The code a scan names (the printed value, a GS1 element string, a Digital Link); :class:`NotFound`."""
    return codes.find_code(session, scan)


def find_codes(session: Session, scans: Sequence[str]) -> list[TraceCode]:
    """The codes of ``scans`` in their order; a code scanned twice is refused."""
    found: list[TraceCode] = []
    seen: set[int] = set()
    for code in codes.resolve(session, scans):
        if code.id in seen:
            raise ValidationFailed(N_("Code {code} appears twice"), code=code.value)
        seen.add(code.id)
        found.append(code)
    return found


# --- the structure ----------------------------------------------------------------------------------------------


def children(session: Session, parent: TraceCode) -> list[TraceCode]:
    """The codes packed in ``parent`` now."""
    query = select(TraceCode).where(TraceCode.parent_id == parent.id, TraceCode.state == "packed")
    return list(session.scalars(query.order_by(TraceCode.value)))


def chain(session: Session, code: TraceCode) -> list[TraceCode]:
    """``code`` and the containers around it, innermost first: unit → middle pack → case → pallet."""
    found = [code]
    while found[-1].parent_id is not None and len(found) < 5:
        parent = session.get(TraceCode, found[-1].parent_id)
        if parent is None:
            break
        found.append(parent)
    return found


def descendants(
    session: Session, roots: Iterable[int], *, states: Sequence[str] | None = None
) -> list[TraceCode]:
    """Every code inside ``roots`` (ids), level by level; ``states``: only through codes in these states."""
    found: list[TraceCode] = []
    frontier = list(roots)
    while frontier:
        step: list[TraceCode] = []
        for start in range(0, len(frontier), CHUNK):
            query = select(TraceCode).where(TraceCode.parent_id.in_(frontier[start : start + CHUNK]))
            if states is not None:
                query = query.where(TraceCode.state.in_(states))
            step.extend(session.scalars(query.order_by(TraceCode.id)))
        found.extend(step)
        frontier = [c.id for c in step]
    return found


def batch_numbers(session: Session, ids: Iterable[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = session.execute(select(BatchOrder.id, BatchOrder.batch_no).where(BatchOrder.id.in_(wanted)))
    return {i: str(no) for i, no in rows}


def open_picks(session: Session, code_ids: Iterable[int]) -> dict[int, str]:
    """Code id → the number of the shipment being picked that it is picked on."""
    wanted = list(code_ids)
    found: dict[int, str] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = session.execute(
            select(ShipmentPick.code_id, OutboundShipment.number)
            .join(OutboundShipment, OutboundShipment.id == ShipmentPick.shipment_id)
            .where(ShipmentPick.code_id.in_(wanted[start : start + CHUNK]), ShipmentPick.status == "picked")
        )
        found.update((i, str(n)) for i, n in rows)
    return found


def code_public(session: Session, code: TraceCode, batches: dict[int, str] | None = None) -> CodePublic:
    batches = batches if batches is not None else batch_numbers(session, [code.batch_order_id])
    parent = session.get(TraceCode, code.parent_id) if code.parent_id is not None else None
    shipment = session.get(OutboundShipment, code.shipment_id) if code.shipment_id is not None else None
    return CodePublic(
        value=code.value, level=code.level, state=code.state, disposition=code.disposition,
        batch_no=batches.get(code.batch_order_id) if code.batch_order_id is not None else None, line=code.line,
        parent=parent.value if parent is not None else None, shipment=shipment.number if shipment else None,
    )  # fmt: skip


def unit_counts(session: Session, codes: Sequence[TraceCode], inside: Sequence[TraceCode]) -> dict[str, int]:
    """Units (level 1) among ``codes`` and what is ``inside`` them, by batch number."""
    units = [c for c in (*codes, *inside) if c.level == 1]
    batches = batch_numbers(session, (c.batch_order_id for c in units))
    counts: dict[str, int] = {}
    for unit in units:
        key = batches.get(unit.batch_order_id or 0, "—")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _capacity(session: Session, parent: TraceCode) -> int | None:
    if parent.identifier_id is None:
        return None  # a pallet: as many cases as the pallet pattern takes
    identifier = session.get(ProductIdentifier, parent.identifier_id)
    return identifier.pack_quantity if identifier is not None else None


def content(session: Session, scan: str) -> PackContent:
    """A code with what it holds (direct children, capacity, units by batch) and what holds it."""
    code = find_code(session, scan)
    direct = children(session, code)
    inside = descendants(session, [code.id], states=("packed",))
    batches = batch_numbers(session, (c.batch_order_id for c in (code, *direct)))
    holders = chain(session, code)
    top = holders[-1]
    return PackContent(
        code=code_public(session, code, batches), chain=[c.value for c in holders[1:]],
        children=[code_public(session, c, batches) for c in direct], capacity=_capacity(session, code),
        child_level=expected_child_level(session, code) if code.level > 1 else None,
        units_by_batch=unit_counts(session, [code], inside),
        picked_on=open_picks(session, [top.id]).get(top.id),
    )  # fmt: skip


# --- the rules ---------------------------------------------------------------------------------------------------


def _material_of(session: Session, code: TraceCode) -> int | None:
    if code.identifier_id is None:
        return None
    identifier = session.get(ProductIdentifier, code.identifier_id)
    return identifier.material_id if identifier is not None else None


def expected_child_level(session: Session, parent: TraceCode) -> int:
    """Cases onto a pallet; middle packs into a case, or units when the product has no level-2 identifier."""
    if parent.level == 4:
        return 3
    if parent.level == 2:
        return 1
    material = _material_of(session, parent)
    middle = session.scalar(
        select(func.count())
        .select_from(ProductIdentifier)
        .where(
            ProductIdentifier.material_id == material,
            ProductIdentifier.level == 2,
            ProductIdentifier.voided_at.is_(None),
        )
    )
    return 2 if middle else 1


def _name(level: int) -> Msgid:
    return Msgid(LEVEL_NAMES[level])  # translated where the message is shown


def _check_parent(session: Session, parent: TraceCode) -> None:
    if parent.level == 1:
        raise AggregationRefused(N_("Code {code} is a unit: it cannot hold other codes"), code=parent.value)
    if parent.state == "shipped":
        raise AggregationRefused(N_("{code} is shipped: its content can no longer change"), code=parent.value)
    if parent.state not in ("commissioned", "packed"):
        raise AggregationRefused(
            N_("{code} is {state}: only a commissioned container takes or gives codes"),
            code=parent.value, state=parent.state,
        )  # fmt: skip
    top = chain(session, parent)[-1]
    picked = open_picks(session, [top.id])
    if picked:
        raise AggregationRefused(
            N_("{code} is picked onto shipment {shipment}: take it off the shipment first"),
            code=top.value, shipment=picked[top.id],
        )  # fmt: skip


def _check_pack(session: Session, parent: TraceCode, found: Sequence[TraceCode],
                leaving: TraceCode | None = None) -> None:  # fmt: skip
    """Refuse, naming the code, anything :func:`pack` may not do; ``leaving``: the children's present parent."""
    _check_parent(session, parent)
    level = expected_child_level(session, parent)
    batches = batch_numbers(session, (c.batch_order_id for c in (parent, *found)))
    picked = open_picks(session, [c.id for c in found])
    for child in found:
        moving = leaving is not None and child.state == "packed" and child.parent_id == leaving.id
        if child.id == parent.id:
            raise AggregationRefused(N_("Code {code} cannot be packed into itself"), code=child.value)
        if child.state == "packed" and not moving:
            holder = session.get(TraceCode, child.parent_id)
            raise AggregationRefused(
                N_("Code {code} is already in {parent}: a code is in one pack only (unpack it first)"),
                code=child.value, parent=holder.value if holder is not None else "?",
            )  # fmt: skip
        if child.state == "decommissioned":
            raise AggregationRefused(
                N_("Code {code} is decommissioned ({disposition}): it cannot be packed"),
                code=child.value, disposition=child.disposition,
            )  # fmt: skip
        if child.state != "commissioned" and not moving:
            raise AggregationRefused(
                N_("Code {code} is {state}, not commissioned: it cannot be packed"),
                code=child.value, state=child.state,
            )  # fmt: skip
        if child.level != level:
            raise AggregationRefused(
                N_("Code {code} ({level}) cannot go into {parent} ({parent_level}): it takes {expected} codes"),
                code=child.value, level=_name(child.level), parent=parent.value,
                parent_level=_name(parent.level), expected=_name(level),
            )  # fmt: skip
        if parent.level < 4 and (
            child.batch_order_id != parent.batch_order_id
            or _material_of(session, child) != _material_of(session, parent)
        ):
            raise AggregationRefused(
                N_("Code {code} is of batch {batch}, {parent} of batch {parent_batch}: a pack holds one batch"),
                code=child.value, batch=batches.get(child.batch_order_id or 0, "—"), parent=parent.value,
                parent_batch=batches.get(parent.batch_order_id or 0, "—"),
            )  # fmt: skip
        if child.id in picked:
            raise AggregationRefused(
                N_("{code} is picked onto shipment {shipment}: take it off the shipment first"),
                code=child.value, shipment=picked[child.id],
            )  # fmt: skip
    capacity = _capacity(session, parent)
    if capacity is not None:
        held = len(children(session, parent))
        if held + len(found) > capacity:
            raise AggregationRefused(
                N_("{code} holds at most {capacity}: it holds {held} and {more} more were scanned"),
                code=parent.value, capacity=capacity, held=held, more=len(found),
            )  # fmt: skip


# --- writing -----------------------------------------------------------------------------------------------------


def pack(uow: UnitOfWork, principal: Principal, parent_value: str, child_values: Sequence[str]) -> TraceEvent:
    """Pack the scanned children into the scanned parent: one ``pack`` event, or a refusal that changes nothing."""
    principal.require(MANAGE_PERMISSION)
    if not child_values:
        raise ValidationFailed(N_("Scan the codes to pack"))
    session = uow.session
    parent = find_code(session, parent_value)
    found = find_codes(session, child_values)
    _check_pack(session, parent, found)
    return lifecycle.record(uow, "pack", found, parent=parent)


def _packed_in(session: Session, parent: TraceCode, child_values: Sequence[str] | None) -> list[TraceCode]:
    if not child_values:
        found = children(session, parent)
        if not found:
            raise AggregationRefused(N_("{code} holds nothing"), code=parent.value)
        return found
    found = find_codes(session, child_values)
    for child in found:
        if child.state != "packed" or child.parent_id != parent.id:
            raise AggregationRefused(
                N_("Code {code} is not in {parent}"), code=child.value, parent=parent.value
            )
    return found


def unpack(uow: UnitOfWork, principal: Principal, parent_value: str, child_values: Sequence[str] | None,
           reason: str) -> TraceEvent:  # fmt: skip
    """Take some (``child_values``) or all (``None`` or empty) codes out of a parent, with a reason."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    parent = find_code(session, parent_value)
    _check_parent(session, parent)
    found = _packed_in(session, parent, child_values)
    return lifecycle.record(uow, "unpack", found, reason=reason)


def reaggregate(uow: UnitOfWork, principal: Principal, source_value: str, target_value: str,
                child_values: Sequence[str], reason: str) -> tuple[TraceEvent, TraceEvent]:  # fmt: skip
    """Move children from one parent to another, with a reason: an ``unpack`` and a ``pack`` in one unit of work,
    both checked before either is written."""
    principal.require(MANAGE_PERMISSION)
    if not child_values:
        raise ValidationFailed(N_("Scan the codes to move"))
    session = uow.session
    source = find_code(session, source_value)
    target = find_code(session, target_value)
    if source.id == target.id:
        raise AggregationRefused(N_("Codes are moved to another container, not to {code}"), code=source.value)
    _check_parent(session, source)
    found = _packed_in(session, source, child_values)
    _check_pack(session, target, found, leaving=source)
    out = lifecycle.record(uow, "unpack", found, reason=reason)
    into = lifecycle.record(uow, "pack", found, parent=target, reason=reason)
    return out, into


def next_sscc(session: Session) -> str:
    """Extension digit + the plant's GS1 company prefix + the next serial reference + mod-10 check (18 digits)."""
    from pharmatrace.wms.codes import next_serial

    prefix = get_settings().gs1_company_prefix
    digits = 16 - len(prefix)
    while True:
        serial = next_serial(session, f"TRACE:SSCC-{prefix}")
        if serial >= 10**digits:
            raise Conflict(N_("The SSCC serial references of {prefix} are used up"), prefix=prefix)
        body = f"{SSCC_EXTENSION}{prefix}{serial:0{digits}d}"
        sscc = body + gs1.check_digit(body)
        if session.scalar(select(TraceCode.id).where(TraceCode.value == sscc)) is None:  # never reused
            return sscc


def new_pallet(uow: UnitOfWork, principal: Principal, line: str) -> TraceCode:
    """A new pallet: its SSCC generated and commissioned where the pallet is built (``line``)."""
    principal.require(MANAGE_PERMISSION)
    session = uow.session
    sscc = next_sscc(session)
    pool = CodePool(number=f"SSCC-{sscc}", identifier_id=None, origin="generated", reference=f"pallet {line}"[:200],
                    count=1, created_at=clock.now(), created_by=uow.actor.login)  # fmt: skip
    session.add(pool)
    session.flush()
    lifecycle.create(uow, "generate", [sscc], level=4, pool_id=pool.id, identifier_id=None)
    code = session.scalar(select(TraceCode).where(TraceCode.value == sscc))
    assert code is not None
    lifecycle.record(uow, "commission", [code], line=line.strip()[:32])
    return code
