"""``pharmatrace wms`` — materials, suppliers, lots and the code rule from the command line (issue 5).

Reading commands print what the pages and the API show; ``--json`` gives the API's own records.
``code-rule set`` acts as a user (``--as LOGIN``, password typed or ``--password-stdin``) through the same
validation (``CodeRuleUpdate``), permission (``admin.settings.manage``) and service as
``PUT /api/v1/wms/code-rule``: audited with its reason like every setting.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from pydantic import ValidationError

from pharmatrace.cli_support import database, echo_json, fail
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import PharmaTraceError
from pharmatrace.kernel.identity.cli_login import log_in, read_password
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.storage.engine import Database
from pharmatrace.wms import codes, lots, service
from pharmatrace.wms.models import MATERIAL_KINDS

wms_app = typer.Typer(
    help="Materials & warehouse: materials, suppliers, lots, code rule", no_args_is_help=True
)
code_rule_app = typer.Typer(help="The site's rule for internal lot numbers", no_args_is_help=True)
wms_app.add_typer(code_rule_app, name="code-rule")

SETTINGS_PERMISSION = "admin.settings.manage"  # the API's PUT /wms/code-rule needs the same


def _date(value: Any) -> str:
    return value.isoformat() if value is not None else "-"


@wms_app.command("materials")
def materials(
    kind: Annotated[str, typer.Option("--kind", help="only this kind, e.g. herb, excipient")] = "",
    text: Annotated[str, typer.Option("--search", help="code or name contains")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="the API's records")] = False,
) -> None:
    """The material master data (void materials are left out)."""
    if kind and kind not in MATERIAL_KINDS:
        fail(f"unknown kind {kind!r}; one of {', '.join(MATERIAL_KINDS)}")
    with database().sessions() as session:
        found = [service.material_public(m) for m in service.list_materials(session, text=text, kind=kind)]
    if as_json:
        echo_json(list(found))
        return
    for m in found:
        shelf = f"{m.shelf_life_months} months" if m.shelf_life_months else "-"
        typer.echo(f"{m.code:<16} {m.kind:<20} {m.unit:<6} shelf life {shelf:<10} {m.name}")


@wms_app.command("suppliers")
def suppliers(
    kind: Annotated[str, typer.Option("--kind", help="manufacturer, distributor or planting_base")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="the API's records")] = False,
) -> None:
    """The suppliers (void suppliers are left out)."""
    with database().sessions() as session:
        found = [service.supplier_public(s) for s in service.list_suppliers(session, kind=kind)]
    if as_json:
        echo_json(list(found))
        return
    for s in found:
        typer.echo(f"{s.code:<16} {s.kind:<14} {s.name}")


@wms_app.command("lots")
def lot_list(
    material: Annotated[str, typer.Option("--material", help="material code")] = "",
    status: Annotated[str, typer.Option("--status", help="quarantine, under_test, released, …")] = "",
    scan: Annotated[str, typer.Option("--scan", help="a scanned code, lot number or text")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="the API's records")] = False,
) -> None:
    """Lots, newest first, by material, status or a scanned code (the same search as the API)."""
    with database().sessions() as session:
        found = [lots.lot_public(lot) for lot in lots.list_lots(session, material_code=material, status=status,
                                                                text=scan)]  # fmt: skip
    if as_json:
        echo_json(list(found))
        return
    for lot in found:
        typer.echo(
            f"{lot.lot_number:<16} {lot.status:<11} {lot.material_code:<12} {lot.quantity:>12} {lot.unit:<4} "
            f"containers {lot.containers:<3} expiry {_date(lot.expiry_date):<10} {lot.material_name}"
        )


@wms_app.command("lot")
def lot_show(
    scan: Annotated[str, typer.Argument(help="container code, lot number or GS1 string as scanned")],
    as_json: Annotated[bool, typer.Option("--json", help="the API's record")] = False,
) -> None:
    """One lot found by any scanned code, with its containers."""
    with database().sessions() as session:
        found = lots.find_by_scan(session, scan)
        if found is None:
            fail(f"no lot for the scan {scan.strip()!r}")
            return
        detail = lots.lot_detail(found)
    if as_json:
        echo_json(detail)
        return
    typer.echo(f"lot              {detail.lot_number}  ({detail.status})")
    typer.echo(f"material         {detail.material_code}  {detail.material_name}")
    typer.echo(f"supplier         {detail.supplier_code}  {detail.supplier_name}  lot {detail.supplier_lot}")
    typer.echo(f"manufactured     {_date(detail.manufacture_date)}")
    typer.echo(f"expiry / retest  {_date(detail.expiry_date)} / {_date(detail.retest_date)}")
    typer.echo(f"quantity         {detail.quantity} {detail.unit} in {detail.containers} containers")
    for c in detail.container_list:
        damaged = "  DAMAGED" if c.damaged else ""
        typer.echo(f"  {c.code:<20} {c.quantity:>12} {c.unit:<4} {c.supplier_scan or ''}{damaged}")


def _show_rule(rule: codes.CodeRule, previews: dict[str, str]) -> None:
    typer.echo(f"pattern        {rule.pattern}")
    typer.echo(f"serial digits  {rule.serial_digits}")
    for name in codes.PLACEHOLDERS:
        if f"{{{name}}}" in rule.pattern:
            typer.echo(f"  {{{name}}}  {codes.PLACEHOLDER_MEANINGS[name]}")
    typer.echo("kind                 type code  next lot number")
    for kind in MATERIAL_KINDS:
        typer.echo(f"{kind:<20} {rule.type_codes[kind]:<10} {previews[kind]}")


def _previews(db: Database, rule: codes.CodeRule | None = None) -> tuple[codes.CodeRule, dict[str, str]]:
    with db.sessions() as session:
        rule = rule or codes.code_rule(session)
        moment = clock.now()
        return rule, {k: codes.preview_lot_number(session, k, moment, rule) for k in MATERIAL_KINDS}


@code_rule_app.command("show")
def code_rule_show() -> None:
    """The current rule, what its fields mean, the type codes, and the next lot number per kind."""
    _show_rule(*_previews(database()))


def _type_codes(values: list[str], current: dict[str, str]) -> dict[str, str]:
    changed = dict(current)
    for value in values:
        kind, sep, code = value.partition("=")
        if not sep or kind not in MATERIAL_KINDS:
            fail(f"--type-code takes KIND=CODE with a kind of {', '.join(MATERIAL_KINDS)}: {value!r}")
        changed[kind] = code
    return changed


@code_rule_app.command("set")
def code_rule_set(
    reason: Annotated[str, typer.Option("--reason", help="why the rule changes (audited)")],
    as_login: Annotated[str, typer.Option("--as", help="log-in ID of the system administrator")],
    pattern: Annotated[str | None, typer.Option("--pattern", help="e.g. {type}{yy}{mm}{serial}")] = None,
    serial_digits: Annotated[int | None, typer.Option("--serial-digits", help="3 to 8")] = None,
    type_code: Annotated[list[str] | None, typer.Option("--type-code", help="KIND=CODE; repeat")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
) -> None:
    """Change the rule; what is not given stays. Numbers already given keep their form."""
    db = database()
    with db.sessions() as session:
        current = codes.code_rule(session)
    values: dict[str, Any] = {
        "pattern": current.pattern if pattern is None else pattern,
        "serial_digits": current.serial_digits if serial_digits is None else serial_digits,
        "type_codes": _type_codes(type_code or [], current.type_codes),
        "reason": reason,
    }
    try:
        update = codes.CodeRuleUpdate.model_validate(values)
    except ValidationError as error:
        fail("; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'rule'}: {e['msg']}" for e in error.errors()))
        return
    try:
        principal = log_in(db, as_login, read_password(password_stdin, as_login))
        principal.require(SETTINGS_PERMISSION)
        with UnitOfWork(db, principal.actor, reason=update.reason) as uow:
            rule = codes.set_code_rule(uow, update)
            uow.commit()
    except PharmaTraceError as error:
        fail(str(error))
        return
    typer.echo("code rule changed")
    _show_rule(*_previews(db, rule))
