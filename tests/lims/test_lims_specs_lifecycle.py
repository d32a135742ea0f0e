"""Specifications: written by QC as drafts, approved by the qualified person's signature, never by whoever
wrote them; approved versions are frozen in the database itself; a material has several effective
specifications (pharmacopoeia and in-house, release and shelf life) (TJ-7.2, SH-6.2.3, SH-7.1.4, TJ-10.2)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from helpers import behind_the_apps_back, count_rows, principal
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.kernel.errors import AuthenticationFailed, Conflict, NotPermitted
from pharmatrace.kernel.esign import service as esign
from pharmatrace.kernel.esign.models import Signature
from pharmatrace.kernel.uow import UnitOfWork
from pharmatrace.lims import specs
from pharmatrace.lims.specs_models import (
    Specification,
    SpecificationDecision,
    SpecificationItem,
    SpecificationVersion,
)
from pharmatrace.lims.specs_schemas import DraftReplace, HeaderUpdate, ItemIn, SpecificationCreate
from pharmatrace.storage.engine import Database

AUTHOR, APPROVER = "sunli", "zhaomin"


def _water(upper: str = "13.0") -> ItemIn:
    return ItemIn(name="水分", limit_type="le", upper=Decimal(upper), unit="%", decimals=1,
                  method="通则0832 第二法")  # fmt: skip


def _body(**changes: Any) -> SpecificationCreate:
    data: dict[str, Any] = {
        "code": "QS-DP-DS-001", "category": "decoction_piece", "title": "丹参饮片质量标准",
        "basis": "《中国药典》2025年版一部", "standard_kind": "pharmacopoeia", "purpose": "release",
        "material_codes": ["DP-DS-001"], "change_summary": "首次发布",
        "items": [
            _water().model_dump(),
            {"name": "性状", "limit_type": "text", "decimals": 0, "requirement": "呈类圆形或椭圆形的厚片"},
        ],
    }  # fmt: skip
    data.update(changes)
    return SpecificationCreate.model_validate(data)


def _create(db: Database, body: SpecificationCreate | None = None, login: str = AUTHOR) -> int:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        version = specs.create_specification(uow, who, body or _body())
        uow.commit()
        return version.id


def _submit(db: Database, version_id: int, login: str = AUTHOR) -> None:
    who = principal(db, login)
    with UnitOfWork(db, who.actor) as uow:
        specs.submit(uow, who, version_id)
        uow.commit()


def _approve(db: Database, version_id: int, login: str = APPROVER, who: Any = None) -> None:
    signer = who or principal(db, login)
    with UnitOfWork(db, signer.actor) as uow:
        specs.approve(uow, signer, version_id, password=DEMO_PASSWORD, login=signer.login)
        uow.commit()


def _version(db: Database, version_id: int) -> SpecificationVersion:
    with db.sessions() as session:
        version = specs.get_version(session, version_id)
        _ = (version.items, version.materials, version.decisions, version.specification)
        session.expunge_all()
        return version


@pytest.mark.clause("TJ-7.2", "SH-6.2.3", "TJ-10.2")
def test_the_demo_specifications_are_approved_by_the_qualified_persons_signature(db: Database) -> None:
    with db.sessions() as session:
        herb = specs.effective_specs(session, "HB-DS-001")
        assert [(v.specification.code, v.standard_kind) for v in herb] == [
            ("QS-HB-DS-001", "pharmacopoeia"),
            ("QS-HB-DS-002", "in_house"),
        ]  # several specifications per material
        chp = herb[0]
        assert chp.status == "approved" and chp.created_by == AUTHOR and chp.approved_by == APPROVER
        assert chp.content_sm3 == specs.content_hash(specs.canonical_content(chp))
        names = [i.name for i in chp.items]
        assert names[:3] == ["性状", "鉴别", "水分"] and "含量测定（丹酚酸B）" in names
        water = chp.items[2]
        assert (water.limit_type, water.upper, water.decimals, water.rounding) == (
            "le",
            Decimal("13.0"),
            1,
            "gbt8170",
        )
        (decision,) = chp.decisions
        assert decision.kind == "approved" and decision.content_sm3 == chp.content_sm3
        signed = esign.manifestations(session, specs.DECISION_TYPE, str(decision.id))
        assert [(s.action, s.meaning, s.signer_login, s.status) for s in signed] == [
            ("lims.spec.approve", "approved", APPROVER, "valid")
        ]
        release = specs.effective_specs(session, "FG-DH-0200", "release")
        shelf = specs.effective_specs(session, "FG-DH-0200", "shelf_life")
        assert [v.specification.code for v in release] == ["QS-FG-DH-001"]
        assert [v.specification.code for v in shelf] == ["QS-FG-DH-002"]
        assert [v.specification.code for v in specs.effective_specs(session, "EXC-MAN-01", "shelf_life")] == [
            "QS-EXC-MAN-001"  # a "both" specification serves either purpose
        ]
        assert release[0].document_number == "SPEC-DH-001"
        assert specs.effective_specs(session, "PP-VIAL-10") == []  # its specification waits in review
        assert specs.effective_version(session, "QS-PP-VIAL-001") is None
        assert specs.effective_version(session, "QS-NOPE") is None


@pytest.mark.clause("TJ-7.2", "SH-6.2.3", "TJ-10.2")
def test_a_draft_is_written_submitted_and_approved_by_signature(db: Database) -> None:
    signatures = count_rows(db, Signature)
    draft = _create(db)
    created = _version(db, draft)
    assert (created.version, created.status, created.created_by) == (1, "draft", AUTHOR)
    assert [i.name for i in created.items] == ["水分", "性状"]
    assert [m.material_code for m in created.materials] == ["DP-DS-001"]
    _submit(db, draft)
    _approve(db, draft)
    approved = _version(db, draft)
    assert approved.status == "approved" and approved.approved_by == APPROVER
    assert approved.content_sm3 == created.content_sm3  # submitted and approved exactly what was written
    assert count_rows(db, Signature) == signatures + 1
    with db.sessions() as session:
        (found,) = specs.effective_specs(session, "DP-DS-001")
        assert found.id == draft
        assert specs.effective_version(session, "QS-DP-DS-001").id == draft  # type: ignore[union-attr]


@pytest.mark.clause("TJ-7.2", "SH-7.1.4", "SH-7.1.4.a")
def test_the_author_cannot_approve_her_own_version_and_nothing_changes(db: Database) -> None:
    draft = _create(db)
    _submit(db, draft)
    # The author holding the approval permission too is still refused: segregation of duties.
    author = principal(db, AUTHOR)
    both = replace(author, permissions=author.permissions | {"lims.spec.approve"})
    decisions, signatures = count_rows(db, SpecificationDecision), count_rows(db, Signature)
    with pytest.raises(specs.DutiesNotSegregated) as refused:
        _approve(db, draft, who=both)
    assert str(refused.value) == "The author of a specification version cannot approve it"
    assert _version(db, draft).status == "in_review"
    assert (count_rows(db, SpecificationDecision), count_rows(db, Signature)) == (decisions, signatures)
    with pytest.raises(NotPermitted):
        _approve(db, draft, login=AUTHOR)  # and without it, the permission check refuses her first


@pytest.mark.clause("TJ-7.2", "SH-7.1.4")
def test_whoever_edited_a_draft_counts_as_its_author(db: Database) -> None:
    draft = _create(db)
    qa = principal(db, APPROVER)
    editing_qa = replace(qa, permissions=qa.permissions | {"lims.spec.author"})
    with UnitOfWork(db, editing_qa.actor) as uow:
        specs.add_item(uow, editing_qa, draft, ItemIn(name="总灰分", limit_type="le", upper=Decimal("10.0"),
                                                      unit="%"))  # fmt: skip
        uow.commit()
    _submit(db, draft)  # the last word is the author's
    with pytest.raises(specs.DutiesNotSegregated):
        _approve(db, draft)  # 赵敏 changed the content: she may not approve it
    assert _version(db, draft).status == "in_review"


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-7.2", "SH-7.1.3")
def test_an_approved_version_cannot_be_edited_by_the_service_or_behind_its_back(db: Database) -> None:
    with db.sessions() as session:
        approved = specs.effective_version(session, "QS-HB-DS-001")
        assert approved is not None
        approved_id, item_id, sm3 = approved.id, approved.items[2].id, approved.content_sm3
    author = principal(db, AUTHOR)
    for write in (
        lambda uow: specs.add_item(uow, author, approved_id, _water("12.0").model_copy(update={"name": "灰分"})),
        lambda uow: specs.update_item(uow, author, item_id, _water("14.0")),
        lambda uow: specs.remove_item(uow, author, item_id),
        lambda uow: specs.update_header(uow, author, approved_id, HeaderUpdate(
            title="改过的标题", basis="x", material_codes=["HB-DS-001"])),
    ):  # fmt: skip
        with pytest.raises(Conflict) as refused, UnitOfWork(db, author.actor, reason="try to edit") as uow:
            write(uow)
        assert str(refused.value) == "Only a draft version of a specification can be changed"
    for statement in (
        "UPDATE lims_spec_items SET upper = 14 WHERE id = :item",
        "UPDATE lims_spec_versions SET title = 'x' WHERE id = :version",
        "INSERT INTO lims_spec_items (version_id, position, name, method, unit, limit_type, upper, requirement, "
        "decimals, rounding, formula, raw_inputs) VALUES (:version, 99, '灰分', '', '%', 'le', 5, '', 1, "
        "'gbt8170', '', '[]')",
        "INSERT INTO lims_spec_materials (version_id, material_id, material_code) "
        "SELECT :version, id, code FROM materials WHERE code = 'HB-HH-001'",
    ):
        with pytest.raises(DBAPIError, match="refused"), behind_the_apps_back(db) as conn:
            conn.execute(text(statement), {"item": item_id, "version": approved_id})
    after = _version(db, approved_id)
    assert after.content_sm3 == sm3 == specs.content_hash(specs.canonical_content(after))
    assert after.items[2].upper == Decimal("13.0")


@pytest.mark.clause("TJ-7.2", "TJ-10.2")
def test_approving_a_new_version_supersedes_the_effective_one_and_its_signature_stays_valid(
    db: Database,
) -> None:
    author = principal(db, AUTHOR)
    with UnitOfWork(db, author.actor) as uow:
        draft = specs.new_version(uow, author, "QS-HB-DS-001", "水分限度收紧至 12.0%").id
        uow.commit()
    with db.sessions() as session:
        water = next(i for i in specs.get_version(session, draft).items if i.name == "水分")
        water_id = water.id
    with UnitOfWork(db, author.actor, reason="注射剂用药材水分控制") as uow:
        specs.update_item(uow, author, water_id, _water("12.0"))
        uow.commit()
    with UnitOfWork(db, author.actor) as uow, pytest.raises(Conflict, match="already has a version"):
        specs.new_version(uow, author, "QS-HB-DS-001", "另一个")
    _submit(db, draft)
    _approve(db, draft)
    with db.sessions() as session:
        spec = specs.get_specification(session, "QS-HB-DS-001")
        old, new = spec.versions
        assert (old.status, new.status, new.version) == ("superseded", "approved", 2)
        assert old.superseded_at is not None
        assert next(i for i in old.items if i.name == "水分").upper == Decimal("13.0")  # v1 unchanged
        assert next(i for i in new.items if i.name == "水分").upper == Decimal("12.0")
        for decision in old.decisions:
            assert {
                s.status for s in esign.manifestations(session, specs.DECISION_TYPE, str(decision.id))
            } == {"valid"}
        assert specs.effective_version(session, "QS-HB-DS-001").id == new.id  # type: ignore[union-attr]


@pytest.mark.clause("TJ-7.2")
def test_a_returned_version_goes_back_to_draft_with_the_reason(db: Database) -> None:
    draft = _create(db)
    _submit(db, draft)
    qa = principal(db, APPROVER)
    with UnitOfWork(db, qa.actor) as uow, pytest.raises(Exception, match="reason"):
        specs.return_to_draft(uow, qa, draft)  # no reason: refused, nothing written
    with UnitOfWork(db, qa.actor, reason="水分方法应注明第二法") as uow:
        specs.return_to_draft(uow, qa, draft)
        uow.commit()
    returned = _version(db, draft)
    assert returned.status == "draft"
    assert [(d.kind, d.comment) for d in returned.decisions] == [("returned", "水分方法应注明第二法")]
    author = principal(db, AUTHOR)
    with UnitOfWork(db, author.actor) as uow:  # the author can edit it again
        specs.update_item(uow, author, returned.items[0].id, _water("12.0"))
        uow.commit()
    _submit(db, draft)
    _approve(db, draft)
    assert _version(db, draft).status == "approved"


@pytest.mark.clause("TJ-7.2", "TJ-10.2")
def test_a_wrong_password_approves_nothing(db: Database) -> None:
    draft = _create(db)
    _submit(db, draft)
    qa = principal(db, APPROVER)
    before = (count_rows(db, SpecificationDecision), count_rows(db, Signature))
    with pytest.raises(AuthenticationFailed), UnitOfWork(db, qa.actor) as uow:
        specs.approve(uow, qa, draft, password="not-the-password", login=APPROVER)
    assert _version(db, draft).status == "in_review"
    assert (count_rows(db, SpecificationDecision), count_rows(db, Signature)) == before


@pytest.mark.clause("TJ-7.2")
@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"material_codes": ["NO-SUCH-01"]}, "There is no usable material NO-SUCH-01"),
        ({"material_codes": ["HB-DS-001"]},
         "Material HB-DS-001 is not of a kind a specification for “Decoction piece” applies to"),
        ({"document_number": "SOP-QC-999"}, "Document SOP-QC-999 has no effective version"),
        ({"code": "QS-HB-DS-001"}, "Specification QS-HB-DS-001 already exists"),
    ],
)  # fmt: skip
def test_a_specification_the_plant_does_not_support_is_refused_and_nothing_is_written(
    db: Database, changes: dict[str, Any], message: str
) -> None:
    before = (
        count_rows(db, Specification),
        count_rows(db, SpecificationVersion),
        count_rows(db, SpecificationItem),
    )
    with pytest.raises((specs.SpecInvalid, Conflict)) as refused:
        _create(db, _body(**changes))
    assert str(refused.value) == message
    after = (
        count_rows(db, Specification),
        count_rows(db, SpecificationVersion),
        count_rows(db, SpecificationItem),
    )
    assert after == before


@pytest.mark.clause("TJ-7.2")
def test_an_item_citing_a_method_sop_needs_its_effective_version(db: Database) -> None:
    item = _water().model_copy(update={"method_sop": "SOP-QC-404"})
    with pytest.raises(specs.SpecInvalid) as refused:
        _create(db, _body(items=[item.model_dump()]))
    assert str(refused.value) == "Test item 水分: document SOP-QC-404 has no effective version"
    draft = _create(db, _body(items=[_water().model_copy(update={"method_sop": "SOP-QA-001"}).model_dump()]))
    assert _version(db, draft).items[0].method_sop == "SOP-QA-001"


@pytest.mark.clause("TJ-7.2")
def test_a_version_without_test_items_cannot_be_submitted(db: Database) -> None:
    draft = _create(db, _body(items=[]))
    with pytest.raises(Conflict) as refused:
        _submit(db, draft)
    assert str(refused.value) == "A specification version needs at least one test item"
    assert _version(db, draft).status == "draft"


@pytest.mark.clause("TJ-7.2", "SH-7.1.3")
def test_replacing_a_draft_matches_items_by_name_and_keeps_every_step_in_the_trail(db: Database) -> None:
    draft = _create(db)
    before = _version(db, draft)
    water_id = before.items[0].id
    author = principal(db, AUTHOR)
    content = specs.content_in(before).model_dump()
    content["items"] = [
        {**content["items"][0], "upper": "12.0"},  # 水分 changed in place
        {"name": "总灰分", "limit_type": "le", "upper": "10.0", "unit": "%"},  # added; 性状 removed (voided)
    ]
    with UnitOfWork(db, author.actor) as uow:
        specs.replace_draft(
            uow, author, draft, DraftReplace.model_validate({**content, "reason": "按药典修订"})
        )
        uow.commit()
    after = _version(db, draft)
    assert [(i.name, i.position) for i in after.items] == [("水分", 1), ("总灰分", 2)]
    assert after.items[0].id == water_id and after.items[0].upper == Decimal("12.0")
    assert after.content_sm3 != before.content_sm3 and after.edited_by == AUTHOR
    with db.sessions() as session:
        voided = session.scalars(
            select(SpecificationItem).where(
                SpecificationItem.version_id == draft, SpecificationItem.voided_at.is_not(None)
            )
        ).all()
        assert [i.name for i in voided] == ["性状"]  # removed from the draft by voiding, never deleted
    with UnitOfWork(db, author.actor) as uow, pytest.raises(Conflict, match="Nothing was changed"):
        specs.replace_draft(
            uow, author, draft, DraftReplace.model_validate(specs.content_in(after).model_dump())
        )


# Each bad item: (case, the values of limit_type … raw_inputs that the database's constraints refuse).
BAD_ITEM_LIMITS: tuple[tuple[str, str], ...] = (
    ("lower above upper", "'range', 99, 98, '', 1, 'gbt8170', '', '[]'"),
    ("no such limit type", "'between', 1, 2, '', 1, 'gbt8170', '', '[]'"),
    ("more than 10 decimals", "'le', NULL, 13, '', 11, 'gbt8170', '', '[]'"),
    ("a lower limit on a ≤ item", "'le', 1, 13, '', 1, 'gbt8170', '', '[]'"),
    ("a conforms item without its requirement", "'conforms', NULL, NULL, '', 0, 'gbt8170', '', '[]'"),
    ("no such rounding rule", "'le', NULL, 13, '', 1, 'round_up', '', '[]'"),
    ("a formula without its raw inputs", "'le', NULL, 13, '', 1, 'gbt8170', 'x = a', '[]'"),
    ("a formula on a text item", "'text', NULL, NULL, '应符合', 0, 'gbt8170', 'x = a', '[{\"name\":\"a\"}]'"),
)


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-7.2", "TJ-7.3")
def test_the_database_refuses_an_item_with_bad_limits(db: Database) -> None:
    """Every case of BAD_ITEM_LIMITS on one draft in one database: each raw insert is refused and writes no
    row (so the next case meets the same draft); each bad row is named after its case, so the unique item name
    cannot be what refuses it. Every case that the database accepts is named."""
    draft = _create(db)
    insert = (
        "INSERT INTO lims_spec_items (version_id, position, name, method, unit, limit_type, lower, upper, "
        "requirement, decimals, rounding, formula, raw_inputs) VALUES (:v, 9, :name, '', '', {values})"
    )
    with behind_the_apps_back(db) as conn:  # the same statement with sound values is accepted
        conn.execute(text(insert.format(values="'le', NULL, 13, '', 1, 'gbt8170', '', '[]'")),
                     {"v": draft, "name": "好项"})  # fmt: skip
    failures: list[str] = []
    for case, values in BAD_ITEM_LIMITS:
        before = count_rows(db, SpecificationItem)
        try:
            with behind_the_apps_back(db) as conn:
                conn.execute(text(insert.format(values=values)), {"v": draft, "name": case})
        except DBAPIError:
            pass
        else:
            failures.append(f"{case}: accepted ({values})")
        if count_rows(db, SpecificationItem) != before:
            failures.append(f"{case}: items {before} -> {count_rows(db, SpecificationItem)}")
    assert failures == []


@pytest.mark.both  # a constraint the database enforces: proven on both dialects
@pytest.mark.clause("TJ-7.2", "TJ-10.2")
def test_a_signed_decision_can_be_neither_changed_nor_deleted(db: Database) -> None:
    with db.sessions() as session:
        decision_id = session.scalar(select(SpecificationDecision.id).limit(1))
    for statement in ("UPDATE lims_spec_decisions SET comment = 'x' WHERE id = :id",
                      "DELETE FROM lims_spec_decisions WHERE id = :id"):  # fmt: skip
        with pytest.raises(DBAPIError, match="refused"), behind_the_apps_back(db) as conn:
            conn.execute(text(statement), {"id": decision_id})


@pytest.mark.clause("TJ-7.2", "SH-7.1.3")
def test_removing_an_item_voids_it_and_the_items_after_it_move_up(db: Database) -> None:
    ash = ItemIn(name="总灰分", limit_type="le", upper=Decimal("10.0"), unit="%")
    draft = _create(db, _body(items=[_water().model_dump(), ash.model_dump()]))
    water_id = _version(db, draft).items[0].id
    author = principal(db, AUTHOR)
    with UnitOfWork(db, author.actor, reason="水分改由内控标准规定") as uow:
        specs.remove_item(uow, author, water_id)
        uow.commit()
    after = _version(db, draft)
    assert [(i.name, i.position) for i in after.items] == [("总灰分", 1)]
    with db.sessions() as session:
        removed = session.get(SpecificationItem, water_id)
        assert removed is not None and removed.voided_at is not None  # kept, voided with the reason
    with UnitOfWork(db, author.actor) as uow, pytest.raises(Exception, match="No test item"):
        specs.remove_item(uow, author, water_id)  # a removed item is gone from the draft
