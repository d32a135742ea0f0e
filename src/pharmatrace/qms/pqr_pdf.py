"""The product quality review as PDF (产品质量回顾报告, TJ-9.4: a report to review and sign): fpdf2 with the
embedded Chinese font, PDF/A-2B. It prints the version's facts, the SM3 of its compiled content and of QA's
conclusions, each section as a compact table with its counts and QA's comment, the conclusions, and every signed
decision with its signatures and their verification status at printing. The trend charts stay on the page."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.pdf import page_sized_rows, record_pdf, table_row, text_line
from pharmatrace.qms.pqr_models import SECTIONS
from pharmatrace.qms.pqr_schemas import PqrDetail

Translate = Callable[..., str]
Labels = Mapping[str, Any]  # kind → {code: msgid}, as the page has them
LINE = 4.5
MAX_LINES = 40  # a cell taller than this continues on the next row (kernel.pdf.page_sized_rows)


def _join(values: Sequence[Any]) -> str:
    return ", ".join(str(v) for v in values) or "—"


def render_pdf(
    p: PqrDetail, *, labels: Labels, printed_by: str, printed_at: datetime, translate: Translate
) -> bytes:
    """``p``: the version to print (:func:`pharmatrace.qms.pqr.pqr_detail`); ``labels``: the page's code labels."""
    title = f"{translate(N_('Product quality review'))} {p.number} v{p.version}"
    pdf = record_pdf(title=title, subtitle=p.product_name, subject=translate(N_("Product quality review")),
                     keywords=f"{p.number} {p.product_code}", printed_by=printed_by, printed_at=printed_at,
                     translate=translate)  # fmt: skip
    sections: dict[str, Any] = p.content.get("sections") or {}

    def label(kind: str, code: Any) -> str:
        """A code by its label in the reader's language; an unknown code (an older compilation) as it is."""
        names: Mapping[str, str] = labels[kind]
        if code is None:
            return "—"
        return translate(names[code]) if code in names else str(code)

    def when(moment: datetime | None) -> str:
        return clock.format_beijing(moment) if moment is not None else "—"

    def line(text: str, size: float = 9) -> None:
        text_line(pdf, text, LINE + 0.5, size)

    def heading(text: str) -> None:
        pdf.ln(2)
        line(text, 11.5)

    def table(columns: Sequence[tuple[str, float]], rows: Sequence[Sequence[Any]]) -> None:
        widths = [w for _, w in columns]  # each table 190 mm: the A4 portrait page less its margins
        pdf.set_fill_color(230, 236, 242)
        pdf.set_font("cjk", size=8)  # the running header's size: a row moved to a new page keeps its height
        table_row(pdf, [translate(name) for name, _ in columns], widths, LINE, fill=True)
        for cells in rows:
            for part in page_sized_rows(pdf, [str(c) for c in cells], widths, LINE, MAX_LINES):
                table_row(pdf, part, widths, LINE)

    def counts(pairs: Sequence[tuple[str, Any]]) -> None:
        line(" · ".join(f"{translate(name)}: {value}" for name, value in pairs), 8.5)

    def rows_or_none(
        rows: Sequence[Any], columns: Sequence[tuple[str, float]], cells: Callable[[Any], list[Any]]
    ) -> None:
        if rows:
            table(columns, [cells(r) for r in rows])
        else:
            line(translate(N_("Nothing was found for this product in the period.")), 8.5)

    pdf.set_font("cjk", size=15)
    pdf.multi_cell(0, 8, title, align="C", new_x="LMARGIN", new_y="NEXT")
    for name, value in (
        (N_("Product"), f"{p.product_name} ({p.product_code})"),
        (N_("Period"), f"{p.period_start} ~ {p.period_end}"),
        (N_("Status"), label("status", p.status)),
        (N_("Compiled"), f"{p.compiled_by_name} ({p.compiled_by}) · {when(p.compiled_at)}"),
        *([(N_("Reason for recompiling"), p.recompile_reason)] if p.recompile_reason else []),
        (
            N_("Reviewed"),
            f"{p.reviewed_by_name} ({p.reviewed_by}) · {when(p.reviewed_at)}" if p.reviewed_at else "—",
        ),
        (N_("Content SM3"), p.content_sm3),
        (N_("Conclusions SM3"), p.review_sm3),
    ):
        line(f"{translate(name)}: {value}")
    line(translate(N_("Trend charts: see the review's page.")), 8)

    for index, key in enumerate(SECTIONS, start=1):
        section: dict[str, Any] = sections.get(key) or {}
        c: dict[str, Any] = section.get("counts") or {}
        rows: list[dict[str, Any]] = section.get("rows") or []
        heading(f"{index}. {label('sections', key)}")
        if key == "batches":
            counts([(N_("Batches"), c.get("batches")), (N_("Released"), c.get("released")),
                    (N_("Rejected"), c.get("rejected")), (N_("Quarantined (pending)"), c.get("quarantined")),
                    (N_("Awaiting release"), c.get("awaiting"))])  # fmt: skip
            rows_or_none(rows, ((N_("Batch"), 28), (N_("Batch order"), 32), (N_("Batch size"), 24),
                                (N_("Started"), 22), (N_("Completed"), 22), (N_("Status"), 24),
                                (N_("Release decision"), 38)),
                         lambda r: [r["batch_no"], r["order_no"], f"{r['batch_size']} {r['unit']}",
                                    r.get("started") or f"{r.get('planned_start') or '—'} ({translate(N_('planned'))})",
                                    r.get("completed") or "—", label("batch_status", r["status"]),
                                    label("release", r["release"])
                                    + (f"\n{r['decided_by']} · {r['decided_at']}" if r.get("decided_at") else "")])  # fmt: skip
        elif key == "yields":
            counts([(N_("Yield steps"), c.get("yield_steps")), (N_("Out of limits"), c.get("out_of_limits"))])
            rows_or_none(rows, ((N_("Batch"), 28), (N_("Step"), 30), (N_("Theoretical"), 24), (N_("Actual"), 24),
                                (N_("Yield"), 22), (N_("Limits"), 26), (N_("Comment"), 36)),
                         lambda r: [r["batch_no"], r["step_code"], r.get("theoretical") or "—", r.get("actual") or "—",
                                    f"{r.get('shown') or r.get('yield_pct')} %"
                                    + ("" if r.get("within_limits") else f" ({translate(N_('Out of limits'))})"),
                                    f"{r.get('low_pct')} ~ {r.get('high_pct')} %", r.get("comment") or ""])  # fmt: skip
        elif key == "deviations":
            by_class = [
                (labels["deviation_class"].get(k, k), v)
                for k, v in (c.get("by_classification") or {}).items()
            ]
            counts([(N_("Deviations"), c.get("deviations")), (N_("Open"), c.get("open")), *by_class])
            rows_or_none(rows, ((N_("Deviation"), 26), (N_("Occurred"), 20), (N_("Batches"), 22),
                                (N_("Classification"), 20), (N_("Status"), 20), (N_("Description"), 36),
                                (N_("Root cause"), 24), (N_("Impact on the batch"), 22)),
                         lambda r: [r["number"], r.get("occurred") or "—", _join(r.get("batches") or []),
                                    label("deviation_class", r.get("classification") or "unclassified"),
                                    label("deviation_status", r["status"]), r.get("description") or "",
                                    r.get("root_cause") or "—", _impact(r.get("impact") or [], label)])  # fmt: skip
        elif key == "laboratory":
            counts([(N_("Test orders"), c.get("test_orders")), (N_("Numeric results"), c.get("numeric_results")),
                    ("OOS", c.get("oos")), ("OOT", c.get("oot"))])  # fmt: skip
            rows_or_none(rows, ((N_("Batch / lot"), 28), (N_("Test order"), 30), (N_("Test item"), 40),
                                (N_("Result"), 30), (N_("Specification"), 40), (N_("Verdict"), 22)),
                         lambda r: [r["lot_number"], r["order"], r["item"],
                                    f"{r['reported']} {r.get('unit') or ''}".strip() + (" OOT" if r.get("oot") else ""),
                                    r.get("limit") or "", label("verdict", r.get("verdict"))])  # fmt: skip
            oos = section.get("oos") or []
            if oos:
                line(translate(N_("OOS investigations")), 9.5)
                table((("OOS", 26), (N_("Lot"), 26), (N_("Test item"), 34), (N_("Result"), 24),
                       (N_("Specification"), 30), (N_("Phase"), 25), (N_("Status"), 25)),
                      [[r["code"], r["lot_number"], r["item"], r["result"], r["limit"], label("oos_phase", r["phase"]),
                        label("oos_status", r["status"])] for r in oos])  # fmt: skip
            else:
                line(translate(N_("No OOS investigation for this product in the period.")), 8.5)
            oot = section.get("oot") or []
            if oot:
                line(translate(N_("Results out of trend")), 9.5)
                for r in oot:
                    line(f"    {r['order']} {r['lot_number']} {r['item']}: {r['reported']}", 8.5)
            else:
                line(translate(N_("No result flagged out of trend.")), 8.5)
        elif key == "changes":
            counts([(N_("Changes"), c.get("changes")), (N_("Affecting the product"), c.get("affecting_product")),
                    (N_("Closed in the period"), c.get("closed_in_period"))])  # fmt: skip
            rows_or_none(rows, ((N_("Change"), 28), (N_("Title"), 46), (N_("Type"), 22), (N_("Class"), 18),
                                (N_("Status"), 22), (N_("Closed"), 20), (N_("Affects the product through"), 34)),
                         lambda r: [r["number"], r["title"], label("change_type", r["type"]),
                                    label("change_class", r.get("class") or "unclassified"),
                                    label("change_status", r["status"]), r.get("closed") or "—",
                                    _join(r.get("references") or []) if r.get("affects_product")
                                    else translate(N_("Site change closed in the period"))])  # fmt: skip
        elif key == "complaints":
            counts([(N_("Complaints"), c.get("complaints")), (N_("Justified"), c.get("justified")),
                    (N_("Recalls"), c.get("recalls"))])  # fmt: skip
            rows_or_none(rows, ((N_("Complaint"), 28), (N_("Received"), 20), (N_("Batch"), 24), (N_("Category"), 22),
                                (N_("Classification"), 22), (N_("Status"), 22), (N_("Description"), 52)),
                         lambda r: [r["number"], r.get("received") or "—", r.get("batch_no") or "—",
                                    label("complaint_category", r["category"]),
                                    label("complaint_class", r.get("classification") or "unclassified"),
                                    label("complaint_status", r["status"]), r.get("description") or ""])  # fmt: skip
            recalls = section.get("recalls") or []
            if recalls:
                line(translate(N_("Recalls")), 9.5)
                table(((N_("Recall"), 28), (N_("Kind"), 20), (N_("Level"), 18), (N_("Batches"), 34),
                       (N_("Status"), 24), (N_("Reason"), 66)),
                      [[r["number"], label("recall_kind", r["kind"]), label("recall_level", r["level"]),
                        _join(r["batches"]), label("recall_status", r["status"]), r.get("reason") or ""]
                       for r in recalls])  # fmt: skip
            else:
                line(translate(N_("No recall of the product's batches.")), 8.5)
        elif key == "stability":
            counts([(N_("Studies"), c.get("studies")), (N_("Pull points pulled"), c.get("pulls")),
                    (N_("Failed results"), c.get("failed_results"))])  # fmt: skip
            rows_or_none(rows, ((N_("Study"), 40), (N_("Type"), 22), (N_("Condition"), 26), (N_("Batches"), 26),
                                (N_("Status"), 20), (N_("Latest pull point"), 22), (N_("Latest results"), 34)),
                         lambda r: [f"{r['code']}\n{r.get('title') or ''}", label("study_type", r["type"]),
                                    r.get("condition") or "", _join(r.get("batches") or []),
                                    label("study_status", r["status"]),
                                    f"T{r['latest_point']} · {r.get('latest_order')}"
                                    if r.get("latest_point") is not None else "—",
                                    "\n".join(f"{x['item']}: {x['result']} ({label('verdict', x.get('verdict'))})"
                                              + (" OOT" if x.get("oot") else "") for x in r.get("latest_results") or [])
                                    or translate(N_("No result yet"))])  # fmt: skip
        if p.comments.get(key):
            comment = translate(N_("Reviewer's comment"))
            line(f"{comment}: {p.comments[key]}", 8.5)

    heading(translate(N_("Reviewer's conclusions")))
    stable = {None: "—", True: translate(N_("Yes")), False: translate(N_("No"))}[p.process_stable]
    line(f"{translate(N_('Process stable and capable'))}: {stable}")
    line(f"{translate(N_('Actions'))}: {p.actions or '—'}")
    line(f"{translate(N_('Overall conclusion'))}: {p.overall_conclusion or '—'}")

    heading(translate(N_("Signed decisions")))
    for decision in p.decisions:
        signed = "; ".join(
            f"{label('meanings', s.meaning)} {s.signer_name} ({s.signer_login}) {when(s.signed_at)} · "
            f"{translate(N_('Signature'))}: {label('signature', s.status)}"
            for s in decision.signatures
        ) or translate(N_("Not signed"))
        line(f"{translate(N_('Approved'))}: {decision.decided_by_name} ({decision.decided_by}) · "
             f"{when(decision.decided_at)} · {signed}")  # fmt: skip
        if decision.comment:
            line(f"{translate(N_('Comment'))}: {decision.comment}", 8.5)
        line(f"{translate(N_('Content SM3'))}: {decision.content_sm3} · "
             f"{translate(N_('Conclusions SM3'))}: {decision.review_sm3}", 7)  # fmt: skip
    if not p.decisions:
        line(translate(N_("Not signed")))
    return bytes(pdf.output())


def _impact(impacts: Sequence[str], label: Callable[[str, Any], str]) -> str:
    """``"DH2611001: impact_acceptable"`` → the batch and the conclusion by its label."""
    shown = []
    for text in impacts:
        batch, _, code = str(text).rpartition(": ")
        shown.append(f"{batch}: {label('impact', code)}" if batch else label("impact", code))
    return "\n".join(shown) or "—"
