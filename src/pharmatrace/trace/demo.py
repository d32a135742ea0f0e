"""The demo plant's serialization (一物一码, NMPAB/T 1002, SH-6.2.5, TJ-9.1): codes issued, printed, read,
aggregated and shipped through the trace area's services, at the times the batch history gives them.

* **Before the batch** (the seed's history, day −13): the warehouse keeper 周强 registers the product identifiers
  of 注射用丹红冻干粉 — the box (盒, 10 支, the minimum saleable unit) and the outer case (箱, 20 盒) — and imports
  the issuer's code files (码上放心-style: 20 digits, the 7-digit identifier, a 9-digit serial, 4 check digits of
  the issuer's; the demo issuer's check is made up here, as a real one is secret).
* **At packaging** (day −9): 刘洋 allocates 1,000 box codes and 50 case codes to the batch on line PK-01; the
  line prints and reads the boxes (:mod:`pharmatrace.trace.line`: 986 read good, 4 cartons rejected by the
  camera), the 10 cartons left over give their codes back; the case labels are commissioned, 49 full cases of 20
  boxes and one of 6 are packed, and two pallets (SSCC) of 25 cases are built.
* **After release** (now): 周强 creates two customers, ships the first pallet to the distributor and picks the
  second for the hospital (not shipped yet).

Idempotent: each part is skipped when its records exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy import func, select

from pharmatrace.kernel import clock, crypto
from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.storage.engine import Database
from pharmatrace.trace import aggregation, codes, line, shipments
from pharmatrace.trace.code_schemas import AllocationCreate, CodesCommission, Deallocation, IdentifierCreate
from pharmatrace.trace.models import OutboundShipment, ProductIdentifier, TraceCode
from pharmatrace.trace.shipment_schemas import CustomerCreate, ShipmentCreate

PRODUCT = "FG-DH-0200"
BOX, CASE = "8612601", "8612602"  # the demo product's identifiers (药品标识码) of the box and the case
BOXES_PER_CASE, CASES_PER_PALLET = 20, 25
LINE = "PK-01"
KEEPER, PACKER = "zhouqiang", "liuyang"
CUSTOMERS = (
    ("C-SHYY", "国药控股上海医药有限公司", "distributor", "上海市普陀区中山北路 2000 号", "沪AA0210001"),
    ("H-RJYY", "上海交通大学医学院附属瑞金医院", "hospital", "上海市黄浦区瑞金二路 197 号", "—"),
)


def _who(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def _act(db: Database, login: str, reason: str, work: Callable[[UnitOfWork, Principal], object]) -> None:
    who = _who(db, login)
    with UnitOfWork(db, who.actor, reason=reason) as uow:
        work(uow, who)
        uow.commit()


def issuer_codes(identifier: str, count: int, salt: str) -> list[str]:
    """``count`` 20-digit codes of ``identifier`` as an issuer hands them out: non-sequential serials and four
    check digits (the demo issuer's own, derived from SM3; a real issuer's algorithm is not public)."""
    found: list[str] = []
    seen: set[str] = set()
    n = 0
    while len(found) < count:
        digest = crypto.sm3(f"{salt}:{identifier}:{n}".encode()).hex()
        n += 1
        serial = f"{int(digest[:15], 16) % 10**9:09d}"
        if serial in seen:
            continue
        seen.add(serial)
        check = f"{int(digest[15:30], 16) % 10**4:04d}"
        found.append(identifier + serial + check)
    return found


def _pool_file(values: Sequence[str]) -> bytes:
    return ("追溯码\n" + "\n".join(values) + "\n").encode()


def register_codes(db: Database) -> int:
    """The product identifiers and the issuer's code files (before the batch). Returns the codes imported."""
    with db.sessions() as session:
        if session.scalar(select(ProductIdentifier.id).where(ProductIdentifier.code == BOX)) is not None:
            return 0
    imported = 0
    for code, level, quantity, text, count in (
        (BOX, 1, 1, "注射用丹红冻干粉 200 mg × 10 支/盒（最小销售包装）", 1200),
        (CASE, 3, BOXES_PER_CASE, "外箱 20 盒/箱", 60),
    ):
        body = IdentifierCreate(scheme="nmpa", code=code, material=PRODUCT, level=level, pack_quantity=quantity,
                                description=text)  # fmt: skip
        data = _pool_file(issuer_codes(code, count, "demo-issuer-2611"))
        name = f"码上放心-{code}-{count}.txt"

        def work(uow: UnitOfWork, who: Principal, body: IdentifierCreate = body, data: bytes = data,
                 name: str = name, code: str = code) -> None:  # fmt: skip
            codes.register_identifier(uow, who, body)
            codes.import_pool(uow, who, code, data, name, reference="码上放心平台 码段申请 2026-11")

        _act(db, KEEPER, "demo plant seed: product identifiers and the issuer's codes", work)
        imported += count
    return imported


def _batch(db: Database, batch_no: str) -> BatchOrder:
    with db.sessions() as session:
        order = session.scalar(select(BatchOrder).where(BatchOrder.batch_no == batch_no))
        assert order is not None, batch_no
        return order


def print_and_read(db: Database, batch_no: str, *, good: int = 986, rejected: int = 4) -> int:
    """Allocate the batch's codes on the line, print and read the boxes, give back what was not printed, and
    commission the case labels (packaging day). Returns the codes commissioned."""
    order = _batch(db, batch_no)
    with db.sessions() as session:
        if (
            session.scalar(select(TraceCode.id).where(TraceCode.batch_order_id == order.id).limit(1))
            is not None
        ):
            return 0
    boxes = good + rejected + 10
    cases = -(-good // BOXES_PER_CASE)

    def allocate(uow: UnitOfWork, who: Principal) -> None:
        codes.allocate(uow, who, AllocationCreate(batch=batch_no, line=LINE, identifier=BOX, count=boxes))
        codes.allocate(uow, who, AllocationCreate(batch=batch_no, line=LINE, identifier=CASE, count=cases))

    _act(db, PACKER, "demo plant seed: codes for the batch on the packaging line", allocate)
    job = line.print_job(db, batch_no, LINE, f"{LINE}-{batch_no}-1")
    start = clock.now()
    results = [
        line.ReadResult(
            LINE,
            job.job_id,
            batch_no,
            seq,
            value,
            "rejected" if seq % 247 == 0 else "good",
            "F" if seq % 247 == 0 else "A",
            start + timedelta(seconds=seq * 0.15),
        )
        for seq, value in enumerate(job.codes[: good + rejected], start=1)
    ]
    for first in range(0, len(results), 200):
        line.store(db, results[first : first + 200])
    left = Deallocation(batch=batch_no, identifier=BOX, count=None, reason="剩余小盒 10 个退库，其追溯码退回")
    _act(
        db,
        PACKER,
        "demo plant seed: codes of the cartons left over",
        lambda uow, who: codes.deallocate(uow, who, left),
    )
    with db.sessions() as session:
        labels = list(session.scalars(
            select(TraceCode.value).where(TraceCode.batch_order_id == order.id, TraceCode.level == 3)
            .order_by(TraceCode.id)
        ))  # fmt: skip
    case_labels = CodesCommission(batch=batch_no, codes=labels)
    _act(
        db,
        PACKER,
        "demo plant seed: case labels printed",
        lambda uow, who: codes.commission(uow, who, case_labels),
    )
    return sum(1 for r in results if r.status == "good") + len(labels)


def pack(db: Database, batch_no: str) -> int:
    """Boxes into cases, cases onto pallets (packaging day, after the line). Returns the containers packed."""
    order = _batch(db, batch_no)
    with db.sessions() as session:
        boxes = list(session.scalars(
            select(TraceCode.value).where(TraceCode.batch_order_id == order.id, TraceCode.level == 1,
                                          TraceCode.state == "commissioned").order_by(TraceCode.id)
        ))  # fmt: skip
        cases = list(session.scalars(
            select(TraceCode.value).where(TraceCode.batch_order_id == order.id, TraceCode.level == 3,
                                          TraceCode.state == "commissioned").order_by(TraceCode.id)
        ))  # fmt: skip
    if not boxes or not cases:
        return 0
    who = _who(db, PACKER)
    packed = 0
    for n, case in enumerate(cases):
        content = boxes[n * BOXES_PER_CASE : (n + 1) * BOXES_PER_CASE]
        if not content:
            break
        with UnitOfWork(db, who.actor, reason="demo plant seed: case packed") as uow:
            aggregation.pack(uow, who, case, content)
            uow.commit()
        packed += 1
    for first in range(0, packed, CASES_PER_PALLET):
        with UnitOfWork(db, who.actor, reason="demo plant seed: pallet built") as uow:
            pallet = aggregation.new_pallet(uow, who, LINE)
            aggregation.pack(uow, who, pallet.value, cases[first : first + CASES_PER_PALLET])
            uow.commit()
        packed += 1
    return packed


def seed_shipments(db: Database) -> int:
    """The released batch's first pallet shipped to the distributor, the second picked for the hospital."""
    with db.sessions() as session:
        if session.scalar(select(func.count()).select_from(OutboundShipment)):
            return 0
        pallets = list(session.scalars(
            select(TraceCode.value).where(TraceCode.level == 4, TraceCode.state == "commissioned")
            .order_by(TraceCode.id)
        ))  # fmt: skip
    if len(pallets) < 2:
        return 0
    for code, name, kind, address, licence in CUSTOMERS:
        body = CustomerCreate.model_validate(
            {"code": code, "name": name, "kind": kind, "address": address, "licence_no": licence}
        )

        def customer(uow: UnitOfWork, who: Principal, body: CustomerCreate = body) -> None:
            shipments.create_customer(uow, who, body)

        _act(db, KEEPER, "demo plant seed: customer", customer)
    made = 0
    for (code, *_), pallet, send in zip(CUSTOMERS, pallets, (True, False), strict=False):

        def work(
            uow: UnitOfWork, who: Principal, code: str = code, pallet: str = pallet, send: bool = send
        ) -> None:
            shipment = shipments.create_shipment(uow, who, ShipmentCreate(customer=code))
            shipments.pick(uow, who, shipment.number, pallet)
            if send:
                shipments.ship(uow, who, shipment.number)

        _act(db, KEEPER, "demo plant seed: shipment", work)
        made += 1
    return made
