"""`nettrace ingest backup` takes a consistent copy while pushes keep arriving."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time

import httpx

from collect.records import round_slot
from tests.ingest.ingest_fixtures import REGIONS, body_of, push, results, running


def keep_pushing(url: str, stop: threading.Event, sent: list[int]) -> None:
    first = round_slot(time.time()) - 400 * 900
    with httpx.Client() as client:
        i = 0
        while not stop.is_set():
            region = REGIONS[i % len(REGIONS)]
            resp = push(url, body_of(results(region, first + i * 900, targets=50)), region, client=client)
            sent.append(resp.status_code)
            i += 1


def test_a_backup_during_ingest_is_a_consistent_snapshot(tmp_path):
    db, out = tmp_path / "central.db", tmp_path / "backup.db"
    stop, sent = threading.Event(), []
    with running(db) as server:
        push(server.push_url, body_of(results()))
        pusher = threading.Thread(target=keep_pushing, args=(server.push_url, stop, sent))
        pusher.start()
        time.sleep(1.0)
        done = subprocess.run([sys.executable, "-m", "nettrace", "ingest", "backup", "--db", str(db),
                               "--out", str(out)], capture_output=True, text=True, timeout=60)
        time.sleep(0.5)
        stop.set()
        pusher.join()
    assert done.returncode == 0, done.stderr
    assert sent and set(sent) == {200}
    copy = sqlite3.connect(out)
    assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    stored = copy.execute("SELECT count(*) FROM results").fetchone()[0]
    # Results and their rollups are written in one transaction, so a snapshot agrees with itself.
    assert copy.execute("SELECT sum(count) FROM hourly").fetchone() == (stored,)
    assert 0 < stored < sqlite3.connect(db).execute("SELECT count(*) FROM results").fetchone()[0]


def test_a_backup_never_overwrites_a_file(tmp_path):
    out = tmp_path / "backup.db"
    out.write_text("precious")
    done = subprocess.run([sys.executable, "-m", "nettrace", "ingest", "backup", "--db",
                           str(tmp_path / "c.db"), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 2 and "never overwrites" in done.stderr
    assert out.read_text() == "precious"
