"""The registry of signable actions and what each needs (SH-7.1.4.a, SH-7.1.4.c), declared as data.

Each action names the record type it signs and its steps: one step is a single signature, two steps a
dual signature by two different people. Each step has a meaning and the permission its signer needs.
Business areas add their actions here as they are built (batch step sign-off, release, …).

An action ``with_event`` is signed only together with its record's event (QA release, receipt completion):
the event changes the record and the signature, given last in the same transaction, covers the version the
event leaves. The business area signs it through :func:`pharmatrace.kernel.esign.service.sign_with_event`;
the generic signing page and API refuse it on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from pharmatrace.kernel.errors import N_

MEANINGS: dict[str, str] = {
    "performed": N_("Performed"),
    "verified": N_("Verified"),
    "reviewed": N_("Reviewed"),
    "approved": N_("Approved"),
    "released": N_("Released"),
    "rejected": N_("Rejected"),
}


@dataclass(frozen=True, slots=True)
class Step:
    meaning: str
    permission: str


@dataclass(frozen=True, slots=True)
class SignableAction:
    code: str
    object_type: str
    label: str  # gettext msgid
    steps: tuple[Step, ...]
    with_event: bool = False  # signed only together with its record's event, never on its own

    @property
    def dual(self) -> bool:
        return len(self.steps) > 1


ACTIONS: tuple[SignableAction, ...] = (
    SignableAction(
        "material.approve",
        "material",
        N_("Approve material master data"),
        (Step("approved", "wms.material.approve"),),
    ),
    SignableAction(
        "material.review",
        "material",
        N_("Review and approve material master data (two people)"),
        (Step("reviewed", "wms.material.manage"), Step("approved", "wms.material.approve")),
    ),
    # Signed as part of their event (pharmatrace.wms.receipts / wms.lots): the event changes the record
    # and the signature covers the version it leaves.
    SignableAction(
        "receipt.complete",
        "receipt",
        N_("Complete a goods receipt (signed by the receiver)"),
        (Step("performed", "wms.lot.receive"),),
        with_event=True,
    ),
    SignableAction(
        "lot.release",
        "lot",
        N_("Release a material lot (QA)"),
        (Step("released", "wms.material.approve"),),
        with_event=True,
    ),
    SignableAction(
        "lot.reject",
        "lot",
        N_("Reject a material lot (QA)"),
        (Step("rejected", "wms.material.approve"),),
        with_event=True,
    ),
)
BY_CODE: dict[str, SignableAction] = {action.code: action for action in ACTIONS}

assert all(step.meaning in MEANINGS for action in ACTIONS for step in action.steps)
