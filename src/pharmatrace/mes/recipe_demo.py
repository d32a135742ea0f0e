"""The demo plant's master recipe (TJ-6.4.3.1): 注射用丹红冻干粉, from herb extraction to packaging.

The recipe lives in ``demo_recipe.yaml`` next to this module, in the import-file shape. It goes the way a
real one does: lina (production supervisor) imports it as a draft and submits it, zhaomin (QA) reviews it
and chenjing (QA) approves it, each signing with their password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from pharmatrace.kernel.identity import service as identity
from pharmatrace.kernel.identity.service import Principal
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import recipes
from pharmatrace.mes.recipe_models import MasterRecipe
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database

DEMO_RECIPE = Path(__file__).with_name("demo_recipe.yaml")
AUTHOR, REVIEWER, APPROVER = "lina", "zhaomin", "chenjing"


def load_file(text: str) -> dict[str, Any]:
    """An import file's content (YAML, of which JSON is a subset) as plain data; not a mapping → empty."""
    data = yaml.safe_load(text)
    return data if isinstance(data, dict) else {}


def demo_body() -> RecipeBody:
    return RecipeBody.model_validate(load_file(DEMO_RECIPE.read_text(encoding="utf-8")))


def _principal(db: Database, login: str) -> Principal:
    with db.sessions() as session:
        user = identity.find_user(session, login)
        assert user is not None, login
        return identity.principal_of(user)


def seed_recipes(db: Database, password: str) -> int:
    """Import, submit, review and approve the demo recipe unless it exists; returns how many were added."""
    body = demo_body()
    with db.sessions() as session:
        if session.scalar(select(MasterRecipe.id).where(MasterRecipe.code == body.recipe_code)):
            return 0
    author, reviewer, approver = (_principal(db, login) for login in (AUTHOR, REVIEWER, APPROVER))
    with UnitOfWork(db, author.actor, reason="demo plant seed: master recipe") as uow:
        version = recipes.import_draft(uow, body, "首版：依据工艺规程 MPR-DH-001 建立电子主配方")
        uow.commit()
        version_id = version.id
    with UnitOfWork(db, author.actor) as uow:
        recipes.submit(uow, version_id)
        uow.commit()
    with UnitOfWork(db, reviewer.actor) as uow:
        recipes.review(uow, reviewer, version_id, password=password, login=reviewer.login,
                       comment="与工艺规程一致，关键参数与验证结果一致")  # fmt: skip
        uow.commit()
    with UnitOfWork(db, approver.actor) as uow:
        recipes.approve(
            uow, approver, version_id, password=password, login=approver.login, comment="批准使用"
        )
        uow.commit()
    return 1
