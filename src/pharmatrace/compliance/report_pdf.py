"""The printable validation report (A4, Chinese font embedded): summary, chart, matrix, IQ and OQ."""

from __future__ import annotations

from typing import Any

from pharmatrace.compliance.catalogue import Kind
from pharmatrace.compliance.matrix import SOFTWARE_STATUSES, Matrix, Status
from pharmatrace.compliance.qualification import Installation
from pharmatrace.kernel.pdf import page_sized_rows, report_pdf

GREY = (95, 107, 122)
HEADING_FILL = (230, 236, 242)
ROW_LINES = 40  # wrapped lines per table row; longer cells continue in the next row


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def render_pdf(context: dict[str, Any]) -> bytes:
    from fpdf.fonts import FontFace

    matrix: Matrix = context["matrix"]
    iq: Installation = context["iq"]
    labels = context["labels"]
    run = context["run"]
    title = "PharmaTrace 计算机化系统验证报告 Computerized-system validation report"
    generated = f"生成时间 Generated {context['generated']}（北京时间 Beijing time）"

    pdf = report_pdf(
        header=title, footer=generated, title=title, page_label="第 {page} 页 / 共 {pages} 页",
        orientation="P", margin=12, size=7,
    )  # fmt: skip
    heading_style = FontFace(emphasis="", fill_color=HEADING_FILL)

    def heading(text: str, size: float = 13) -> None:
        pdf.set_font("cjk", size=size)
        pdf.multi_cell(0, size * 0.55, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1)
        pdf.set_font("cjk", size=8.5)

    def paragraph(text: str) -> None:
        pdf.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")

    def table(widths: tuple[float, ...], head: list[str], rows: list[list[str]], size: float = 7.5) -> None:
        pdf.set_font("cjk", size=size)
        line_height = size * 0.5
        with pdf.table(
            col_widths=widths,
            width=sum(widths),
            line_height=line_height,
            text_align="LEFT",
            v_align="TOP",
            repeat_headings=1,
            headings_style=heading_style,
        ) as t:
            t.row(head)
            for row in rows:
                for part in page_sized_rows(pdf, row, widths, line_height, ROW_LINES):
                    t.row(part)
        pdf.set_font("cjk", size=8.5)
        pdf.ln(2)

    pdf.add_page()
    heading(title, 15)
    pdf.set_font("cjk", size=8.5)
    paragraph(generated + (f" · revision {iq.revision}" if iq.revision else ""))
    for key, name in context["standards"].items():
        paragraph(f"{key}: {name}")
    if run is None:
        paragraph(
            "尚无测试运行记录 No test run recorded: run `make test` or `pharmatrace compliance report --run`."
        )
    else:
        totals = " · ".join(f"{k} {v}" for k, v in context["totals"].items())
        paragraph(
            f"测试运行 Test run: {context['beijing'](run.started)} → {context['beijing'](run.finished)}, {totals}"
        )
        if not run.complete:
            paragraph(f"部分运行 Partial run: {' '.join(run.command)} — not the whole suite.")
    pdf.ln(2)

    heading("1 摘要 Summary")
    overall = context["overall"]
    paragraph(
        f"软件条款尚未覆盖 Software clauses not yet covered: {context['uncovered']} / {overall.software}; "
        f"已覆盖且通过 passing: {overall.counts[Status.PASSING]}; 失败 failing: {overall.counts[Status.FAILING]}; "
        f"规程性 procedural: {overall.procedural}."
    )
    head = ["标准 Standard", "软件 software", *[labels[s][0] for s in SOFTWARE_STATUSES], "规程性 procedural"]
    rows = [
        [t.label, str(t.software), *[str(t.counts[s]) for s in SOFTWARE_STATUSES], str(t.procedural)]
        for t in context["by_standard"]
    ]
    table((24, 20, 22, 22, 22, 20, 22, 24), head, rows)

    heading("按章节 By chapter (software clauses)", 10)
    scale = 130 / (context["chart_width"] or 1)
    y = pdf.get_y()
    for bar in context["bars"]:
        if y > pdf.h - 25:
            pdf.add_page()
            y = pdf.get_y()
        pdf.set_xy(pdf.l_margin, y)
        pdf.set_font("cjk", size=7.5)
        pdf.cell(20, 4, bar.label)
        for status, _, x, width in bar.segments:
            pdf.set_fill_color(*_rgb(context["colours"][status]))
            pdf.rect(pdf.l_margin + 22 + x * scale, y + 0.5, max(width * scale, 0.3), 3.2, style="F")
        pdf.set_xy(pdf.l_margin + 22 + 130 + 2, y)
        pdf.cell(10, 4, str(bar.total))
        y += 5
    pdf.set_xy(pdf.l_margin, y + 1)
    for status in SOFTWARE_STATUSES:
        pdf.set_fill_color(*_rgb(context["colours"][status]))
        pdf.rect(pdf.get_x(), pdf.get_y() + 0.8, 3, 3, style="F")
        pdf.set_x(pdf.get_x() + 4)
        pdf.cell(28, 4.5, labels[status][0])
    pdf.ln(8)

    pdf.add_page()
    heading("2 需求追溯矩阵 Requirements traceability matrix")
    paragraph("覆盖状态只来自测试运行，无人工标注。Coverage comes only from the recorded test run.")
    rows = []
    for row in matrix.rows:
        r = row.requirement
        status = labels[row.status][0] + (f"\n({labels[row.aggregate][0]})" if row.aggregate else "")
        evidence = "\n".join(f"{t.nodeid} — {t.outcome}" for t in row.tests)
        if r.kind is Kind.PROCEDURAL:
            evidence = f"supported by: {r.supported_by}" + (f"\n{evidence}" if evidence else "")
        text = (r.reading or r.text).replace("\n", " ").replace("\t", " ")
        rows.append([r.id, f"{text}\n{r.summary}", status, evidence])
    table(
        (22, 82, 18, 64),
        ["条款 Clause", "原文与摘要 Text and summary", "状态 Status", "证据 Evidence"],
        rows,
        6.5,
    )

    pdf.add_page()
    heading("3 安装确认 Installation qualification")
    db = iq.database
    facts = [
        ["Python", f"{iq.implementation} {iq.python} — {iq.executable}"],
        ["平台 Platform", iq.platform],
        [
            "数据库 Database",
            f"{db.get('engine')} · {db.get('version', '—')} · schema {db.get('schema_revision', '—')}",
        ],
        ["程序文件 Files", f"{len(iq.source_files)} files, tree SHA-256 {iq.source_tree_sha256}"],
        [
            "安装核对 Installed files",
            f"{iq.files_verified} files match the SHA-256 recorded at installation; "
            + (f"{len(iq.files_not_matching)} do not" if iq.files_not_matching else "none differs"),
        ],
        *[[f"config {k}", v] for k, v in iq.configuration.items()],
    ]
    table((40, 146), ["项目 Item", "值 Value"], facts)
    table(
        (80, 50, 56),
        ["软件包 Distribution", "版本 Version", "文件核对 files verified"],
        [
            [d.name, d.version, f"{d.verified}/{d.files}" + ("" if d.intact else " ✗")]
            for d in iq.distributions
        ],
    )
    table((96, 90), ["程序文件 File", "SHA-256"], [[f.path, f.sha256] for f in iq.source_files], 5.5)

    pdf.add_page()
    heading("4 运行确认 Operational qualification")
    if run is None:
        paragraph("尚无测试运行记录 No run recorded.")
    else:
        paragraph(f"命令 Command: {' '.join(run.command)} · host {run.host} · Python {run.python}")
        paragraph(
            f"{context['beijing'](run.started)} → {context['beijing'](run.finished)} ({run.duration:.0f} s)"
        )
        failing = context["failing_tests"]
        if failing:
            table(
                (110, 20, 56),
                ["失败 Failing", "outcome", "message"],
                [[t.nodeid, t.outcome, t.message or ""] for t in failing],
            )
        table(
            (110, 16, 12, 48),
            ["测试 Test", "结果 Outcome", "s", "条款 Clauses"],
            [[t.nodeid, t.outcome, f"{t.duration:.2f}", " ".join(t.clauses)] for t in run.tests],
            5.5,
        )
    return bytes(pdf.output())
