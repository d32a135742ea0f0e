"""Page: the site's code rule for internal lot numbers (issue 5 item 3, TJ-6.3.1, TJ-B.2.2.1).

Shows the rule, what its pattern's fields mean, the type code of each kind of material and the lot number
the next receipt of each kind would get (a preview: no serial is drawn). The system administrator changes
it with a reason through the same schema and service as ``PUT /api/v1/wms/code-rule``; the unit of work
audits the setting like every other; a refused change re-renders the page with the message.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.web import i18n
from pharmatrace.web.deps import CurrentPrincipal, DbDep, Requires
from pharmatrace.web.forms import form_data, submit
from pharmatrace.web.templating import render
from pharmatrace.wms import codes
from pharmatrace.wms.models import MATERIAL_KINDS
from pharmatrace.wms.views import KIND_LABELS

router = APIRouter(prefix="/wms", include_in_schema=False)

VIEW_PERMISSIONS = ("wms.material.view", "admin.settings.manage")  # the warehouse reads it, the admin sets it
SettingsManage = Annotated[Principal, Depends(Requires("admin.settings.manage"))]


def code_rule_reader(principal: CurrentPrincipal) -> Principal:
    """Who works with materials, or the administrator who sets the rule (who has no warehouse view)."""
    if not any(principal.can(code) for code in VIEW_PERMISSIONS):
        principal.require(VIEW_PERMISSIONS[0])  # refused with the usual message
    return principal


CodeRuleReader = Annotated[Principal, Depends(code_rule_reader)]


def _form_values(rule: codes.CodeRule) -> dict[str, Any]:
    return {"pattern": rule.pattern, "serial_digits": rule.serial_digits, "type_codes": dict(rule.type_codes)}


def _page(request: Request, db: DbDep, status_code: int = 200, **values: Any) -> Response:
    with db.sessions() as session:
        rule = codes.code_rule(session)
        moment = clock.now()
        previews = {kind: codes.preview_lot_number(session, kind, moment, rule) for kind in MATERIAL_KINDS}
    values.setdefault("data", _form_values(rule))
    return render(request, "wms/code_rule.html", status_code=status_code, rule=rule, previews=previews,
                  kinds=KIND_LABELS, meanings=codes.PLACEHOLDER_MEANINGS, settings_key=codes.SETTINGS_KEY,
                  container_example=codes.container_code(previews[MATERIAL_KINDS[0]], 1), **values)  # fmt: skip


@router.get("/code-rule", response_class=HTMLResponse)
def code_rule_page(request: Request, db: DbDep, _: CodeRuleReader, done: int = 0) -> Response:
    return _page(request, db, flash=i18n.gettext(N_("Saved")) if done else None)


@router.post("/code-rule", response_class=HTMLResponse)
async def code_rule_submit(request: Request, db: DbDep, principal: SettingsManage) -> Response:
    form = await form_data(request)
    data: dict[str, Any] = {
        "pattern": form.get("pattern", ""),
        "serial_digits": form.get("serial_digits", ""),
        "type_codes": {kind: form.get(f"type_code_{kind}", "") for kind in MATERIAL_KINDS},
        "reason": form.get("reason", ""),
    }
    return submit(db, principal, codes.CodeRuleUpdate, data, write=codes.set_code_rule,
                  rerender=lambda status, **values: _page(request, db, status, **values),
                  reason=lambda update: update.reason, done="/wms/code-rule?done=1")  # fmt: skip
