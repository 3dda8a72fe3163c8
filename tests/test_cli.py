"""The command-line tool, run as a real subprocess."""

from __future__ import annotations

import json

import pytest

from coach.store.db import head_revision
from tests.conftest import DATA, run_cli

pytestmark = pytest.mark.slow  # every test runs coach as a subprocess


def test_help_lists_subcommands():
    r = run_cli("--help")
    assert r.returncode == 0
    for cmd in ("serve", "ingest", "reindex", "status"):
        assert cmd in r.stdout


def test_app_py_takes_the_serve_options_and_help_starts_nothing(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root / "app.py"), "--help"], capture_output=True, text=True, timeout=60,
                       env={**__import__("os").environ, "COACH_DATA_DIR": str(tmp_path / "data")})
    assert r.returncode == 0 and "--port" in r.stdout and "--data-dir" in r.stdout
    assert not (tmp_path / "data").exists()  # no store created, no server started


def test_ingest_then_reindex_then_status(tmp_path):
    d = str(tmp_path / "store")
    r = run_cli("ingest", str(DATA / "two_debriefs.jsonl"), "--data-dir", d)
    assert r.returncode == 0, r.stderr
    assert "ingested 2 debriefs, indexed 3 records" in r.stderr
    assert "storing: 100%" in r.stderr  # progress bar
    r = run_cli("reindex", "--data-dir", d)
    assert r.returncode == 0 and "reindexed 3 records" in r.stderr
    r = run_cli("status", "--data-dir", d)
    info = json.loads(r.stdout)
    assert info["schema_version"] == head_revision() and info["backend"] == "local"
    assert info["steps_using_model"] == []  # bundled 135M model: every step on its fallback


def test_bad_file_names_the_line_and_writes_nothing(tmp_path):
    good = (DATA / "two_debriefs.jsonl").read_text().splitlines()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(good[0] + "\n" + '{"id": "x", "role": "boss"}\n')
    d = tmp_path / "store"
    r = run_cli("ingest", str(bad), "--data-dir", str(d))
    assert r.returncode == 2
    assert "bad.jsonl:2" in r.stderr and "role" in r.stderr
    assert not (d / "coach.db").exists()  # validated before anything was opened or written

    bad.write_text(good[0] + "\n{not json\n")
    r = run_cli("ingest", str(bad), "--data-dir", str(d))
    assert r.returncode == 2 and "bad.jsonl:2: invalid JSON" in r.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    r = run_cli("ingest", str(tmp_path / "nope.jsonl"))
    assert r.returncode == 2 and "no such file" in r.stderr


def test_invalid_configuration_is_reported(tmp_path):
    r = run_cli("status", env={"COACH_BACKEND": "compatible"})
    assert r.returncode == 2
    assert "COACH_BASE_URL" in r.stderr and "Traceback" not in r.stderr


def test_pair_create_and_list(tmp_path):
    d = str(tmp_path / "store")
    r = run_cli("pair", "create", "--senior", "CFO", "--junior", "Analyst", "--topic", "AI tools",
                "--senior-user", "cfo@example.org", "--junior-user", "ana@example.org",
                "--sessions", "3", "--start", "2026-01-05", "--belief", "AI is hype", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out["debriefs"]) == {"senior", "junior"}
    assert all("/auth/invite/" in link for link in out["invitations"].values())
    rows = json.loads(run_cli("pair", "list", "--data-dir", d).stdout)
    assert [(p["pair"], p["topic"], p["sessions"]) for p in rows] == [(out["pair"], "AI tools", 3)]
    users = {u["username"]: u for u in json.loads(run_cli("user", "list", "--data-dir", d).stdout)}
    assert users["cfo@example.org"]["role"] == "participant" and users["cfo@example.org"]["state"] == "invited"


def test_user_add_prints_a_single_use_invitation_and_refuses_duplicates(tmp_path):
    d = str(tmp_path / "store")
    r = run_cli("user", "add", "Fay@Example.org", "--role", "facilitator", "--programme", "Pilot", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["username"] == "fay@example.org" and "/auth/invite/" in out["invitation"]
    again = run_cli("user", "add", "fay@example.org", "--role", "facilitator", "--programme", "Pilot", "--data-dir", d)
    assert again.returncode == 2 and "exists" in again.stderr
    r = run_cli("user", "add", "nobody", "--role", "facilitator", "--data-dir", d)  # no programme
    assert r.returncode == 2 and "programme" in r.stderr


def test_pair_create_rejects_missing_fields_and_bad_dates(tmp_path):
    d = str(tmp_path / "store")
    who = ("--senior-user", "s@example.org", "--junior-user", "j@example.org")
    r = run_cli("pair", "create", "--senior", "CFO", "--topic", "AI", *who, "--data-dir", d)
    assert r.returncode == 2 and "junior's role" in r.stderr
    r = run_cli("pair", "create", "--senior", "CFO", "--junior", "A", "--topic", "AI", "--start", "5/1/26", *who,
                "--data-dir", d)
    assert r.returncode == 2 and "2026-03-31" in r.stderr
    r = run_cli("pair", "create", "--senior", "CFO", "--junior", "A", "--topic", "AI", "--data-dir", d)
    assert r.returncode == 2 and "--senior-user" in r.stderr
    assert json.loads(run_cli("user", "list", "--data-dir", d).stdout) == []  # nothing half-written


def test_ingest_extracts_lines_without_expected_records(tmp_path):
    """shared/contracts.md: ingest uses `expected` when present and extracts otherwise; the
    extracted records are grounded in the line's participant turns and feed suggestions."""
    from sqlalchemy import select

    from coach.store.db import Database
    from coach.store.models import Record, Turn

    line = json.loads((DATA / "two_debriefs.jsonl").read_text().splitlines()[0])
    del line["expected"]
    src = tmp_path / "unlabelled.jsonl"
    src.write_text(json.dumps(line) + "\n")
    d = tmp_path / "store"
    r = run_cli("ingest", str(src), "--data-dir", str(d), "-q")
    assert r.returncode == 0, r.stderr
    db = Database(f"sqlite:///{d / 'coach.db'}")
    with db.session() as s:
        records = list(s.scalars(select(Record)))
        said = " ".join(t.text for t in s.scalars(select(Turn).where(Turn.speaker == "participant")))
    db.dispose()
    kinds = {x.kind for x in records}
    assert {"learned", "broken_assumption", "action"} <= kinds
    assert all(x.extractor == "offline" and x.status == "approved" and x.quote in said for x in records)
    assert all(x.theme for x in records)  # classified like live debriefs
    assert f"indexed {len(records)} records" in r.stderr


def test_pair_list_at_risk_prints_one_json_line_per_pair_at_risk(tmp_path):
    import sqlite3

    d = tmp_path / "store"
    made = {}
    for topic, who in (("Quiet pair", "q"), ("New pair", "n")):
        r = run_cli("pair", "create", "--senior", "CFO", "--junior", "Analyst", "--topic", topic, "--sessions", "3",
                    "--senior-user", f"{who}s@example.org", "--junior-user", f"{who}j@example.org", "--data-dir", str(d))
        assert r.returncode == 0, r.stderr
        made[topic] = json.loads(r.stdout)["pair"]
    with sqlite3.connect(d / "coach.db") as c:  # paired 30 days ago, no session since
        c.execute("UPDATE pairs SET created_at = datetime('now', '-30 days') WHERE id = ?", (made["Quiet pair"],))
    r = run_cli("pair", "list", "--at-risk", "--data-dir", str(d))
    assert r.returncode == 0, r.stderr
    [line] = r.stdout.splitlines()
    row = json.loads(line)
    assert (row["pair"], row["status"], row["held"], row["planned"]) == (made["Quiet pair"], "at risk", 0, 3)
    assert row["reasons"] == ["no session logged in the 30 days since pairing"]
    rows = json.loads(run_cli("pair", "list", "--data-dir", str(d)).stdout)  # the plain list is as it was
    assert all(set(p) == {"pair", "programme", "topic", "senior", "junior", "sessions"} for p in rows) and len(rows) == 2


def test_an_operator_logs_and_lists_a_pairs_sessions(tmp_path):
    from datetime import date, timedelta

    d = str(tmp_path / "store")
    r = run_cli("pair", "create", "--senior", "CFO", "--junior", "Analyst", "--topic", "AI tools", "--sessions", "2",
                "--start", "2026-01-05", "--every", "14", "--senior-user", "cfo@example.org",
                "--junior-user", "ana@example.org", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    pair = json.loads(r.stdout)["pair"]
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    for args, problem in [
        (("--pair", "p-nope", "--date", "2026-01-06", "--minutes", "45"), "There is no pair “p-nope”"),
        (("--pair", pair, "--date", "06/01/2026", "--minutes", "45"), "is not a date like 2026-03-31"),
        (("--pair", pair, "--date", tomorrow, "--minutes", "45"), "is in the future"),
        (("--pair", pair, "--date", "2026-01-06"), "length in minutes"),
        (("--pair", pair, "--date", "2026-01-06", "--minutes", "2"), "between 5 and 480"),
        (("--pair", pair, "--minutes", "45"), "give the session's date"),
    ]:
        r = run_cli("session", "log", *args, "--data-dir", d)
        assert r.returncode == 2 and r.stderr.startswith("error: ") and problem in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert json.loads(run_cli("session", "list", "--pair", pair, "--data-dir", d).stdout) == []  # nothing written
    r = run_cli("session", "log", "--pair", pair, "--date", "2026-01-06", "--minutes", "45", "--covered",
                "Prompting basics", "--data-dir", d)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["session"]["held_on"] == "2026-01-06" and out["session"]["logged_as"] == "operator"
    assert (out["held"], out["planned"], out["debrief_due"]) == (1, 2, False)
    r = run_cli("session", "log", "--pair", pair, "--date", "2026-01-06", "--minutes", "30", "--data-dir", d)
    assert r.returncode == 2 and "already logged" in r.stderr
    rows = json.loads(run_cli("session", "list", "--pair", pair, "--data-dir", d).stdout)
    assert [(x["held_on"], x["minutes"], x["covered"]) for x in rows] == [("2026-01-06", 45, "Prompting basics")]
    r = run_cli("session", "list", "--pair", "p-nope", "--data-dir", d)
    assert r.returncode == 2 and "There is no pair" in r.stderr
