"""The ledger page: size, signed checkpoints, witness, and an on-demand verification (SH-8.4.5)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from pharmatrace.kernel import ledger
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.templating import render

router = APIRouter(prefix="/ledger", include_in_schema=False)
AuditView = Annotated[Principal, Depends(Requires("audit.trail.view"))]


@router.get("", response_class=HTMLResponse)
def ledger_page(request: Request, db: DbDep, _: AuditView, verify: int = 0) -> Response:
    with db.sessions() as session:
        head = session.get(ledger.LedgerHead, 1)
        checkpoints = list(
            session.scalars(
                select(ledger.LedgerCheckpoint).order_by(ledger.LedgerCheckpoint.tree_size.desc()).limit(20)
            )
        )
    witness = ledger.witness_of(db)
    try:
        witnessed, torn = witness.read()
    except ledger.WitnessUnavailable as error:
        witnessed, torn = [], str(error)
    report = ledger.verify(db) if verify else None
    return render(request, "ledger/status.html", head=head, checkpoints=checkpoints, witnessed=len(witnessed),
                  torn=torn, report=report, witness_path=witness.location, pending=len(witness.pending()),
                  refused=len(witness.refused()),
                  key_warning=ledger.site_key_warning(db.state_dir),
                  key_exists=ledger.site_key_path(db.state_dir).exists())  # fmt: skip
