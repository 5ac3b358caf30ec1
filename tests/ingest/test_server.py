"""The ingest server as a real process: stores signed batches, counts replays, answers health."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from db.connection import connect
from tests.conftest import wait_for
from tests.ingest.ingest_fixtures import (body_of, children_of, has_open, push, results, running,
                                          spawned_pids, wait_for_rollups)


@pytest.fixture
def server(tmp_path):
    with running(tmp_path / "central.db") as s:
        yield s


def test_a_signed_batch_is_stored_and_its_replay_counts_as_duplicates(server, tmp_path):
    body = body_of(results("ewr", targets=5))
    first = push(server.push_url, body)
    assert first.status_code == 200
    assert first.json() == {"stored": 30, "duplicates": 0, "durable": True}
    again = push(server.push_url, body)
    assert again.status_code == 200
    assert again.json() == {"stored": 0, "duplicates": 30, "durable": True}
    wait_for_rollups(tmp_path / "central.db")  # refreshed once pushes pause
    conn = sqlite3.connect(tmp_path / "central.db")
    assert conn.execute("SELECT count(*) FROM results").fetchone() == (30,)
    assert conn.execute("SELECT sum(count) FROM hourly").fetchone() == (30,)


def test_the_database_is_wal_with_strict_tables(server, tmp_path):
    push(server.push_url, body_of(results()))
    conn = sqlite3.connect(tmp_path / "central.db")
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    strict = dict(conn.execute("SELECT name, strict FROM pragma_table_list WHERE schema='main'"))
    assert strict["results"] == 1 and strict["hourly"] == 1


def test_health_reports_schema_version_and_latest_round(server):
    batch = results()
    push(server.push_url, body_of(batch))
    health = httpx.get(server.url + "/healthz").json()
    assert health["ok"] is True and health["schema_version"] >= 1
    assert health["latest_round"] == int(sqlite_round(batch[0]["round_id"]))


def test_unknown_paths_answer_json_errors(server):
    resp = httpx.get(server.url + "/nope")
    assert resp.status_code == 404 and resp.json()["error"] == "http"


def test_a_database_error_answers_503_without_its_text_which_goes_to_the_log(tmp_path):
    db = tmp_path / "central.db"
    connect(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TRIGGER refuse BEFORE INSERT ON results "
                     "BEGIN SELECT RAISE(ABORT, 'internal detail 7f3a'); END")
    with running(db) as server:
        resp = push(server.push_url, body_of(results()))
        server.proc.kill()
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "1"
    assert resp.json() == {"error": "database_unavailable", "detail": "try again", "retry_after_s": 1}
    assert "internal detail 7f3a" in server.proc.stderr.read()


def test_serve_without_a_region_secret_names_the_variable(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "nettrace", "ingest", "serve", "--db",
                           str(tmp_path / "c.db"), "--regions", "ewr"],
                          capture_output=True, text=True, env={"PATH": "/usr/bin"}, timeout=30)
    assert proc.returncode == 2 and "NETTRACE_SECRET_EWR" in proc.stderr


def sqlite_round(round_id: str) -> float:
    return datetime.fromisoformat(round_id).timestamp()


def test_killed_checker_and_writer_processes_cost_one_503_and_ingest_carries_on(server, tmp_path):
    assert push(server.push_url, body_of(results(targets=1))).status_code == 200
    killed = spawned_pids(server.proc.pid)
    writers = [pid for pid in killed if has_open(pid, tmp_path / "central.db")]
    assert len(writers) == 1 and len(killed) >= 2  # the writer, and checkers started so far
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    body = body_of(results(targets=2))  # once: results() takes the round from the clock
    answers = [push(server.push_url, body) for _ in range(3)]
    assert answers[0].status_code in (200, 503)
    assert answers[-1].status_code == 200 and answers[-1].json()["duplicates"] == 12
    assert not set(spawned_pids(server.proc.pid)) & set(killed)  # all replaced


def test_checker_and_writer_processes_exit_when_the_server_is_killed(server):
    assert push(server.push_url, body_of(results())).status_code == 200  # children are up
    children = children_of(server.proc.pid)
    assert len(children) >= 3, "the server validates in checker processes and writes in one"
    server.proc.kill()
    server.proc.wait()
    wait_for(lambda: not any(Path(f"/proc/{p}").exists() for p in children), 10,
             "the checker and writer children to exit", 0.2)
