"""`nettrace signals backtest` on a fixture database: it replays what the builds judged (the
same events, ids, onsets and ends as builds run round after round stored), reads history in
any stored order, scores labels, and refuses a malformed labels line with one line naming the
file, line and field."""
from __future__ import annotations

import json
import queue
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import build.backtest as backtest_module
from build.backtest import PartJob, plan_parts, replay_part, split_catalog
from build.errors import BuildError
from build.read.inputs import BuildClock
from build.pipeline import BuildOptions, run_build
from collect.records import iso_utc
from collect.targets import catalog_toml
from db.connection import connect
from tests.factories import make_db, round_ts_of

ROOT = Path(__file__).resolve().parents[2]
SHIFTED = (40, 52)  # Kraken from ewr is 40 ms slower for these rounds (end exclusive)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("backtest")
    fx = make_db(tmp, rounds=64, shift=("api.kraken.com", "ewr", 40.0, *SHIFTED),
                 route_change=("www.nyse.com", "fra", 50))
    catalog = tmp / "targets.toml"
    catalog.write_text(catalog_toml(fx.catalog))
    return fx, catalog


def backtest(fx, catalog: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "nettrace", "signals", "backtest", "--db", str(fx.path),
           "--targets", str(catalog), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)


def json_events(run: subprocess.CompletedProcess) -> list[dict]:
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def test_backtest_equals_what_the_incremental_builds_stored(history, tmp_path):
    fx, catalog = history
    db = tmp_path / "built.sqlite"
    db.write_bytes(fx.path.read_bytes())
    for index in (44, 49, 55, 63):  # each build judges every round since the previous one
        run_build(BuildOptions(db, tmp_path / "public", tmp_path / "private", fx.catalog,
                               BuildClock(round_ts_of(fx.spec, index) + 30), tmp_path / "cache"))
    with sqlite3.connect(db) as conn:
        stored = conn.execute("SELECT id, type, target, region, probe, started_at, ended_at, "
                              "severity FROM signals ORDER BY id").fetchall()
    replayed = json_events(backtest(fx, catalog, "--json"))
    assert sorted((e["id"], e["type"], e["target"], e["region"], e["probe"], e["started_at"],
                   e["ended_at"], e["severity"]) for e in replayed) == [
        (i, t, tg, r, p, iso_utc(s), None if e is None else iso_utc(e), sev)
        for i, t, tg, r, p, s, e, sev in stored]
    shifts = [e for e in replayed if e["target"] == "api.kraken.com" and e["type"] == "level_shift"]
    assert {e["probe"] for e in shifts} >= {"icmp", "tcp"}
    assert all(e["started_at"] == iso_utc(round_ts_of(fx.spec, SHIFTED[0])) for e in shifts)
    assert set(replayed[0]) == {"id", "type", "target", "region", "probe", "started_at",
                                "ended_at", "severity", "z", "before_ms", "during_ms"}


def test_history_stored_in_any_order_and_one_or_two_processes_replay_the_same_events(
        history, tmp_path):
    fx, catalog = history
    shuffled = tmp_path / "backfilled.sqlite"
    connect(shuffled).close()  # the schema, as ingest makes it
    with sqlite3.connect(shuffled) as conn:  # newest rounds stored first, as a backfill would
        conn.execute("ATTACH DATABASE ? AS src", (str(fx.path),))
        conn.execute("INSERT INTO results SELECT * FROM src.results ORDER BY round_ts DESC")
        conn.execute("INSERT INTO hourly SELECT * FROM src.hourly")
    again = backtest(type(fx)(shuffled, fx.catalog, fx.spec), catalog, "--json", "--jobs", "1")
    assert json_events(again) == json_events(backtest(fx, catalog, "--json", "--jobs", "2"))


def test_table_counts_events_per_series_week_by_type_and_severity(history):
    fx, catalog = history
    run = backtest(fx, catalog, "--from", iso_utc(round_ts_of(fx.spec, 30)))
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"nettrace signals backtest: {iso_utc(round_ts_of(fx.spec, 30))}")
    assert "| type | events | per series-week | info | warning | critical |" in lines
    rows = {line.split("|")[1].strip(): line for line in lines if line.startswith("| ")}
    assert set(rows) >= {"level_shift", "route_change", "spike", "loss", "divergence", "trend",
                         "all"}
    assert int(rows["level_shift"].split("|")[2]) >= 2


def test_labels_give_precision_recall_and_onset_error(history, tmp_path):
    fx, catalog = history
    onset = iso_utc(round_ts_of(fx.spec, SHIFTED[0]) + 900)  # one round late
    labels = tmp_path / "labels.csv"
    labels.write_text("target,region,probe,onset_iso\n"
                      f"api.kraken.com,ewr,icmp,{onset}\n"
                      f"api.kraken.com,ewr,tcp,{onset}\n"
                      f"www.nyse.com,fra,trace,{iso_utc(round_ts_of(fx.spec, 50))}\n"
                      f"api.binance.com,sin,icmp,{onset}\n")  # nothing happened there
    run = backtest(fx, catalog, "--json", "--labels", str(labels))
    summary = json.loads(run.stdout.splitlines()[-1])["labels"]
    assert summary["labels"] == 4 and summary["recall"] == 0.75
    assert summary["median_onset_error_rounds"] == 1.0 and summary["precision"] > 0.5
    text = backtest(fx, catalog, "--labels", str(labels))
    assert "precision" in text.stdout and "recall 0.750" in text.stdout


@pytest.mark.parametrize("line, field", [
    ("api.kraken.com,ewr,icmp", "expected 4 fields"),
    ("api.kraken.com,ewr,pingz,2026-11-25T10:00:00Z", "probe: 'pingz' is not one of"),
    ("api.kraken.com,ewr,icmp,yesterday", "onset_iso: 'yesterday' is not an ISO 8601 time"),
    (",ewr,icmp,2026-11-25T10:00:00Z", "target: empty"),
])
def test_a_malformed_labels_line_names_the_file_line_and_field(history, tmp_path, line, field):
    fx, catalog = history
    labels = tmp_path / "labels.csv"
    labels.write_text(f"api.kraken.com,ewr,icmp,2026-11-25T10:00:00Z\n{line}\n")
    run = backtest(fx, catalog, "--labels", str(labels))
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.strip().splitlines() == [f"nettrace signals: {labels}:2: {field}"
                                               + run.stderr.strip().split(field, 1)[1]]


def test_bad_arguments_fail_with_one_line(history, tmp_path):
    fx, catalog = history
    missing = backtest(type(fx)(tmp_path / "none.sqlite", fx.catalog, fx.spec), catalog)
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"nettrace signals: {tmp_path / 'none.sqlite'}: no such database file")
    text = tmp_path / "notes.sqlite"
    text.write_text("not a database\n" * 100)
    damaged = backtest(type(fx)(text, fx.catalog, fx.spec), catalog)
    assert damaged.returncode == 2
    assert damaged.stderr.strip() == (
        f"nettrace signals: {text}: cannot read the database: file is not a database")
    bad = backtest(fx, catalog, "--from", "soon")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "nettrace signals: --from: 'soon' is not an ISO 8601 time")


def test_a_week_with_no_rows_and_rows_the_builds_leave_out_change_no_earlier_event(
        history, tmp_path):
    fx, catalog = history
    sparse = tmp_path / "sparse.sqlite"
    sparse.write_bytes(fx.path.read_bytes())
    later = round_ts_of(fx.spec, fx.spec.rounds - 1) + 15 * 86400  # a whole week stored nothing
    with sqlite3.connect(sparse) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(results)")]
        for round_ts, ts in (("round_ts + 7", "ts + 7"),  # off the 15-minute grid
                             (f"{later}", f"{later} + 960"),  # started after its round's slot
                             (f"{later + 900}", f"{later + 902}")):  # a round the builds judge
            picked = ", ".join({"round_ts": round_ts, "ts": ts}.get(c, c) for c in columns)
            conn.execute(f"INSERT INTO results ({', '.join(columns)}) SELECT {picked} "
                         "FROM results WHERE rowid = 1")
    run = backtest(type(fx)(sparse, fx.catalog, fx.spec), catalog, "--json")
    assert "left out 2 results the builds leave out" in run.stderr
    before = round_ts_of(fx.spec, fx.spec.rounds - 1)
    assert ({e["id"] for e in json_events(run) if e["started_at"] <= iso_utc(before)}
            == {e["id"] for e in json_events(backtest(fx, catalog, "--json"))})


def test_a_small_part_reads_the_large_parts_first_rounds_and_the_events_stay_the_same(
        history, tmp_path):
    fx, _ = history
    lone = fx.catalog.targets[-1]  # three targets in one category, one in another: 3 and 1
    targets = tuple(replace(t, category="Markets") for t in fx.catalog.targets[:-1]) + (
        replace(lone, category="Derivatives"),)
    uneven = replace(fx.catalog, categories=("Markets", "Derivatives"), targets=targets)
    catalog = tmp_path / "targets.toml"
    catalog.write_text(catalog_toml(uneven))
    first, last = round_ts_of(fx.spec, 0), round_ts_of(fx.spec, fx.spec.rounds - 1)
    small, large = sorted(plan_parts(fx.path, first, last, split_catalog(uneven, 2)),
                          key=lambda j: len(j.catalog.targets))
    assert small.lend == (large.index, large.catalog, large.own_from_ts - 900)
    assert first < large.own_from_ts < last  # (3 - 1) / 3 of the rounds, read by the small
    assert json_events(backtest(fx, catalog, "--json", "--jobs", "2")) == json_events(
        backtest(fx, catalog, "--json", "--jobs", "1"))


def test_a_failed_loan_reaches_its_borrower_instead_of_leaving_it_waiting(
        history, tmp_path, monkeypatch):
    fx, _ = history
    parts = split_catalog(fx.catalog, 2)
    inboxes = [queue.Queue(), queue.Queue()]
    monkeypatch.setattr(backtest_module, "_queues", inboxes)
    missing = tmp_path / "gone.sqlite"  # the database went away under the lender
    lender = PartJob(missing, 0, 63 * 900, 0, parts[0], 0, lend=(1, parts[1], 9 * 900))
    with pytest.raises(BuildError, match="gone.sqlite: cannot read the database"):
        replay_part(lender)
    assert isinstance(inboxes[1].get_nowait(), BuildError)
