"""``pharmatrace documents`` — the document library from the command line (SH-6.3.3, TJ-9.2).

``list`` and ``show`` print what the library shows (``--json``: the API's records); ``import FILE`` creates a
controlled document whose version 1 is a file (PDF, DOCX, PNG, JPEG) or a Markdown text (``.md``), as the
author who logs in with ``--as``; it then goes through review and approval in the application.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError

from pharmatrace.cli_support import database, echo_json, fail
from pharmatrace.documents import service
from pharmatrace.documents.schemas import DocumentCreate
from pharmatrace.kernel import clock
from pharmatrace.kernel.errors import PharmaTraceError
from pharmatrace.kernel.identity.cli_login import log_in, read_password
from pharmatrace.kernel.uow import UnitOfWork

documents_app = typer.Typer(help="Controlled documents: list, show, import", no_args_is_help=True)


def _when(moment: object) -> str:
    from datetime import datetime

    return clock.format_beijing(moment, seconds=False) if isinstance(moment, datetime) else "—"


@documents_app.command("list")
def list_documents(
    q: Annotated[str, typer.Option("--q", help="number, title, keyword or a word of the text")] = "",
    doc_type: Annotated[str, typer.Option("--type", help="sop, specification, …")] = "",
    department: Annotated[str, typer.Option("--department", help="PR, QA, …")] = "",
    state: Annotated[
        str, typer.Option("--state", help="effective, draft, in_review, approved, obsolete")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="the API's records")] = False,
) -> None:
    """The library with each document's state now."""
    with database().sessions() as session:
        rows = [
            service.document_public(session, d)
            for d in service.list_documents(
                session, text=q, doc_type=doc_type, department=department, state=state
            )
        ]
    if as_json:
        echo_json(list[BaseModel](rows))
        return
    for row in rows:
        version = f"v{row.effective_version}" if row.effective_version else "—"
        typer.echo(f"{row.number:<14} {row.state:<10} {version:<4} {row.title}")


@documents_app.command("show")
def show(
    number: Annotated[str, typer.Argument(help="the document number, e.g. SOP-PR-001")],
    as_json: Annotated[bool, typer.Option("--json", help="the API's record")] = False,
) -> None:
    """A document with its versions and their states."""
    with database().sessions() as session:
        try:
            public = service.document_public(
                session, service.get_document(session, number), with_versions=True
            )
        except PharmaTraceError as error:
            fail(str(error))
            return
    if as_json:
        echo_json(public)
        return
    typer.echo(f"{public.number} {public.title} ({public.doc_type}, {public.department}, GMP: {public.gmp})")
    typer.echo(f"  state {public.state}; next periodic review {public.next_review_due or '—'}")
    for v in public.versions:
        content = v.file_name or "markdown"
        typer.echo(
            f"  v{v.version:<3} {v.state:<11} effective {_when(v.effective_from):<17} {content} sm3 {v.sm3}"
        )
        typer.echo(f"       {v.change_summary}")


@documents_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="PDF, DOCX, PNG, JPEG or .md")],
    title: Annotated[str, typer.Option("--title")],
    doc_type: Annotated[str, typer.Option("--type", help="sop, specification, policy, form, …")],
    department: Annotated[str, typer.Option("--department", help="PR, QA, QC, WH, EQ, CL…")],
    as_login: Annotated[str, typer.Option("--as", help="log-in ID of the author")],
    number: Annotated[str, typer.Option("--number", help="empty: the next number of the rule")] = "",
    keywords: Annotated[str, typer.Option("--keywords")] = "",
    gmp: Annotated[bool, typer.Option("--gmp/--no-gmp")] = True,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
) -> None:
    """Create a document whose draft version 1 is FILE."""
    data = file.read_bytes()
    markdown = file.suffix.lower() in (".md", ".markdown", ".txt")
    values = {"number": number or None, "title": title, "doc_type": doc_type, "department": department,
              "keywords": keywords, "gmp": gmp, "markdown": data.decode("utf-8") if markdown else None}  # fmt: skip
    try:
        body = DocumentCreate.model_validate(values)
    except ValidationError as error:
        fail("; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in error.errors()))
        return
    except UnicodeDecodeError:
        fail("the text file is not UTF-8")
        return
    db = database()
    try:
        principal = log_in(db, as_login, read_password(password_stdin, as_login))
        with UnitOfWork(db, principal.actor) as uow:
            version = service.create_document(uow, principal, body, None if markdown else (data, file.name))
            created = (version.document.number, version.sm3 or service.content_sm3(version))
            uow.commit()
    except PharmaTraceError as error:
        fail(str(error))
        return
    typer.echo(f"created {created[0]} version 1 (draft), sm3 {created[1]}")
