"""Pages: the genealogy graph and recall impact (SH-6.2.5, TJ-9.1, TJ-5.1; issue 10 items 5–6).

``/trace/genealogy?code=…`` traces a code backward, ``?ref=…`` a lot, batch or plot forward: an interactive tree
(ECharts, vendored: collapsible nodes, the toolbox's save-as-image), the batches' context, the code counts and
shipments; ``/trace/genealogy.pdf`` prints the same trace (Chinese font embedded, the export audited).
``/trace/recall-impact?ref=…`` shows what a recall of a batch or lot reaches. Times in Beijing time.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_, NotFound, ValidationFailed
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.pdf import report_pdf, table_row, text_line
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.trace import genealogy, recall
from pharmatrace.trace.genealogy import KIND_LABELS, Trace
from pharmatrace.trace.models import LEVEL_NAMES, SHIPMENT_STATUS_LABELS
from pharmatrace.web import i18n
from pharmatrace.web.deps import DbDep, Requires
from pharmatrace.web.templating import render

router = APIRouter(prefix="/trace", include_in_schema=False)

TraceView = Annotated[Principal, Depends(Requires("trace.view"))]
Translate = Callable[..., str]
MAX_CHILDREN = 200  # children drawn under one node; the rest summed up in one leaf


def tree_of(found: Trace, translate: Translate) -> dict[str, Any]:
    """A spanning tree of the trace from its start (breadth first over the edges either way), as ECharts' tree
    series wants it: every node once; a shared node under the first that reached it."""
    nodes = {n.id: n for n in found.nodes}
    near: dict[str, list[tuple[str, int | None]]] = defaultdict(list)
    for edge in found.edges:
        near[edge.source].append((edge.target, edge.count))
        near[edge.target].append((edge.source, edge.count))

    def item(node_id: str, count: int | None) -> dict[str, Any]:
        node = nodes[node_id]
        facts = " · ".join(f"{k}: {v}" for k, v in node.facts.items())
        label = f"{translate(KIND_LABELS.get(node.kind, node.kind))} {node.label}"
        if count is not None:
            label += f" ({count})"
        return {"name": label, "value": facts, "kind": node.kind, "children": []}

    root = item(found.start.id, None)
    placed = {found.start.id: root}
    queue = deque([found.start.id])
    while queue:
        current = queue.popleft()
        skipped = 0
        for other, count in near[current]:
            if other in placed or other not in nodes:
                continue
            if len(placed[current]["children"]) >= MAX_CHILDREN:
                skipped += 1
                continue
            placed[other] = item(other, count)
            placed[current]["children"].append(placed[other])
            queue.append(other)
        if skipped:
            placed[current]["children"].append({"name": f"… +{skipped}", "children": []})
    return root


def _trace(db: DbDep, code: str, ref: str) -> Trace:
    with db.sessions() as session:
        if code.strip():
            return genealogy.backward(session, code)
        if ref.strip():
            return genealogy.forward(session, ref)
    raise ValidationFailed(N_("Give a code to trace backward or a lot, batch or plot to trace forward"))


@router.get("/genealogy", response_class=HTMLResponse)
def genealogy_page(request: Request, db: DbDep, _: TraceView, code: str = "", ref: str = "") -> Response:
    found, error, status = None, None, 200
    if code.strip() or ref.strip():
        try:
            found = _trace(db, code, ref)
        except NotFound as refused:
            error, status = i18n.error_message(refused), 404
    tree = tree_of(found, i18n.translate) if found is not None else None
    return render(request, "trace/genealogy.html", status_code=status, found=found, tree=tree, code=code,
                  ref=ref, error=error, kinds=KIND_LABELS, shipment_statuses=SHIPMENT_STATUS_LABELS)  # fmt: skip


def render_pdf(found: Trace, *, printed_by: str, printed_at: datetime, translate: Translate) -> bytes:
    """The trace as PDF/A-2B with the Chinese font embedded: its nodes, edges, counts, shipments, batch context."""
    direction = translate(N_("Backward trace") if found.direction == "backward" else N_("Forward trace"))
    title = f"{direction} {found.start.ref}"
    printed = translate(N_("Printed by {name} at {time} (Beijing time)")).format(
        name=printed_by, time=clock.format_beijing(printed_at)
    )
    pdf = report_pdf(header=f"{translate(N_('PharmaTrace'))} · {title}", footer=printed, title=title,
                     page_label=translate(N_("Page {page} of {pages}")), author=printed_by, orientation="P",
                     pdfa=True)  # fmt: skip
    pdf.set_subject(direction)
    pdf.set_creation_date(printed_at)
    pdf.set_lang("zh-CN")
    pdf.add_page()
    pdf.set_font("cjk", size=15)
    pdf.cell(0, 10, title, align="C", new_x="LMARGIN", new_y="NEXT")
    text_line(pdf, f"{translate(N_('Traced at'))}: {clock.format_beijing(found.generated_at)}", 5)
    labels = {n.id: f"{translate(KIND_LABELS.get(n.kind, n.kind))} {n.label}" for n in found.nodes}
    pdf.set_fill_color(230, 236, 242)
    pdf.set_font("cjk", size=8.5)
    widths = (30.0, 70.0, 90.0)
    table_row(
        pdf, [translate(N_("Kind")), translate(N_("Node")), translate(N_("Facts"))], widths, 5, fill=True
    )
    for node in found.nodes:
        table_row(pdf, [translate(KIND_LABELS.get(node.kind, node.kind)), node.label,
                        " · ".join(f"{k}: {v}" for k, v in node.facts.items())], widths, 5)  # fmt: skip
    pdf.ln(2)
    table_row(pdf, [translate(N_("From")), translate(N_("Relation")), translate(N_("To"))], (80.0, 30.0, 80.0), 5,
              fill=True)  # fmt: skip
    for edge in found.edges:
        relation = edge.relation + (f" ({edge.count})" if edge.count is not None else "")
        table_row(pdf, [labels.get(edge.source, edge.source), relation, labels.get(edge.target, edge.target)],
                  (80.0, 30.0, 80.0), 5)  # fmt: skip
    pdf.ln(2)
    for count in found.code_counts:
        text_line(pdf, f"{count.batch_no} · {translate(LEVEL_NAMES[count.level])} · {count.state}: "
                       f"{count.count}", 5, 8.5)  # fmt: skip
    for line in found.shipments:
        text_line(pdf, f"{translate(N_('Shipment'))} {line.number} ({line.status}, "
                       f"{clock.format_beijing(line.shipped_at) or '—'}) → {line.customer_code} {line.customer_name}: "
                       f"{line.units} · {line.batch_no}", 5, 8.5)  # fmt: skip
    for batch in found.batches:
        pdf.ln(1)
        text_line(pdf, f"{translate(N_('Batch'))} {batch.batch_no} · {batch.product} · {batch.recipe} "
                       f"v{batch.recipe_version or '—'} · {batch.status}", 5, 9.5)  # fmt: skip
        alarms = translate(N_("not connected")) if batch.alarms is None else ("; ".join(batch.alarms) or "—")
        for label, value in ((N_("Equipment"), "、".join(batch.equipment)), (N_("Rooms"), "、".join(batch.rooms)),
                             (N_("Operators"), "、".join(batch.operators)), (N_("EM alarms"), alarms),
                             (N_("Deviations"), "、".join(f"{d.number} {d.status} {d.conclusion or ''}".strip()
                                                          for d in batch.deviations)),
                             (N_("Test results"), "、".join(f"{t.item} {t.result} {t.verdict}" for t in batch.tests))):  # fmt: skip
            text_line(pdf, f"    {translate(label)}: {value or '—'}", 4.5, 8.5)
    return bytes(pdf.output())


@router.get("/genealogy.pdf")
def genealogy_pdf(db: DbDep, principal: TraceView, code: str = "", ref: str = "") -> Response:
    """The trace as PDF; the export is recorded in the audit trail."""
    found = _trace(db, code, ref)
    data = render_pdf(found, printed_by=principal.full_name, printed_at=clock.now(), translate=i18n.translate)
    with UnitOfWork(db, principal.actor) as uow:
        uow.record("trace.genealogy.pdf", "trace_genealogy", found.start.id,
                   changes={"direction": [None, found.direction], "start": [None, found.start.ref]},
                   reason=f"{found.direction} trace of {found.start.ref} output as pdf")  # fmt: skip
        uow.commit()
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in found.start.ref)
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="trace-{found.direction}-{name}.pdf"'})  # fmt: skip


@router.get("/recall-impact", response_class=HTMLResponse)
def recall_page(request: Request, db: DbDep, _: TraceView, ref: str = "") -> Response:
    found, error, status = None, None, 200
    if ref.strip():
        try:
            with db.sessions() as session:
                found = recall.impact(session, ref)
        except NotFound as refused:
            error, status = i18n.error_message(refused), 404
    return render(request, "trace/recall_impact.html", status_code=status, found=found, ref=ref, error=error,
                  shipment_statuses=SHIPMENT_STATUS_LABELS)  # fmt: skip
