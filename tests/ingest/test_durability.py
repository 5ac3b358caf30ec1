"""An acknowledged push survives power loss: the ingest writer answers a push only after an
fsync of the WAL that began once the push's transaction was written. Checked on the writer's
own system calls (strace -f): pushes go one at a time, each one transaction whose commit frame
is visible in the WAL writes; every answer must follow, in the thread that sends it, a WAL
sync that started after that commit."""
from __future__ import annotations

import codecs
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import need_tool, wait_for
from tests.ingest.ingest_fixtures import (body_of, push, results, running, wait_for_rollups,
                                          writer_pid)

CALL = re.compile(r'(\w+)\((\d+)<([^>]*)>(?:, "((?:[^"\\]|\\.)*)")?')
FRAME_HEADER_BYTES = 24  # a WAL frame header; bytes 4-8 are non-zero on a commit frame


@dataclass
class Call:
    tid: str
    name: str
    fd: str
    path: str
    data: bytes
    entry: int  # line numbers in the trace
    exit: int = -1


def calls(trace: str) -> list[Call]:
    """The system calls of a `strace -f -y -s 24` log, with entry and exit lines (a call
    another thread interrupted is split into `<unfinished ...>` and `<... resumed>`)."""
    done, open_by_tid = [], {}
    for n, line in enumerate(trace.splitlines()):
        tid, _, rest = line.partition(" ")
        rest = rest.lstrip()  # strace pads short pids to a column: "7001  write(...)"
        if rest.startswith("<... "):
            call = open_by_tid.pop(tid, None)
            if call is not None:
                call.exit = n
            continue
        match = CALL.match(rest)
        if not match:
            continue
        name, fd, path, data = match.groups()
        call = Call(tid, name, fd, path, codecs.escape_decode(data or "")[0], n)
        done.append(call)
        if rest.endswith("<unfinished ...>"):
            open_by_tid[tid] = call
        else:
            call.exit = n
    return done


def answers_without_a_sync(trace: str) -> tuple[int, int]:
    """(answers, answers that no WAL sync of their own thread preceded which began after the
    first commit written since the previous answer)."""
    wal = [c for c in calls(trace) if c.path.endswith("-wal")]
    commits, header_seen = [], set()
    for c in wal:
        if c.name.startswith("pwrite") and c.tid in header_seen:
            commits.append(c.exit)  # the commit frame's page, written after its header
            header_seen.discard(c.tid)
        elif (c.name.startswith("pwrite") and len(c.data) == FRAME_HEADER_BYTES
              and c.data[4:8] != bytes(4)):
            header_seen.add(c.tid)
    syncs = [c for c in wal if c.name in ("fsync", "fdatasync")]
    answers = [c for c in calls(trace) if c.name == "write" and c.path.startswith("pipe:")
               and c.fd != "2"]
    unsynced, previous = 0, -1
    for answer in answers:
        commit = min((at for at in commits if at > previous), default=None)
        if commit is None or not any(s.tid == answer.tid and s.entry > commit and s.exit < answer.entry
                                     for s in syncs):
            unsynced += 1
        previous = answer.exit
    return len(answers), unsynced


def test_every_answer_of_the_writer_follows_a_sync_of_the_rows_it_acknowledges(tmp_path):
    strace = need_tool("strace", "strace")
    db = tmp_path / "central.db"
    log = tmp_path / "writer.strace"
    with running(db) as server:
        assert push(server.push_url, body_of(results(targets=1))).status_code == 200
        wait_for_rollups(db)
        tracer = subprocess.Popen([strace, "-f", "-y", "-s", str(FRAME_HEADER_BYTES), "-o", str(log),
                                   "-p", str(writer_pid(server.proc.pid, db)),
                                   "-e", "trace=pwrite64,write,fsync,fdatasync"],
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert "attached" in tracer.stderr.readline()
            replies = [push(server.push_url, body_of(results(targets=n))) for n in range(2, 8)]
            # strace may write its log after the calls it reports: wait for the answers there
            wait_for(lambda: answers_without_a_sync(log.read_text())[0] >= len(replies), 10,
                     "the writer's answers in the trace")
        finally:
            tracer.terminate()
            tracer.wait()
    assert [(r.status_code, r.json()["durable"]) for r in replies] == [(200, True)] * 6
    answers, unsynced = answers_without_a_sync(Path(log).read_text())
    assert answers == len(replies) and unsynced == 0
