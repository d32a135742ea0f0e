"""The ``pharmatrace`` command line, against a copy of the demo plant on both databases."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from helpers import audit_entries
from pharmatrace.cli import app
from pharmatrace.config import get_settings
from pharmatrace.storage.engine import Database


@pytest.mark.clause("SH-8.5.3")
def test_db_upgrade_and_demo_seed_are_idempotent(cli: CliRunner) -> None:
    result = cli.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "revision 0061" in result.output
    result = cli.invoke(app, ["demo", "seed"])
    assert result.exit_code == 0
    assert "0 roles added, 0 users added, 0 materials added" in result.output


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.2.a", "TJ-10.1.2.2.b", "TJ-10.1.2.2.d", "SH-8.5.2")
def test_user_create_list_deactivate_unlock(cli: CliRunner, db: Database) -> None:
    result = cli.invoke(
        app,
        [
            "user",
            "create",
            "xuli",
            "--full-name",
            "徐丽",
            "--role",
            "qc_analyst",
            "--employee-no",
            "E3020",
            "--password-stdin",
        ],
        input="Initial#2026\n",
    )
    assert result.exit_code == 0, result.output
    listing = cli.invoke(app, ["user", "list"])
    assert "xuli" in listing.output and "qc_analyst" in listing.output
    created = [e for e in audit_entries(db, object_type="user") if e.event == "create"][-1]
    assert created.actor_login.startswith("system:cli:")

    refused = cli.invoke(
        app,
        [
            "user",
            "create",
            "xuli2",
            "--full-name",
            "徐",
            "--role",
            "qc_analyst",
            "--role",
            "system_admin",
            "--password-stdin",
        ],
        input="Initial#2026\n",
    )
    assert refused.exit_code == 2
    assert "administration and business" in refused.output

    weak = cli.invoke(
        app,
        ["user", "create", "xuli3", "--full-name", "徐", "--role", "qc_analyst", "--password-stdin"],
        input="weak\n",
    )
    assert weak.exit_code == 2

    result = cli.invoke(app, ["user", "deactivate", "xuli", "--reason", "调岗"])
    assert result.exit_code == 0, result.output
    assert "deactivated" in cli.invoke(app, ["user", "list"]).output
    assert cli.invoke(app, ["user", "unlock", "zhangwei", "--reason", "x"]).exit_code == 2  # not locked
    assert cli.invoke(app, ["user", "deactivate", "nobody", "--reason", "x"]).exit_code == 2


@pytest.mark.clause("SH-7.1.2", "TJ-10.1.2.2.a")
def test_a_new_site_creates_its_first_administrator(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    """On an empty database (no demo seed): `db upgrade` installs the standard roles, then the first admin."""
    monkeypatch.delenv("PHARMATRACE_DATABASE_URL", raising=False)
    monkeypatch.setenv("PHARMATRACE_VAR", str(tmp_path / "site"))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
        assert (tmp_path / "site" / "pharmatrace.sqlite3").exists()
        result = runner.invoke(
            app,
            [
                "user",
                "create",
                "admin",
                "--full-name",
                "王建国",
                "--role",
                "system_admin",
                "--password-stdin",
            ],
            input="First#Site2026\n",
        )
        assert result.exit_code == 0, result.output
        assert "system_admin" in runner.invoke(app, ["user", "list"]).output
    finally:
        get_settings.cache_clear()


@pytest.mark.clause("SH-8.4.5", "TJ-10.1.4.2.d")
def test_ledger_verify_prove_and_check_proof(cli: CliRunner, db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    intact = cli.invoke(app, ["ledger", "verify"])
    assert intact.exit_code == 0, intact.output
    assert "intact" in intact.output

    proof = cli.invoke(app, ["ledger", "prove", "material:1"])
    assert proof.exit_code == 0, proof.output
    path = tmp_path / "proof.json"
    path.write_text(proof.output)
    checked = cli.invoke(app, ["ledger", "check-proof", str(path)])
    assert checked.exit_code == 0 and "valid" in checked.output
    tampered = json.loads(proof.output)
    tampered["entries"][0]["leaf_index"] += 1  # the proof no longer leads from this leaf to the signed root
    path.write_text(json.dumps(tampered) + "\n")
    assert cli.invoke(app, ["ledger", "check-proof", str(path)]).exit_code == 1
    assert cli.invoke(app, ["ledger", "prove", "material:99999"]).exit_code == 2

    from sqlalchemy import text

    from helpers import behind_the_apps_back

    with behind_the_apps_back(db) as conn:
        conn.execute(text("UPDATE materials SET unit = 'g' WHERE id = 2"))
    broken = cli.invoke(app, ["ledger", "verify"])
    assert broken.exit_code == 1
    assert "row.changed: material:2" in broken.output
    as_json = cli.invoke(app, ["ledger", "verify", "--json"])
    assert json.loads(as_json.output)["problems"][0]["subject"] == "material:2"


@pytest.mark.clause("SH-8.4.5")
def test_an_inspector_checks_that_the_ledger_extends_the_checkpoint_they_kept(
    cli: CliRunner, db: Database, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    kept = json.loads(cli.invoke(app, ["ledger", "prove", "material:1"]).output)["checkpoint"]
    grown = cli.invoke(app, ["user", "create", "qianyun", "--full-name", "钱云", "--role", "qc_analyst",
                             "--password-stdin"], input="Initial#2026\n")  # fmt: skip
    assert grown.exit_code == 0, grown.output  # the plant went on recording: the ledger grew
    made = cli.invoke(app, ["ledger", "prove-consistency", "--from", str(kept["tree_size"])])
    assert made.exit_code == 0, made.output
    document = json.loads(made.output)
    assert document["old"] == kept and document["new"]["tree_size"] > kept["tree_size"]
    assert document["proof"], "a real proof, not the trivial one of equal trees"
    path = tmp_path / "consistency.json"
    path.write_text(made.output)
    checked = cli.invoke(app, ["ledger", "check-consistency", str(path), "--key", kept["key"]])
    assert checked.exit_code == 0 and "extends the tree of size" in checked.output, checked.output
    document["old"]["root"] = "00" * 32
    path.write_text(json.dumps(document))
    refused = cli.invoke(app, ["ledger", "check-consistency", str(path)])
    assert refused.exit_code == 1 and "INVALID" in refused.output
    assert cli.invoke(app, ["ledger", "prove-consistency", "--from", "2"]).exit_code == 2
