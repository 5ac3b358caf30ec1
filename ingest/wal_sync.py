"""The ingest writer's answers go out only once the rows they acknowledge are on disk.

The writer commits with synchronous=NORMAL (no fsync inside COMMIT) and hands each group's
answers to a WalSyncer thread, which fdatasyncs the WAL and then sends them. A commit's
frames are in the WAL file before COMMIT returns, and an fdatasync flushes every page of the
file written before it began, so an answer means what it means with synchronous=FULL: the
rows survive power loss. The difference is who waits. Inline (FULL), each commit idles the
writer, the one stage that cannot run in parallel, for the device and then for the
scheduler's wake-up, which on a busy 2-core machine cost a third of its throughput
(bench/ingest.py); here one fsync covers every group committed before it began, and the
writer commits the next group meanwhile.

A failed fsync fails the answers waiting on it and ends the process: the server starts a new
writer and the collectors retry. It never fsyncs again and answers, because a page whose
write-back failed may no longer be marked dirty, so a second fsync could succeed falsely.
"""
from __future__ import annotations

import os
import queue
import sqlite3
import sys
import threading
from pathlib import Path

Answer = tuple  # (job_id, ok, value): what the server's WriterProcess reads back


class WalSyncer:
    """The only sender on the writer's answers pipe."""

    def __init__(self, wal: Path, answers):
        self.answers = answers
        self.pending: queue.SimpleQueue = queue.SimpleQueue()
        self.fd = os.open(wal, os.O_RDONLY)  # the writer's open connection keeps the file
        self.thread = threading.Thread(target=self._run, daemon=True, name="wal-sync")
        self.thread.start()

    def put(self, answers: list[Answer]) -> None:
        """Send answers once everything committed before this call is on disk."""
        self.pending.put(answers)

    def close(self) -> None:
        """Send what is still waiting, then stop."""
        self.pending.put(None)
        self.thread.join()
        os.close(self.fd)

    def _run(self) -> None:
        while True:
            batch = [self.pending.get()]
            while True:
                try:
                    batch.append(self.pending.get_nowait())
                except queue.Empty:
                    break
            waiting = [answer for answers in batch if answers is not None for answer in answers]
            if any(ok for _, ok, _ in waiting):  # a failed group wrote nothing to sync
                self._sync(waiting)
            for answer in waiting:
                self.answers.send(answer)
            if batch[-1] is None:
                return

    def _sync(self, waiting: list[Answer]) -> None:
        try:
            os.fdatasync(self.fd)
        except OSError as exc:
            print(f"ingest: fsync of the WAL failed ({exc}); the writer restarts",
                  file=sys.stderr, flush=True)
            failed = sqlite3.OperationalError(f"fsync of the WAL failed: {exc}")
            for job_id, _, _ in waiting:
                self.answers.send((job_id, False, failed))
            os._exit(1)
