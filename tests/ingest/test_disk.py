"""Central's disk: below the free-space threshold, or with the volume truly full, a push
answers 507 and stores nothing (the collector keeps it); ingest carries on once there is room.
/metrics reports the database's bytes and the volume's free bytes in Prometheus text."""
from __future__ import annotations

import os
import subprocess
import time

import httpx

from collect.signing import sign
from tests.conftest import need_root, need_tool
from tests.ingest.ingest_fixtures import (body_of, content_dump, fill_volume, open_push, push,
                                          read_reply, results, running, secret, tmpfs)

MIB = 1024 * 1024


def metrics(url: str) -> dict[str, float]:
    resp = httpx.get(url + "/metrics")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    return {name: float(value) for name, value in
            (line.split() for line in resp.text.splitlines() if not line.startswith("#"))}


def db_files_bytes(db) -> int:
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def test_below_the_free_space_threshold_a_push_answers_507_before_its_body(tmp_path):
    db = tmp_path / "central.db"
    with running(db, "--min-free-bytes", str(1 << 62)) as server:
        before = content_dump(db)
        headers = sign(secret("ewr"), "ewr", int(time.time()), b"never sent")
        with open_push(server.push_url, headers, 1_000_000, timeout_s=3) as sock:
            reply = read_reply(sock)
        assert reply.status_code == 507 and reply.headers["Retry-After"] == "60"
        assert reply.json()["error"] == "insufficient_storage"
        assert push(server.push_url, body_of(results())).status_code == 507
        assert content_dump(db) == before
        assert server.proc.poll() is None


def test_a_full_volume_answers_507_loses_nothing_and_ingest_resumes_once_space_is_freed(tmp_path):
    need_root()
    with tmpfs(tmp_path / "vol", 4 * MIB) as vol, \
            running(vol / "central.db", "--min-free-bytes", "0") as server:
        db = vol / "central.db"
        assert push(server.push_url, body_of(results("ewr", targets=2))).status_code == 200
        before = content_dump(db)
        filler = fill_volume(vol)
        batch = body_of(results("ord", targets=40))
        refused = push(server.push_url, batch, "ord")  # the disk refuses the writer's commit
        assert refused.status_code == 507 and refused.json()["error"] == "insufficient_storage"
        assert metrics(server.url)["nettrace_db_volume_free_bytes"] < 64 * 1024
        assert content_dump(db) == before and server.proc.poll() is None
        filler.unlink()
        stored = push(server.push_url, batch, "ord")
        assert stored.status_code == 200 and stored.json()["stored"] == 240
        assert len(content_dump(db)) > len(before)
    assert "the database's volume is full" in server.proc.stderr.read()


def test_metrics_report_database_bytes_and_free_space_in_text_promtool_accepts(tmp_path):
    db = tmp_path / "central.db"
    with running(db, "--min-free-bytes", str(5 * MIB)) as server:
        assert push(server.push_url, body_of(results(targets=20))).status_code == 200
        low = db_files_bytes(db)
        values = metrics(server.url)
        high = db_files_bytes(db)  # PASSIVE checkpoints never shrink either file
        text = httpx.get(server.url + "/metrics").text
    assert low <= values["nettrace_db_bytes"] <= high and low > 0
    st = os.statvfs(tmp_path)
    assert abs(values["nettrace_db_volume_free_bytes"] - st.f_bavail * st.f_frsize) < 256 * MIB
    assert values["nettrace_db_volume_size_bytes"] == st.f_blocks * st.f_frsize
    assert values["nettrace_ingest_min_free_bytes"] == 5 * MIB
    promtool = need_tool("promtool", "prometheus")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
