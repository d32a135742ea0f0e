"""``pharmatrace recipes`` — master recipes from the command line (TJ-6.4.3.1).

``import FILE --as LOGIN`` makes a draft from a YAML or JSON file as that user (who logs in with their
password); ``list``, ``show`` and ``bom`` read. Review and approval are signed on the page or through the API.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel, ValidationError

from pharmatrace.cli_support import database, echo_json, fail
from pharmatrace.kernel.errors import PharmaTraceError
from pharmatrace.kernel.identity.cli_login import log_in, read_password
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import recipes
from pharmatrace.mes.recipe_demo import load_file
from pharmatrace.mes.recipe_schemas import RecipeBody

recipes_app = typer.Typer(
    help="Master recipes: import, list, show, scaled bill of materials", no_args_is_help=True
)


@recipes_app.command("import")
def import_file(
    file: Annotated[Path, typer.Argument(help="a recipe file, YAML or JSON", exists=True, dir_okay=False)],
    as_login: Annotated[str, typer.Option("--as", help="log-in ID of the author (mes.recipe.author)")],
    summary: Annotated[str, typer.Option("--summary", help="what this version changes")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
) -> None:
    """Import a draft: a new master recipe, or the next version of an existing one."""
    try:
        body = RecipeBody.model_validate(load_file(file.read_text(encoding="utf-8")))
    except (ValidationError, ValueError) as error:
        fail(f"{file}: {error}")
    db = database()
    try:
        principal = log_in(db, as_login, read_password(password_stdin, as_login))
        principal.require("mes.recipe.author")
        with UnitOfWork(db, principal.actor) as uow:
            version = recipes.import_draft(uow, body, summary)
            uow.commit()
            code, number, digest = version.recipe.code, version.version, version.body_sm3
    except PharmaTraceError as error:
        fail(error)
    typer.echo(f"{code} version {number} imported as a draft (SM3 {digest})")


@recipes_app.command("list")
def list_recipes(
    status: Annotated[
        str, typer.Option("--status", help="draft, in_review, approved, superseded, withdrawn")
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="the API's records")] = False,
) -> None:
    """Master recipes with their usable and latest versions."""
    with database().sessions() as session:
        found = [recipes.recipe_public(r) for r in recipes.list_recipes(session, status=status)]
    if as_json:
        echo_json(list[BaseModel](found))
        return
    for r in found:
        usable = f"v{r.usable_version}" if r.usable_version else "—"
        typer.echo(
            f"{r.code:<12} {r.product_name}  usable {usable}  latest v{r.latest_version} ({r.latest_status})"
        )


@recipes_app.command("show")
def show(
    code: Annotated[str, typer.Argument(help="the recipe code")],
    version: Annotated[int | None, typer.Option("--version", help="default: the usable version")] = None,
) -> None:
    """A version as JSON, body included."""
    with database().sessions() as session:
        try:
            found = (
                recipes.version_of(session, code, version)
                if version is not None
                else recipes.usable_version(session, code)
            )
        except PharmaTraceError as error:
            fail(error)
        if found is None:
            fail(f"{code} has no approved version")
        echo_json(recipes.version_detail(found))


@recipes_app.command("bom")
def bom(
    code: Annotated[str, typer.Argument(help="the recipe code")],
    batch_size: Annotated[str, typer.Argument(help="the batch size, in the recipe's batch unit")],
    version: Annotated[int | None, typer.Option("--version", help="default: the usable version")] = None,
) -> None:
    """The bill of materials scaled to a batch size (GB/T 8170 rounding)."""
    try:
        size = Decimal(batch_size)
    except InvalidOperation:
        fail(f"not a number: {batch_size!r}")
    with database().sessions() as session:
        try:
            found = (
                recipes.version_of(session, code, version)
                if version is not None
                else recipes.usable_version(session, code)
            )
            if found is None:
                fail(f"{code} has no approved version")
            scaled = recipes.scaled_bom(found, size)
        except PharmaTraceError as error:
            fail(error)
    typer.echo(f"{scaled.recipe_code} v{scaled.version} for {scaled.batch_size} {scaled.batch_unit}")
    for item in scaled.items:
        typer.echo(
            f"  {item.material_code:<12} {item.quantity} {item.unit}  [{item.low} – {item.high}]  at {item.step}"
        )
