"""Master recipe pages, API and CLI: the tree with its SOPs' effective versions, the lifecycle through the
API with its refusals, import from a file on the page and on the command line (TJ-6.4.3.1, TJ-6.1)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from helpers import log_in, token
from pharmatrace.cli import app
from pharmatrace.config import get_settings
from pharmatrace.demo.seed import DEMO_PASSWORD
from pharmatrace.mes import recipes
from pharmatrace.mes.recipe_demo import DEMO_RECIPE, demo_body
from pharmatrace.mes.recipe_models import MasterRecipeVersion
from pharmatrace.storage.engine import Database
from pharmatrace.web.app import create_app

pytestmark = pytest.mark.pages  # SQLite only: the services they call are tested on both (ADR 0003)


def _versions(db: Database) -> int:
    with db.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(MasterRecipeVersion)) or 0)


def _effective(db: Database, number: str) -> str:
    """What the documents area says is effective now, read independently of the recipe code."""
    try:
        from pharmatrace.documents import service as documents  # type: ignore[attr-defined,unused-ignore]
    except ImportError:
        return "—"
    current = getattr(documents, "current_effective", None)
    if current is None:
        return "—"
    with db.sessions() as session:
        found = current(session, number)
        return f"v{found.version}" if found is not None else "—"


@pytest.mark.clause("TJ-6.4.3.1", "TJ-6.1")
def test_the_recipe_page_shows_the_tree_the_bom_and_each_steps_sop_version(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, "zhangwei")  # an operator reads the recipe
        listed = client.get("/mes/recipes", params={"q": "丹红", "status": "approved"})
        assert listed.status_code == 200 and "/mes/recipes/MR-DH-001/v/1" in listed.text
        assert "MR-DH-001" not in client.get("/mes/recipes", params={"status": "withdrawn"}).text
        page = client.get("/mes/recipes/MR-DH-001", follow_redirects=True)
        assert page.url.path == "/mes/recipes/MR-DH-001/v/1"
        html = page.text
        for testid in ("unit-UP-EXT", "operation-EXT-10", "step-EXT-CPP1", "unit-UP-PKG", "step-PKG-Y", "bom",
                       "versions", "signatures", "audit-trail"):  # fmt: skip
            assert f'data-testid="{testid}"' in html, testid
        assert html.index('data-testid="unit-UP-EXT"') < html.index('data-testid="unit-UP-LYO"')
        assert "RM-LYO" in html and "freeze_dryer" in html and "丹参饮片" in html
        sop = re.search(r'data-testid="sop-LYO-CPP2">([^<]*)<', html)
        assert sop is not None and sop.group(1) == _effective(db, "SOP-PR-007")
        assert 'action="/mes/recipe-versions/' not in html  # an operator is offered no lifecycle form
        # the version column follows the documents area (here: SOP-PR-007 v2 effective)
        monkeypatch.setattr(recipes, "sop_versions", lambda _s, numbers: dict.fromkeys(numbers, "v2"))
        again = client.get("/mes/recipes/MR-DH-001/v/1").text
        assert re.search(r'data-testid="sop-LYO-CPP2">v2<', again)
        scaled = client.get("/mes/recipes/MR-DH-001/v/1/bom", params={"batch_size": "7500"})
        assert (
            scaled.status_code == 200
            and 'data-testid="scaled-bom"' in scaled.text
            and "112.500" in scaled.text
        )
        assert client.get("/mes/recipes/MR-DH-001/v/1/bom", params={"batch_size": "-1"}).status_code == 422


def _body_json() -> dict[str, Any]:
    return demo_body().model_dump(mode="json")


@pytest.mark.clause("TJ-6.4.3.1", "SH-7.1.4.a")
def test_the_api_takes_a_version_from_draft_to_approved_with_refusals_on_the_way(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        lina, zhaomin, chenjing = (token(client, login) for login in ("lina", "zhaomin", "chenjing"))
        created = client.post("/api/v1/mes/recipes/MR-DH-001/versions", headers=lina,
                              json={"change_summary": "装量调整"})  # fmt: skip
        assert created.status_code == 201, created.text
        draft = created.json()
        assert draft["status"] == "draft" and draft["version"] == 2
        body = draft["body"]
        body["unit_procedures"][5]["operations"][1]["steps"][4]["parameters"][0]["target"] = "2.01"
        bad = json.loads(json.dumps(body))
        bad["unit_procedures"][0]["operations"][0]["steps"][0]["predecessors"] = ["EXT-DE"]
        cycle = client.put(f"/api/v1/mes/recipe-versions/{draft['id']}/body", headers=lina,
                           json={"body": bad, "reason": "装量目标调整"})  # fmt: skip
        assert cycle.status_code == 422 and cycle.json()["error"]["code"] == "recipe_invalid"
        no_reason = client.put(
            f"/api/v1/mes/recipe-versions/{draft['id']}/body", headers=lina, json={"body": body}
        )
        assert no_reason.status_code == 422
        edited = client.put(f"/api/v1/mes/recipe-versions/{draft['id']}/body", headers=lina,
                            json={"body": body, "reason": "装量目标调整"})  # fmt: skip
        assert edited.status_code == 200 and edited.json()["edited_by"] == "lina"
        assert (
            client.post(f"/api/v1/mes/recipe-versions/{draft['id']}/submit", headers=lina).status_code == 200
        )
        refused = client.post(f"/api/v1/mes/recipe-versions/{draft['id']}/approve", headers=chenjing,
                              json={"password": DEMO_PASSWORD, "login": "chenjing"})  # fmt: skip
        assert refused.status_code == 409
        wrong = client.post(f"/api/v1/mes/recipe-versions/{draft['id']}/review", headers=zhaomin,
                            json={"password": "wrong", "login": "zhaomin"})  # fmt: skip
        assert wrong.status_code == 401
        reviewed = client.post(f"/api/v1/mes/recipe-versions/{draft['id']}/review", headers=zhaomin,
                               json={"password": DEMO_PASSWORD, "login": "zhaomin", "comment": "同意"})  # fmt: skip
        assert reviewed.status_code == 201 and reviewed.json()["kind"] == "reviewed"
        approved = client.post(f"/api/v1/mes/recipe-versions/{draft['id']}/approve", headers=chenjing,
                               json={"password": DEMO_PASSWORD, "login": "chenjing"})  # fmt: skip
        assert approved.status_code == 201, approved.text
        usable = client.get("/api/v1/mes/recipes/MR-DH-001/usable", headers=lina).json()
        assert usable["version"] == 2 and usable["body_sm3"] == approved.json()["body_sm3"]
        versions = client.get("/api/v1/mes/recipes/MR-DH-001", headers=lina).json()
        assert [v["status"] for v in versions] == ["superseded", "approved"]
        diff = client.get(
            "/api/v1/mes/recipes/MR-DH-001/diff", headers=lina, params={"old": 1, "new": 2}
        ).json()
        assert [(c["where"], c["field"]) for c in diff["changes"]] == [("FIL-CPP", "parameters")]
        bom = client.get(
            "/api/v1/mes/recipes/MR-DH-001/versions/2/bom", headers=lina, params={"batch_size": "5000"}
        )
        assert bom.status_code == 200 and bom.json()["items"][0]["quantity"] == "75.000"
        log_in(client, "lina")
        assert "FIL-CPP" in client.get("/mes/recipes/MR-DH-001/diff", params={"old": 1, "new": 2}).text


@pytest.mark.clause("TJ-6.4.3.1")
def test_a_recipe_file_uploaded_on_the_page_becomes_a_draft(db: Database, tmp_path: Path) -> None:
    data = _body_json()
    data["recipe_code"] = "MR-DH-002"
    good = yaml.safe_dump(data, allow_unicode=True).encode()
    data["unit_procedures"][6]["operations"][0]["room"] = "RM-NONE"  # the freeze-drying room
    bad = yaml.safe_dump(data, allow_unicode=True).encode()
    with TestClient(create_app(db)) as client:
        log_in(client, "lina")
        before = _versions(db)
        refused = client.post("/mes/recipes/import", files={"file": ("r.yaml", bad)}, follow_redirects=True)
        assert "RM-NONE" in refused.text and _versions(db) == before
        garbage = client.post("/mes/recipes/import", files={"file": ("r.yaml", b"- just\n- a list\n")},
                              follow_redirects=True)  # fmt: skip
        assert 'data-testid="error"' in garbage.text and _versions(db) == before
        done = client.post("/mes/recipes/import", files={"file": ("r.yaml", good)}, data={"change_summary": "试产"},
                           follow_redirects=True)  # fmt: skip
        assert done.url.path == "/mes/recipes/MR-DH-002/v/1" and 'data-testid="submit-form"' in done.text
        assert _versions(db) == before + 1
        log_in(client, "zhangwei")
        assert client.post("/mes/recipes/import", files={"file": ("r.yaml", good)}).status_code == 403


@pytest.fixture
def recipe_cli(db: Database, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("PHARMATRACE_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("PHARMATRACE_VAR", str(db.state_dir))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.mark.clause("TJ-6.4.3.1")
def test_the_cli_imports_a_file_as_the_named_author_and_scales_the_bom(
    recipe_cli: CliRunner, db: Database, tmp_path: Path
) -> None:
    data = yaml.safe_load(DEMO_RECIPE.read_text(encoding="utf-8"))
    data["recipe_code"] = "MR-DH-003"
    file = tmp_path / "recipe.json"
    file.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    refused = recipe_cli.invoke(app, ["recipes", "import", str(file), "--as", "zhangwei", "--password-stdin"],
                                input=f"{DEMO_PASSWORD}\n")  # fmt: skip
    assert refused.exit_code == 2 and "permission" in refused.output.lower()
    done = recipe_cli.invoke(app, ["recipes", "import", str(file), "--as", "lina", "--password-stdin"],
                             input=f"{DEMO_PASSWORD}\n")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "MR-DH-003 version 1 imported as a draft" in done.output
    with db.sessions() as session:
        version = recipes.version_of(session, "MR-DH-003", 1)
        assert (version.status, version.created_by) == ("draft", "lina")
    listed = recipe_cli.invoke(app, ["recipes", "list"])
    assert "MR-DH-001" in listed.output and "MR-DH-003" in listed.output
    bom = recipe_cli.invoke(app, ["recipes", "bom", "MR-DH-001", "7500"])
    assert bom.exit_code == 0 and "112.500 kg" in bom.output


@pytest.mark.clause("TJ-6.4.3.1", "SH-7.1.4.a", "SH-7.1.4.d")
def test_the_page_forms_submit_review_and_approve_a_new_version(db: Database) -> None:
    with TestClient(create_app(db)) as client:
        log_in(client, "lina")
        made = client.post(
            "/mes/recipes/MR-DH-001/new-version", data={"change_summary": "版本升级"}, follow_redirects=False
        )
        assert made.status_code == 303 and made.headers["location"].startswith("/mes/recipes/MR-DH-001/v/2")
        page = client.get("/mes/recipes/MR-DH-001/v/2").text
        version_id = re.search(r'action="/mes/recipe-versions/(\d+)/submit"', page)
        assert version_id is not None
        vid = version_id.group(1)
        assert client.post(f"/mes/recipe-versions/{vid}/submit", follow_redirects=False).status_code == 303
        log_in(client, "zhaomin")
        page = client.get("/mes/recipes/MR-DH-001/v/2").text
        assert 'data-testid="review-form"' in page and 'data-testid="approve-form"' not in page
        wrong = client.post(f"/mes/recipe-versions/{vid}/review", data={"password": "nope", "login": "zhaomin"},
                            follow_redirects=True)  # fmt: skip
        assert 'data-testid="error"' in wrong.text
        client.post(
            f"/mes/recipe-versions/{vid}/review", data={"password": DEMO_PASSWORD, "login": "zhaomin"}
        )
        log_in(client, "chenjing")
        page = client.get("/mes/recipes/MR-DH-001/v/2").text
        assert 'data-testid="approve-form"' in page and 'data-testid="review-form"' not in page
        client.post(
            f"/mes/recipe-versions/{vid}/approve", data={"password": DEMO_PASSWORD, "login": "chenjing"}
        )
        done = client.get("/mes/recipes/MR-DH-001", follow_redirects=True)
        assert done.url.path == "/mes/recipes/MR-DH-001/v/2"
        assert 'data-testid="new-version-form"' not in done.text  # QA does not author
    with db.sessions() as session:
        usable = recipes.usable_version(session, "MR-DH-001")
        assert usable is not None and usable.version == 2
        assert [d.decided_by for d in usable.decisions] == ["zhaomin", "chenjing"]
