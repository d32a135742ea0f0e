"""Master recipe versions: approved and immutable, reviewed and approved by two people other than the author,
the next approval supersedes, and the frozen copy a batch takes stays byte-exact (TJ-6.4.3.1, SH-7.1.4)."""

from __future__ import annotations

import copy
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text

from helpers import audit_entries, behind_the_apps_back, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import Conflict, NotPermitted
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.mes import recipes
from pharmatrace.mes.recipe_demo import demo_body
from pharmatrace.mes.recipe_models import MasterRecipeVersion
from pharmatrace.mes.recipe_schemas import RecipeBody
from pharmatrace.storage.engine import Database

CODE = "MR-DH-001"
AUTHOR, REVIEWER, APPROVER = "lina", "zhaomin", "chenjing"


def _usable(db: Database) -> MasterRecipeVersion:
    with db.sessions() as session:
        version = recipes.usable_version(session, CODE)
        assert version is not None
        session.expunge_all()
        return version


def _new_draft(db: Database, summary: str = "冻干一次干燥段调整") -> int:
    with UnitOfWork(db, principal(db, AUTHOR).actor) as uow:
        version = recipes.new_version(uow, CODE, summary)
        uow.commit()
        return version.id


def _edited(version_id: int, db: Database, change: Any) -> None:
    with db.sessions() as session:
        data = copy.deepcopy(
            recipes.body_of(recipes.get_version(session, version_id)).model_dump(mode="json")
        )
    change(data)
    with UnitOfWork(db, principal(db, AUTHOR).actor, reason="一次干燥板层温度调整为 -12 °C") as uow:
        recipes.replace_body(uow, version_id, RecipeBody.model_validate(data))
        uow.commit()


def _lyo_target(data: dict[str, Any]) -> None:
    for unit in data["unit_procedures"]:
        for operation in unit["operations"]:
            for step in operation["steps"]:
                if step["code"] == "LYO-CPP2":
                    step["parameters"][0]["target"] = "-12"


def _submit(db: Database, version_id: int) -> None:
    with UnitOfWork(db, principal(db, AUTHOR).actor) as uow:
        recipes.submit(uow, version_id)
        uow.commit()


def _review(db: Database, version_id: int, login: str = REVIEWER) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        recipes.review(uow, who, version_id, password=DEMO_PASSWORD, login=login)
        uow.commit()


def _approve(db: Database, version_id: int, login: str = APPROVER) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        recipes.approve(uow, who, version_id, password=DEMO_PASSWORD, login=login)
        uow.commit()


@pytest.mark.clause("TJ-6.4.3.1", "SH-7.1.4.a")
def test_the_demo_recipe_is_approved_with_a_review_and_an_approval_signature(db: Database) -> None:
    with db.sessions() as session:
        version = recipes.usable_version(session, CODE)
        assert version is not None and version.status == "approved" and version.created_by == AUTHOR
        frozen = recipes.frozen_body(version)
        assert frozen.sm3 == version.body_sm3 == recipes.body_hash(frozen.text)
        assert frozen.body().unit_procedures[0].code == "UP-EXT"
        kinds = {d.kind: d for d in version.decisions}
        assert kinds["reviewed"].decided_by == REVIEWER and kinds["approved"].decided_by == APPROVER
        for decision, action in ((kinds["reviewed"], "recipe.review"), (kinds["approved"], "recipe.approve")):
            assert decision.body_sm3 == version.body_sm3
            signed = esign.manifestations(session, recipes.DECISION_TYPE, str(decision.id))
            assert [(s.action, s.status, s.signer_login) for s in signed] == [
                (action, "valid", decision.decided_by)
            ]


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-6.4.3.1", "SH-7.1.3")
def test_an_approved_version_is_immutable(db: Database) -> None:
    approved = _usable(db)
    body = demo_body().model_dump(mode="json")
    body["product_name"] = "改过的名称"
    with (
        pytest.raises(Conflict) as refused,
        UnitOfWork(db, principal(db, AUTHOR).actor, reason="try to edit") as uow,
    ):
        recipes.replace_body(uow, approved.id, RecipeBody.model_validate(body))
    assert str(refused.value) == "Only a draft version of a master recipe can be changed"
    with (
        pytest.raises(Conflict),
        UnitOfWork(db, principal(db, AUTHOR).actor, reason="try to edit") as uow,
    ):  # nor through the model, whatever the caller
        row = uow.session.get(MasterRecipeVersion, approved.id)
        assert row is not None
        row.body = "{}"
    with (
        pytest.raises(Exception, match="refused"),
        behind_the_apps_back(db) as conn,
    ):  # nor behind the application's back (a trigger)
        conn.execute(
            text("UPDATE master_recipe_versions SET body = '{}' WHERE id = :id"), {"id": approved.id}
        )
    after = _usable(db)
    assert (after.body, after.body_sm3) == (approved.body, approved.body_sm3)


@pytest.mark.clause("TJ-6.4.3.1", "SH-7.1.4.a", "SH-7.1.4.d")
def test_a_draft_needs_review_and_approval_by_two_people_other_than_the_author(db: Database) -> None:
    draft = _new_draft(db)
    _edited(draft, db, _lyo_target)
    with pytest.raises(Conflict):  # a draft is submitted before anyone reviews it
        _review(db, draft)
    _submit(db, draft)
    # Even holding the review permission, the author may not review her own version.
    author = principal(db, AUTHOR)
    author = replace(author, permissions=author.permissions | {"mes.batch.review"})
    with pytest.raises(recipes.DutiesNotSegregated), UnitOfWork(db, author.actor) as uow:
        recipes.review(uow, author, draft, password=DEMO_PASSWORD, login=AUTHOR)
    with pytest.raises(Conflict, match="reviewed before it is approved"):
        _approve(db, draft)
    _review(db, draft, login=APPROVER)  # chenjing reviews …
    with pytest.raises(recipes.DutiesNotSegregated, match="reviewer"):
        _approve(db, draft)  # … so she cannot also approve
    with pytest.raises(NotPermitted):
        _approve(db, draft, login=REVIEWER)  # zhaomin holds no approval permission
    with db.sessions() as session:
        version = recipes.get_version(session, draft)
        assert version.status == "in_review"
        assert recipes.usable_version(session, CODE).version == 1  # type: ignore[union-attr]


@pytest.mark.clause("TJ-6.4.3.1")
def test_approving_v2_supersedes_v1_and_usable_version_follows(db: Database) -> None:
    v1 = _usable(db)
    with db.sessions() as session:
        batch_copy = recipes.frozen_body(recipes.get_version(session, v1.id))  # a batch froze v1
    draft = _new_draft(db)
    _edited(draft, db, _lyo_target)
    _submit(db, draft)
    _review(db, draft)
    _approve(db, draft)
    with db.sessions() as session:
        usable = recipes.usable_version(session, CODE)
        assert usable is not None and usable.id == draft and usable.version == 2
        old = recipes.get_version(session, v1.id)
        assert old.status == "superseded" and old.superseded_at is not None
        assert (old.body, old.body_sm3) == (
            batch_copy.text,
            batch_copy.sm3,
        )  # the batch's copy is still exact
        with pytest.raises(Conflict):
            recipes.frozen_body(old)  # a new batch cannot take a superseded version
        for decision in old.decisions:  # signed on the decisions: superseding leaves them valid
            states = {
                s.status for s in esign.manifestations(session, recipes.DECISION_TYPE, str(decision.id))
            }
            assert states == {"valid"}
        changes = recipes.diff(old, usable).changes
    assert [(c.where, c.field, c.old, c.new) for c in changes] == [
        ("LYO-CPP2", "parameters", changes[0].old, changes[0].new)
    ]
    assert changes[0].old[0]["target"] == "-10" and changes[0].new[0]["target"] == "-12"


@pytest.mark.clause("TJ-6.4.3.1")
def test_a_returned_version_is_reviewed_again_after_resubmission(db: Database) -> None:
    draft = _new_draft(db)
    _submit(db, draft)
    _review(db, draft)
    reviewer = principal(db, REVIEWER)
    with UnitOfWork(db, reviewer.actor, reason="收率限度需与验证报告一致") as uow:
        recipes.return_to_draft(uow, reviewer, draft)
        uow.commit()
    _submit(db, draft)
    with pytest.raises(Conflict, match="reviewed before it is approved"):
        _approve(db, draft)  # the earlier review was before the new submission


@pytest.mark.clause("TJ-6.4.3.1", "TJ-6.4.1")
def test_the_bom_scales_to_another_batch_size_with_gb8170_rounding(db: Database) -> None:
    with db.sessions() as session:
        version = recipes.usable_version(session, CODE)
        assert version is not None
        scaled = {i.material_code: i for i in recipes.scaled_bom(version, Decimal("7500")).items}
        odd = {i.material_code: i for i in recipes.scaled_bom(version, Decimal("3333.1")).items}
        up = {i.material_code: i for i in recipes.scaled_bom(version, Decimal("3333.3")).items}
        with pytest.raises(Exception, match="greater than zero"):
            recipes.scaled_bom(version, Decimal("0"))
    assert scaled["DP-DS-001"].quantity == Decimal("112.500")
    assert (scaled["DP-DS-001"].low, scaled["DP-DS-001"].high) == (Decimal("111.375"), Decimal("113.625"))
    assert scaled["EXC-MAN-01"].quantity == Decimal("0.450") and scaled["EXC-MAN-01"].low == Decimal("0.448")
    assert scaled["PP-VIAL-10"].quantity == Decimal("7650") and scaled["SP-BOX-10"].high == Decimal("765")
    # 150 × 3333.1 / 10000 = 49.9965: exactly half, kept even (49.996); 49.9995 goes to 50.000
    assert odd["DP-DS-001"].quantity == Decimal("49.996")
    assert up["DP-DS-001"].quantity == Decimal("50.000")
    assert odd["PP-VIAL-10"].quantity == Decimal("3400")  # counted items round to whole vials


@pytest.mark.clause("TJ-6.4.3.1", "SH-7.1.3")
def test_new_version_is_a_draft_copy_and_only_one_is_open(db: Database) -> None:
    draft = _new_draft(db)
    with db.sessions() as session:
        version = recipes.get_version(session, draft)
        usable = recipes.usable_version(session, CODE)
        assert usable is not None
        assert (version.status, version.version, version.body_sm3) == ("draft", 2, usable.body_sm3)
    with pytest.raises(Conflict, match="already has a version in draft or in review"):
        _new_draft(db)
    with db.sessions() as session:
        rows = session.scalars(
            select(MasterRecipeVersion.version).order_by(MasterRecipeVersion.version)
        ).all()
    assert rows == [1, 2]


@pytest.mark.clause("TJ-6.4.3.1", "TJ-B.2.5")
def test_qa_withdraws_the_approved_version_with_a_reason_and_no_batch_can_take_it(db: Database) -> None:
    approved = _usable(db)
    qa = principal(db, APPROVER)
    with pytest.raises(NotPermitted), UnitOfWork(db, principal(db, AUTHOR).actor, reason="x") as uow:
        recipes.withdraw(uow, principal(db, AUTHOR), approved.id)
    with UnitOfWork(db, qa.actor, reason="工艺变更，暂停使用") as uow:
        recipes.withdraw(uow, qa, approved.id)
        uow.commit()
    with db.sessions() as session:
        assert recipes.usable_version(session, CODE) is None
        version = recipes.get_version(session, approved.id)
        assert version.status == "withdrawn" and version.withdrawn_at is not None
        with pytest.raises(Conflict):
            recipes.frozen_body(version)
    entries = audit_entries(db, object_type="master_recipe_version", object_id=str(approved.id))
    assert entries[-1].reason == "工艺变更，暂停使用" and entries[-1].changes["status"] == [
        "approved",
        "withdrawn",
    ]
