"""An acknowledged push survives power loss: the ingest writer syncs the WAL after writing a
batch's rows and before it answers. Checked on the writer's own system calls (strace): every
answer it sends follows an fsync/fdatasync of the WAL that came after the WAL's last write."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

from tests.conftest import need_tool
from tests.ingest.ingest_fixtures import body_of, push, results, running, writer_pid

CALL = re.compile(r"^(\w+)\((\d+)<([^>]*)>")


def unsynced_answers(trace: str) -> tuple[int, int]:
    """(answers sent, answers sent while WAL writes were not yet synced) in a strace log of
    the writer's main thread: answers go down a pipe, rows into the -wal file."""
    answers = unsynced = 0
    dirty = False
    for line in trace.splitlines():
        match = CALL.match(line)
        if not match:
            continue
        call, fd, target = match.groups()
        if target.endswith("-wal"):
            dirty = call.startswith("pwrite") or (dirty and call not in ("fsync", "fdatasync"))
        elif call == "write" and target.startswith("pipe:") and fd != "2":
            answers += 1
            unsynced += dirty
    return answers, unsynced


def test_every_answer_of_the_writer_follows_a_sync_of_the_rows_it_wrote(tmp_path):
    strace = need_tool("strace", "strace")
    db = tmp_path / "central.db"
    log = tmp_path / "writer.strace"
    with running(db) as server:
        assert push(server.push_url, body_of(results(targets=1))).status_code == 200
        writer = writer_pid(server.proc.pid, db)
        tracer = subprocess.Popen([strace, "-y", "-p", str(writer), "-o", str(log),
                                   "-e", "trace=pwrite64,write,fsync,fdatasync"],
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert "attached" in tracer.stderr.readline()
            replies = [push(server.push_url, body_of(results(targets=n))) for n in range(2, 8)]
        finally:
            tracer.terminate()
            tracer.wait()
    assert all(r.status_code == 200 and r.json()["durable"] is True for r in replies)
    answers, unsynced = unsynced_answers(Path(log).read_text())
    assert answers >= len(replies) and unsynced == 0
