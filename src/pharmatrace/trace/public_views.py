"""Public verification of a pack's code, without log-in: the page ``/verify`` and ``/api/v1/public/verify/{code}``
(SH-6.2.5.1; issue 10 item 8). The service is :mod:`pharmatrace.trace.public`; here only the edges and the rate
limit per client address (a 429 with a clear message and ``Retry-After``)."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from pharmatrace.kernel.errors import N_
from pharmatrace.trace import public
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep
from pharmatrace.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["trace-public"])

RATE_LIMITED = N_("Too many verifications from your address. Please try again in {seconds} seconds.")


class VerificationPublic(BaseModel):
    """What anyone may learn of a code: the verdict and the product's public facts, nothing internal."""

    code: str
    verdict: str
    verdict_label: str
    advice: str
    product: str | None
    strength: str | None
    batch: str | None
    expiry: date | None
    expired: bool
    manufacturer: str | None


def limiter(request: Request) -> public.TokenBucket:
    """The app's bucket (one per app, configured from the environment when first used)."""
    state = request.app.state
    if not isinstance(getattr(state, "verify_limiter", None), public.TokenBucket):
        state.verify_limiter = public.TokenBucket.from_environment()
    bucket: public.TokenBucket = state.verify_limiter
    return bucket


def _wait(request: Request) -> int:
    client = request.client.host if request.client else "unknown"
    return math.ceil(limiter(request).take(client))


def _public(result: public.Verification) -> VerificationPublic:
    return VerificationPublic(
        code=result.code, verdict=result.verdict, verdict_label=i18n.gettext(public.VERDICT_LABELS[result.verdict]),
        advice=i18n.gettext(public.VERDICT_ADVICE[result.verdict]), product=result.product, strength=result.strength,
        batch=result.batch, expiry=result.expiry, expired=result.expired, manufacturer=result.manufacturer,
    )  # fmt: skip


@router.get("/verify", response_class=HTMLResponse)
def verify_page(
    request: Request, db: DbDep, code: Annotated[str, Query(max_length=public.MAX_SCAN)] = ""
) -> Response:
    """The phone page: a form, and the verdict on ``?code=`` when given."""
    result: VerificationPublic | None = None
    error: str | None = None
    status, wait = 200, 0
    if code.strip():
        wait = _wait(request)
        if wait:
            error, status = i18n.translate(RATE_LIMITED, seconds=wait), 429
        else:
            with db.sessions() as session:
                result = _public(public.verify(session, code))
    response = render(request, "trace/public_verify.html", status_code=status, code=code, result=result,
                      error=error)  # fmt: skip
    response.headers["cache-control"] = "no-store"
    if wait:
        response.headers["retry-after"] = str(wait)
    return response


@api_router.get("/public/verify/{code:path}", response_model=VerificationPublic)
def verify_api(
    request: Request, db: DbDep, code: Annotated[str, Path(min_length=1, max_length=public.MAX_SCAN)]
) -> Response:
    """Verify one code without log-in: the 20-digit code, a GS1 element string or a Digital Link path."""
    wait = _wait(request)
    if wait:
        body = {"error": {"code": "rate_limited", "message": i18n.translate(RATE_LIMITED, seconds=wait)}}
        return JSONResponse(
            body, status_code=429, headers={"retry-after": str(wait), "cache-control": "no-store"}
        )
    with db.sessions() as session:
        result = _public(public.verify(session, code))
    return JSONResponse(result.model_dump(mode="json"), headers={"cache-control": "no-store"})
