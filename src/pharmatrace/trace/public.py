"""Public verification of a pack's code: is this pack genuine? (SH-6.2.5.1, TJ-9.1; issue 10 item 8).

Anyone — a patient, a pharmacist — scans the code on a pack and learns the product, its strength, the batch, the
expiry date, the manufacturer and one verdict:

* ``genuine``: a unit, pack or case that was commissioned (and perhaps packed or shipped) from a batch whose
  finished-product lot QA released (TJ-9.1: released product hands over to traceability);
* ``recalled``: the batch had been released and its lot was then put **on hold** by QA. The warehouse has no
  "recalled" lot status (``wms.models.LOT_STATUSES``); a hold of a released lot — QA suspending its use — is the
  nearest the record holds, so that is what "recalled" means here until the QMS recall sets a status of its own;
* ``decommissioned``: the code was taken out of use (sample, damaged, destroyed, stolen, rejected on the line);
* ``not_for_sale``: the code is real but the pack is not on the market: its batch was not released (quarantine,
  under test, rejected — a rejected lot is never genuine), or the pack came back to the plant (returned);
* ``unknown``: no such code, a code not yet used on a pack (still in its pool or allocated), or a pallet.

Nothing internal is revealed: no ids, no users, no packaging line, no customer or shipment, no pool, and the same
``unknown`` for a code that does not exist and for one that exists but is unused.

What the person may type or scan (:func:`candidates`): the 20-digit code (spaces allowed), a GS1 element string
(with or without the symbology identifier, FNC1 as GS, or in parentheses), or a GS1 Digital Link URI or path
(``https://id.gs1.org/01/…/21/…``, ``/01/…/21/…``).

Requests are limited per client address by a :class:`TokenBucket` (``PHARMATRACE_VERIFY_BURST`` requests at once,
refilled at ``PHARMATRACE_VERIFY_PER_MINUTE``); the manufacturer's name shown is the ``trace.public`` site
setting (``{"manufacturer": "…"}``).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.models import Setting
from pharmatrace.mes.execution_models import BatchOrder
from pharmatrace.trace import codes
from pharmatrace.wms import production
from pharmatrace.wms.models import Material

VERDICTS = ("genuine", "recalled", "decommissioned", "not_for_sale", "unknown")
VERDICT_LABELS = {
    "genuine": N_("Genuine"),
    "recalled": N_("Recalled"),
    "decommissioned": N_("Decommissioned"),
    "not_for_sale": N_("Not released for sale"),
    "unknown": N_("Unknown code"),
}
VERDICT_ADVICE = {
    "genuine": N_("This pack was made and released by the manufacturer."),
    "recalled": N_("This batch has been recalled. Do not use it; return it to where you obtained it."),
    "decommissioned": N_("This code was taken out of use. Do not use this pack; contact the manufacturer."),
    "not_for_sale": N_("This pack is not released for sale. Do not use it; contact the manufacturer."),
    "unknown": N_("This code is not known. Check that you typed it correctly; if it is right, do not use the pack "
                  "and contact the manufacturer."),
}  # fmt: skip
SETTINGS_KEY = "trace.public"
MAX_SCAN = codes.MAX_SCAN
_GENUINE_STATES = ("commissioned", "packed", "shipped")


@dataclass(frozen=True, slots=True)
class Verification:
    """What the public may know of a code: nothing internal."""

    code: str  # as the person gave it, trimmed
    verdict: str
    product: str | None = None
    strength: str | None = None
    batch: str | None = None
    expiry: date | None = None
    expired: bool = False
    manufacturer: str | None = None


def manufacturer(session: Session) -> str:
    """The manufacturer's name for the public (the ``trace.public`` site setting), or ``""``."""
    row = session.get(Setting, SETTINGS_KEY)
    value = row.value.get("manufacturer", "") if row is not None and isinstance(row.value, dict) else ""
    return str(value)


def strength_of(session: Session, product_code: str) -> str | None:
    """The product's strength (规格) as its material master records it, ``200 mg/支``; none when not recorded."""
    found = session.scalar(select(Material.strength).where(Material.code == product_code))
    return found or None


def verify(session: Session, scan: str) -> Verification:
    """The verdict on one scanned code, and the product facts when the code is one of ours in use."""
    given = scan.strip()[:MAX_SCAN]
    code = codes.lookup(session, scan)
    if code is None or code.state in ("available", "allocated") or code.batch_order_id is None:
        return Verification(given, "unknown")
    order = session.get(BatchOrder, code.batch_order_id)
    if order is None:
        return Verification(given, "unknown")
    lot = production.lot_of_batch(session, order.batch_no)
    expiry = lot.expiry_date if lot is not None else None
    facts = {
        "product": order.product_name, "strength": strength_of(session, order.product_code), "batch": order.batch_no,
        "expiry": expiry, "expired": expiry is not None and expiry < clock.to_beijing(clock.now()).date(),
        "manufacturer": manufacturer(session) or None,
    }  # fmt: skip
    if code.state == "decommissioned":
        verdict = "decommissioned"
    elif lot is not None and lot.status == "on_hold" and lot.held_from == "released":
        verdict = "recalled"
    elif lot is not None and lot.status in ("released", "expired") and code.state in _GENUINE_STATES:
        verdict = "genuine"
    else:
        verdict = "not_for_sale"
    return Verification(given, verdict, **facts)  # type: ignore[arg-type]


class TokenBucket:
    """Requests per client address: ``burst`` at once, refilled at ``per_minute``; thread-safe, bounded memory."""

    def __init__(self, *, burst: int, per_minute: float, max_clients: int = 10_000) -> None:
        self.burst = max(1, burst)
        self.rate = max(0.0, per_minute) / 60.0
        self.max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls) -> TokenBucket:
        return cls(
            burst=int(os.environ.get("PHARMATRACE_VERIFY_BURST", "10")),
            per_minute=float(os.environ.get("PHARMATRACE_VERIFY_PER_MINUTE", "30")),
        )

    def take(self, client: str) -> float:
        """Take one token for ``client``: 0 when allowed, else the seconds until the next token."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._remember(client, (tokens - 1, now))
                return 0.0
            self._remember(client, (tokens, now))
            return (1 - tokens) / self.rate if self.rate > 0 else 60.0

    def _remember(self, client: str, state: tuple[float, float]) -> None:
        self._buckets.pop(client, None)
        if (
            len(self._buckets) >= self.max_clients
        ):  # forget the longest-idle client (dicts keep insertion order)
            self._buckets.pop(next(iter(self._buckets)))
        self._buckets[client] = state
