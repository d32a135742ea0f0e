"""``pharmatrace origin`` — the origin of herb lots from the command line (TJ-5.1, TJ-5.2.1.5).

Reading commands print what the pages and the API show; ``--json`` gives the API's own records.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pharmatrace.cli_support import database, echo_json, fail
from pharmatrace.origin import service
from pharmatrace.wms import lots

origin_app = typer.Typer(
    help="Herbal-material origin: bases, plots, shipments, lot origin, feedback", no_args_is_help=True
)


@origin_app.command("trace")
def trace(
    code: Annotated[str, typer.Argument(help="a lot number, container code or scanned label")],
    as_json: Annotated[bool, typer.Option("--json", help="the API's record")] = False,
) -> None:
    """A herb lot's way back: base, plots, seed, inputs, harvest, processing, shipment."""
    with database().sessions() as session:
        lot = lots.find_by_scan(session, code)
        if lot is None:
            fail(f"no lot for {code!r}")
            return
        chain = service.origin_chain(session, lot)
    if chain is None:
        fail(f"the lot {lot.lot_number} has no recorded origin")
        return
    if as_json:
        echo_json(chain)
        return
    typer.echo(f"lot {chain.lot_number} (supplier lot {chain.supplier_lot})")
    typer.echo(
        f"  base      {chain.base.supplier_code} {chain.base.name} · {chain.base.region} · {chain.base.certificate}"
    )
    s = chain.shipment
    typer.echo(
        f"  shipment  {s.code} batch {s.batch_no} · shipped {s.shipped_on} · {s.pack_type} × {s.pack_count}"
    )
    typer.echo(f"            {s.storage_conditions} · {s.carrier} · {s.transport_conditions}")
    for source in chain.sources:
        crop, harvest = source.crop, source.harvest
        typer.echo(
            f"  plot      {source.plot.code} {source.plot.name} · {source.quantity} {harvest.unit} in this shipment"
        )
        typer.echo(
            f"    crop    {crop.code} {crop.species} ({crop.latin_name}) · {crop.seed_kind} from {crop.seed_source}, planted {crop.planted_on}"
        )
        for i in crop.inputs:
            interval = f" · interval {i.pre_harvest_days} d" if i.pre_harvest_days is not None else ""
            typer.echo(f"    input   {i.applied_on} {i.kind} {i.product} {i.amount} {i.unit}{interval}")
        typer.echo(f"    harvest {harvest.code} {harvest.harvested_on} {harvest.quantity} {harvest.unit}")
        for p in harvest.processing:
            typer.echo(
                f"    step    {p.performed_on} {p.method} → {p.output_quantity} {harvest.unit} {p.conditions}"
            )
    for f in chain.feedback:
        typer.echo(f"  feedback {f.produced_at:%Y-%m-%d} {f.kind} [{f.status}] {f.reason}")


@origin_app.command("shipments")
def shipments(
    base: Annotated[str, typer.Option("--base", help="a base's supplier code")] = "",
    open_only: Annotated[bool, typer.Option("--open", help="only those not fully received")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="the API's records")] = False,
) -> None:
    """Shipments from the planting bases, newest first."""
    with database().sessions() as session:
        base_id = service.base_by_code(session, base).id if base else None
        found = [
            service.shipment_public(session, s)
            for s in service.list_shipments(session, base_id=base_id, open_only=open_only)
        ]
    if as_json:
        echo_json(list(found))
        return
    for s in found:
        plots = ",".join(sorted({src.plot_code for src in s.sources}))
        void = " VOID" if s.voided_at else ""
        typer.echo(
            f"{s.code:<16} {s.shipped_on} {s.material_code:<10} {s.quantity:>10} {s.unit} received {s.received:>10} plots {plots}{void}"
        )


@origin_app.command("feedback")
def feedback(
    status: Annotated[str, typer.Option("--status", help="pending, delivered or failed")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="the API's records")] = False,
) -> None:
    """The feedback outbox: messages to the bases and their delivery status."""
    with database().sessions() as session:
        found = [service.feedback_public(f) for f in service.list_feedback(session, status=status)]
    if as_json:
        echo_json(list(found))
        return
    for f in found:
        typer.echo(
            f"{f.produced_at:%Y-%m-%d %H:%M} {f.kind:<16} {f.status:<10} {f.lot_number} {f.base_code} {f.shipment_code}: {f.reason}"
        )
