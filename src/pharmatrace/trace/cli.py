"""``pharmatrace trace``: traceability codes and the genealogy from the command line (issue 10)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

trace_app = typer.Typer(help="Serialization and traceability: code pools, trace forward and backward",
                        no_args_is_help=True)  # fmt: skip


def _register_subcommands() -> None:
    from pharmatrace.trace.line_cli import line_app

    trace_app.add_typer(line_app, name="line")


_register_subcommands()


# --- code pools (issue 10 item 1) ------------------------------------------------------------------------


@trace_app.command("import-pool")
def import_pool(
    identifier: Annotated[str, typer.Argument(help="the 7-digit product identifier the codes belong to")],
    file: Annotated[
        typer.FileBinaryRead, typer.Argument(help="the issuer's file: one code per line, optional header")
    ],
    as_login: Annotated[str, typer.Option("--as", help="log-in ID of whoever imports (trace.codes.manage)")],
    reference: Annotated[str, typer.Option("--reference", help="the issuer's order number or a note")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
) -> None:
    """Import a pool of 20-digit codes from the issuer's file: all codes or none; the file is kept by its SM3.

    Acts as the logged-in user (``--as``), through the same permission and service as the page and the API."""
    import os

    from pharmatrace.cli_support import database, fail
    from pharmatrace.kernel.errors import PharmaTraceError
    from pharmatrace.kernel.identity.cli_login import log_in, read_password
    from pharmatrace.kernel.uow import UnitOfWork
    from pharmatrace.trace import codes

    data = file.read(codes.POOL_FILES.max_bytes + 1)
    db = database()
    try:
        principal = log_in(db, as_login, read_password(password_stdin, as_login))
        with UnitOfWork(db, principal.actor) as uow:
            pool = codes.import_pool(uow, principal, identifier, data, os.path.basename(file.name),
                                     reference=reference)  # fmt: skip
            uow.commit()
            number, count, sm3 = pool.number, pool.count, pool.file_sm3
    except PharmaTraceError as error:
        fail(error)
    typer.echo(f"pool {number}: {count} codes of {identifier} imported (file SM3 {sm3})")


# --- the genealogy (issue 10 item 5) --------------------------------------------------------------------


def _print_trace(found: Any) -> None:
    from pharmatrace.kernel import clock

    start = found.start
    typer.echo(
        f"{found.direction} trace of {start.kind} {start.ref} ({clock.format_beijing(found.generated_at)} Beijing time)"
    )
    labels = {n.id: f"{n.kind} {n.label}" for n in found.nodes}
    for kind in ("pallet", "case", "pack", "unit", "batch", "intermediate_lot", "material_lot", "herb_shipment",
                 "harvest", "plot", "shipment", "customer"):  # fmt: skip
        for node in (n for n in found.nodes if n.kind == kind):
            facts = " · ".join(f"{k} {v}" for k, v in node.facts.items())
            typer.echo(f"  {kind:<16} {node.label}{'  (' + facts + ')' if facts else ''}")
    for edge in found.edges:
        count = f" ({edge.count} units)" if edge.count is not None else ""
        typer.echo(
            f"  {labels.get(edge.source, edge.source)} —{edge.relation}→ {labels.get(edge.target, edge.target)}{count}"
        )
    for c in found.code_counts:
        typer.echo(f"  codes  {c.batch_no} level {c.level} {c.state}: {c.count}")
    for s in found.shipments:
        typer.echo(
            f"  shipment {s.number} [{s.status}] → {s.customer_code} {s.customer_name}: {s.units} units of {s.batch_no}"
        )
    for b in found.batches:
        alarms = "not connected" if b.alarms is None else ("; ".join(b.alarms) or "none")
        typer.echo(f"  batch {b.batch_no} · {b.product} · recipe {b.recipe} v{b.recipe_version} · {b.status}")
        typer.echo(f"    equipment {', '.join(b.equipment) or '—'} · rooms {', '.join(b.rooms) or '—'}")
        typer.echo(f"    operators {', '.join(b.operators) or '—'} · EM alarms {alarms}")
        for d in b.deviations:
            typer.echo(f"    deviation {d.number} [{d.status}] {d.conclusion or '—'}")
        for t in b.tests:
            typer.echo(f"    test {t.order} {t.item}: {t.result} {t.verdict}")


@trace_app.command("backward")
def backward(
    code: Annotated[str, typer.Argument(help="a unit, middle pack, case or pallet code")],
    as_json: Annotated[bool, typer.Option("--json", help="the API's record")] = False,
) -> None:
    """Everything upstream of a code: containers, batch, lots and intermediates, herb origin, batch context."""
    from pharmatrace.cli_support import database, echo_json, fail
    from pharmatrace.kernel.errors import NotFound
    from pharmatrace.trace import genealogy

    with database().sessions() as session:
        try:
            found = genealogy.backward(session, code)
        except NotFound as error:
            fail(error)
    if as_json:
        echo_json(found)
    else:
        _print_trace(found)


@trace_app.command("forward")
def forward(
    ref: Annotated[str, typer.Argument(help="a material, herb or intermediate lot, a batch or a plot code")],
    as_json: Annotated[bool, typer.Option("--json", help="the API's record")] = False,
    with_units: Annotated[bool, typer.Option("--units", help="list every unit code too (streamed)")] = False,
) -> None:
    """Every batch, code count, shipment and customer downstream of a lot, batch or plot."""
    import json

    from pharmatrace.cli_support import database, echo_json, fail
    from pharmatrace.kernel.errors import NotFound
    from pharmatrace.trace import genealogy

    with database().sessions() as session:
        try:
            found = genealogy.forward(session, ref)
        except NotFound as error:
            fail(error)
        if as_json and not with_units:
            echo_json(found)
            return
        if as_json:  # the record, then its units streamed as one more member
            typer.echo(found.model_dump_json(indent=1).rstrip()[:-1].rstrip() + ',\n "units": [')
            first = True
            for value, state in genealogy.iter_units(session, genealogy.batch_ids_of(found)):
                typer.echo(("  " if first else ", ") + json.dumps([value, state]))
                first = False
            typer.echo(" ]\n}")
            return
        _print_trace(found)
        if with_units:
            for value, state in genealogy.iter_units(session, genealogy.batch_ids_of(found)):
                typer.echo(f"  unit {value} {state}")


@trace_app.command("recall-impact")
def recall_impact(
    ref: Annotated[str, typer.Argument(help="a batch or lot number")],
    as_json: Annotated[bool, typer.Option("--json", help="the API's record")] = False,
) -> None:
    """What a recall of a batch or lot reaches: batches, units by state, shipments and customers."""
    from pharmatrace.cli_support import database, echo_json, fail
    from pharmatrace.kernel.errors import NotFound
    from pharmatrace.trace import recall

    with database().sessions() as session:
        try:
            found = recall.impact(session, ref)
        except NotFound as error:
            fail(error)
    if as_json:
        echo_json(found)
        return
    typer.echo(
        f"recall impact of {found.start_kind} {found.ref}: {found.units_total} units, {found.shipped_units} shipped"
    )
    for b in found.batches:
        typer.echo(
            f"  batch {b.batch_no} {b.product_name} [{b.status}] "
            + ", ".join(f"{k} {v}" for k, v in b.units.items())
        )
    for s in found.shipments:
        typer.echo(
            f"  shipment {s.number} [{s.status}] → {s.customer_code} {s.customer_name}: {s.units} units of {s.batch_no}"
        )
