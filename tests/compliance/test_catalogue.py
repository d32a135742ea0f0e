"""The requirements catalogue is complete against the standards' own texts (issue 4's honesty guard)."""

from __future__ import annotations

import filecmp
from pathlib import Path

import pytest
import yaml

from pharmatrace.compliance import catalogue, seeds
from pharmatrace.compliance.catalogue import Catalogue, CatalogueError, Kind, Requirement

SHARED_SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"
pytestmark = pytest.mark.clause("SH-7.2.b", "TJ-10.5.1")


@pytest.fixture(scope="module")
def cat() -> Catalogue:
    return catalogue.load()


def test_the_catalogue_holds_every_numbered_clause_of_the_standards_with_its_text(cat: Catalogue) -> None:
    assert seeds.compare(cat) == []
    parsed = seeds.seed_clauses()
    # the counts come from the texts: a clause the parser finds is a clause the catalogue must hold
    assert len(parsed["SH"]) > 80 and len(parsed["TJ"]) > 200
    garbled = [r.id for r in cat if r.ocr_garbled]
    assert set(garbled) <= {"SH-6.1", "SH-6.2", "SH-6.2.1", "SH-6.2.2", "SH-6.2.3"}, garbled


def test_a_missing_clause_a_changed_text_or_an_invented_clause_is_reported(cat: Catalogue) -> None:
    entries = [r for r in cat if r.id != "TJ-6.4.3.3.e"]
    changed = cat["SH-7.1.3.b"].model_copy(update={"text": "支持关闭审计跟踪"})
    invented = Requirement(
        id="TJ-6.4.9", parent="TJ-6.4", text="虚构条款", summary="Invented", kind=Kind.SOFTWARE, area="mes"
    )
    entries = [changed if r.id == changed.id else r for r in entries] + [invented]
    problems = seeds.compare(Catalogue(entries))
    assert "TJ-6.4.3.3.e is numbered in the standard but missing from the catalogue" in problems
    assert "SH-7.1.3.b: the catalogue's text is not the standard's" in problems
    assert "TJ-6.4.9 is in the catalogue but the standard does not number it" in problems
    assert len(problems) == 3


def test_draft_clauses_are_quoted_from_the_draft_and_say_what_the_published_text_lacks(
    cat: Catalogue,
) -> None:
    draft = [r for r in cat if r.source == "SHD"]
    assert draft, "the draft adds substance the published text lacks (e.g. OPC DA/HDA/A&E/UA)"
    assert all(r.differs for r in draft)
    misquoted = draft[0].model_copy(update={"text": draft[0].text + "（杜撰）"})
    problems = seeds.compare(Catalogue([misquoted if r.id == misquoted.id else r for r in cat]))
    assert problems == [f"{misquoted.id}: the text is not quoted from the draft"]


@pytest.mark.clause("TJ-B.2.5", "TJ-B.2.6", "TJ-B.2.2.1")
def test_appendix_b_data_sets_list_every_short_name(cat: Catalogue) -> None:
    assert cat["TJ-B.2.5"].short_names == ("CZDX", "CZLX", "CZZ", "CZSJ", "CZYY", "JZ", "XZ")
    assert cat["TJ-B.2.6"].short_names == ("QMR", "QMSJ", "QMHY")
    assert cat["TJ-B.2.2.1"].short_names[:2] == ("WLMC", "WLBM")
    tables = [r for r in cat if r.short_names]
    assert len(tables) == 18  # 表 B.2 … 表 B.19, one data set each
    assert all(r.kind is Kind.SOFTWARE for r in tables)


def test_every_entry_is_classified_and_procedural_clauses_name_their_supporting_feature(
    cat: Catalogue,
) -> None:
    for r in cat:
        assert r.summary and "TODO" not in r.summary, r.id
        if r.kind is Kind.PROCEDURAL:
            assert r.supported_by, r.id
        if r.parent:
            assert r.parent in cat and r.id.startswith(r.parent + "."), r.id
    kinds = {k: sum(1 for r in cat if r.kind is k) for k in Kind}
    assert kinds[Kind.SOFTWARE] > kinds[Kind.PROCEDURAL] > 0


def test_a_malformed_catalogue_is_refused_with_the_clause_named(tmp_path: Path) -> None:
    for source in catalogue.SOURCES:
        (tmp_path / f"{source}.yaml").write_text("[]", encoding="utf-8")
    bad = [{"id": "SH-7.1.3.b", "text": "x", "summary": "Audit on", "kind": "procedural", "area": "audit"}]
    (tmp_path / "SH.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"SH\.yaml: SH-7\.1\.3\.b: .*supported_by"):
        catalogue.load(tmp_path)
    bad[0].update(kind="software", area="nowhere")
    (tmp_path / "SH.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(CatalogueError, match="unknown area 'nowhere'"):
        catalogue.load(tmp_path)
    bad[0].update(area="audit", id="TJ-1.1")
    (tmp_path / "SH.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"TJ-1\.1 belongs in TJ\.yaml"):
        catalogue.load(tmp_path)
    bad[0].update(id="SH-7.1.3.b", parent="SH-7.1.3")
    (tmp_path / "SH.yaml").write_text(yaml.safe_dump(bad), encoding="utf-8")
    with pytest.raises(CatalogueError, match=r"parent SH-7\.1\.3 is not in the catalogue"):
        catalogue.load(tmp_path)


def test_the_outline_accepts_only_numbers_that_continue_it() -> None:
    assert seeds._continues((7, 1, 3), (7, 1, 4))
    assert seeds._continues((7, 1, 3), (7, 1, 3, 1))
    assert seeds._continues((7, 1, 5), (7, 2))
    assert seeds._continues((7, 2), (8,))
    assert seeds._continues((7, 2), (8, 1, 1))  # headings 8 and 8.1 lost
    assert not seeds._continues((8, 4, 4), (1,))  # "保存至药品有效期后1年"
    assert not seeds._continues((7, 1, 3), (7, 1, 6))
    assert seeds._continues((6, 1), (6, 2, 2), gap=2)  # the OCR lost 6.2 and 6.2.1


def test_the_ocr_parser_drops_page_headers_and_splits_list_items() -> None:
    text = (
        "noise 1范围本文件规定了… 2规范性引用文件 3术语和定义 4缩略语 5总体要求 6体系构成 7合规管理7.1 功能要求7.1.1 审计跟踪应满足以下要求:a)支持查看功能清单;"
        "b)支持开启审计跟踪,并控制开启后不可关闭;5DB31/T 140020237.1.2 电子签名保存至有效期后1年。"
    )
    clauses = {c.id: c for c in seeds.parse_shanghai(text, first_chapter=7)}
    assert list(clauses) == ["SH-7", "SH-7.1", "SH-7.1.1", "SH-7.1.1.a", "SH-7.1.1.b", "SH-7.1.2"]
    assert clauses["SH-7.1.1.b"].text == "支持开启审计跟踪,并控制开启后不可关闭"
    assert clauses["SH-7.1.1.b"].parent == "SH-7.1.1"
    assert clauses["SH-7.1.2"].text == "电子签名保存至有效期后1年。"


@pytest.mark.skipif(
    not SHARED_SEEDS.is_dir(), reason="the project's shared seed directory is not on this machine"
)
def test_the_copied_standards_are_the_project_seeds() -> None:
    for name in (seeds.PUBLISHED_SHANGHAI, seeds.DRAFT_SHANGHAI, seeds.TIANJIN):
        assert filecmp.cmp(seeds.SOURCES / name, SHARED_SEEDS / name, shallow=False), name
