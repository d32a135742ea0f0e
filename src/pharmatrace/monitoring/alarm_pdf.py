"""The alarm history as PDF (报警记录, TJ-6.5, SH-8.4.3): fpdf2 with the embedded Chinese font. One row per alarm
— raised (Beijing time), location (room and place), equipment, content (tag, condition, value against its
limit), state — followed by its transitions with who, when and the comment."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import N_
from pharmatrace.kernel.pdf import report_pdf, table_row, text_line
from pharmatrace.monitoring.alarm_schemas import AlarmPublic
from pharmatrace.monitoring.alarms import CONDITION_LABELS, STATE_LABELS, TRANSITION_LABELS

Translate = Callable[..., str]
LINE = 4.6
WIDTHS = (22.0, 34.0, 42.0, 30.0, 104.0, 45.0)  # number, time, location, equipment, content, state: 277 mm


def _plain(number: object) -> str:
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def render_pdf(found: Sequence[AlarmPublic], *, filters: Mapping[str, str], printed_by: str,
               printed_at: datetime, translate: Translate) -> bytes:  # fmt: skip
    title = translate(N_("Alarm history"))
    printed = translate(N_("Printed by {name} at {time} (Beijing time)")).format(
        name=printed_by, time=clock.format_beijing(printed_at)
    )
    pdf = report_pdf(header=f"{translate(N_('PharmaTrace'))} · {title}", footer=printed, title=title,
                     page_label=translate(N_("Page {page} of {pages}")), author=printed_by)  # fmt: skip
    pdf.set_creation_date(printed_at)
    pdf.set_lang("zh-CN")
    pdf.add_page()
    pdf.set_font("cjk", size=15)
    pdf.cell(0, 9, title, align="C", new_x="LMARGIN", new_y="NEXT")
    shown = "; ".join(f"{key}: {value}" for key, value in filters.items() if value) or translate(N_("All"))
    text_line(pdf, f"{translate(N_('Search'))}: {shown} · {translate(N_('{count} alarms'), count=len(found))}",
              LINE, 8.5)  # fmt: skip
    pdf.ln(1)
    pdf.set_fill_color(230, 236, 242)
    pdf.set_font("cjk", size=8)
    head = [
        N_("Alarm"),
        N_("Raised (Beijing time)"),
        N_("Location"),
        N_("Equipment"),
        N_("Content"),
        N_("State"),
    ]
    table_row(pdf, [translate(h) for h in head], WIDTHS, LINE, fill=True)
    for alarm in found:
        limit = f" / {_plain(alarm.limit)}" if alarm.limit is not None else ""
        content = (f"{alarm.tag} {alarm.description}\n{translate(CONDITION_LABELS[alarm.condition])}: "
                   f"{alarm.value or '—'}{limit} {alarm.unit} · {translate(N_('Rule'))} {alarm.rule}")  # fmt: skip
        location = " ".join(x for x in (alarm.room or "", alarm.room_name or "", alarm.location) if x) or "—"
        began = clock.format_beijing(alarm.began_at)
        table_row(pdf, [alarm.number, f"{clock.format_beijing(alarm.raised_at)}\n({began})", location,
                        alarm.equipment or "—", content, translate(STATE_LABELS[alarm.state])], WIDTHS, LINE)  # fmt: skip
        for step in alarm.transitions:
            value = f" {step.value}" if step.value is not None else ""
            text_line(pdf, f"    {translate(TRANSITION_LABELS[step.transition])} · {clock.format_beijing(step.at)} · "
                           f"{step.by_name} ({step.by}){value} {step.comment}", LINE, 7.5)  # fmt: skip
    return bytes(pdf.output())
