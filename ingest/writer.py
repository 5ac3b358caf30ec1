"""The ingest writer: one process that makes every write of the ingest server.

A process of its own, not a thread of the server: the writer is the one stage that cannot run
in parallel, and as a thread it shared one GIL with the event loop and the checker pool's
threads (a third of its time went to waiting for it). Batches reach it as the checkers pickled
them; the server passes the bytes through unopened and gets (stored, duplicates) back.

In the writer: all batches waiting together commit together (group commit), each still
all-or-nothing because any failure fails the whole transaction. Rollups are refreshed
coalesced (when pushes pause, at most FLUSH_EVERY_S apart, on start and on close) from folds
kept in memory (ingest/live_rollups.py); checkpoints run in their own thread, and answers are
sent only once their rows are on disk (ingest/wal_sync.py).
"""
from __future__ import annotations

import itertools
import os
import pickle
import queue
import sqlite3
import sys
import threading
import time
from concurrent.futures import Future
from multiprocessing import get_context
from pathlib import Path

from db import connection as db
from ingest.disk import wal_path
from ingest.live_rollups import LiveRollups
from ingest.rollup import flush_rollups
from ingest.store import store_batches
from ingest.wal_sync import WalSyncer

WRITER_CACHE_KIB = 256 * 1024  # index pages stay in memory as the file grows
WRITER_MMAP_BYTES = 1 << 30
CHECKPOINT_EVERY_S = 1.0
FLUSH_EVERY_S = 2.0  # rollups lag raw rows by at most this under load
IDLE_FLUSH_S = 0.25  # ... and by this once pushes pause
MAX_GROUP = 64
ORPHAN_CHECK_S = 1.0
START_TIMEOUT_S = 120.0  # the first refresh may catch up with a killed writer's backlog
_ctx = get_context("spawn")  # never fork a process that runs threads


class WriterGone(sqlite3.OperationalError):
    """The writer process died with this batch in flight; a new one is starting."""


class WriterProcess:
    """The server's handle on the writer process: submit() answers through a Future. A writer
    that dies fails the batches in flight (the clients retry) and is replaced."""

    def __init__(self, db_path: Path):
        self.db_path = db_path
        self.ids = itertools.count()
        self.pending: dict[int, Future] = {}
        self.lock = threading.Lock()
        self.closing = False
        self.broken: Exception | None = None  # a replacement writer that failed to start

    def start(self) -> None:
        self.jobs = _ctx.Queue()
        self._launch()

    def submit(self, rows_pickle: bytes, received_at: float) -> Future:
        future: Future = Future()
        with self.lock:
            if self.broken is not None:
                future.set_exception(WriterGone(f"no ingest writer: {self.broken}"))
                return future
            job_id = next(self.ids)
            self.pending[job_id] = future
            self.jobs.put((job_id, rows_pickle, received_at))
        return future

    def close(self) -> None:
        self.closing = True
        self.jobs.put(None)
        self.proc.join()
        self.reader.join()

    def _launch(self) -> None:
        answers, child_answers = _ctx.Pipe(duplex=False)
        self.proc = _ctx.Process(target=writer_main, name="ingest-writer", daemon=True,
                                 args=(self.db_path, self.jobs, child_answers, os.getpid()))
        self.proc.start()
        child_answers.close()  # the child holds the only send end: EOF once it is gone
        try:
            if not answers.poll(START_TIMEOUT_S):
                raise RuntimeError(f"ingest writer did not start in {START_TIMEOUT_S:g} s")
            answers.recv()  # "ready"
        except EOFError:
            raise RuntimeError(f"ingest writer exited with {self.proc.exitcode}") from None
        self.reader = threading.Thread(target=self._read, args=(answers,), daemon=True,
                                       name="ingest-writer-answers")
        self.reader.start()

    def _read(self, answers) -> None:
        """Hand answers to their futures until the writer is gone; then fail what was in
        flight and, unless closing, start a new writer on a new queue."""
        while True:
            try:
                job_id, ok, value = answers.recv()
            except EOFError:
                break
            with self.lock:
                future = self.pending.pop(job_id)
            (future.set_result if ok else future.set_exception)(value)
        answers.close()
        self.proc.join()
        with self.lock:
            lost, self.pending = list(self.pending.values()), {}
            self.jobs = _ctx.Queue()  # the dead writer may have held the old one's lock
        for future in lost:
            future.set_exception(WriterGone("the ingest writer died; retry"))
        if self.closing:
            return
        print(f"ingest: writer exited with {self.proc.exitcode}; starting a new one",
              file=sys.stderr, flush=True)
        try:
            self._launch()
        except Exception as exc:  # every later push answers 503 naming the cause
            print(f"ingest: {exc}", file=sys.stderr, flush=True)
            self.broken = exc


def writer_main(db_path: Path, jobs, answers, parent_pid: int) -> None:
    """The writer process: open, catch up with marks a killed writer left, answer "ready",
    then write until the None job."""
    exit_with_parent(parent_pid)
    conn = db.connect(db_path)
    conn.execute("PRAGMA synchronous=NORMAL")  # the WalSyncer syncs before anything is answered
    conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
    conn.execute(f"PRAGMA mmap_size={WRITER_MMAP_BYTES}")
    conn.execute("PRAGMA wal_autocheckpoint=0")  # checkpoints (and fsyncs) never inside a push
    flush_rollups(conn)
    stopping = threading.Event()
    checkpointer = threading.Thread(target=_checkpoint, args=(db_path, stopping), daemon=True)
    checkpointer.start()
    answers.send("ready")
    syncer = WalSyncer(wal_path(db_path), answers)
    try:
        Writer(conn, jobs, syncer).run()
    finally:
        syncer.close()
        stopping.set()
        checkpointer.join()
        conn.close()


def _checkpoint(db_path: Path, stopping: threading.Event) -> None:
    conn = db.connect(db_path)
    try:
        while not stopping.wait(CHECKPOINT_EVERY_S):
            _try_checkpoint(conn, "PASSIVE")
        _try_checkpoint(conn, "TRUNCATE")
    finally:
        conn.close()


def _try_checkpoint(conn: sqlite3.Connection, mode: str) -> None:
    """A checkpoint the disk refused (full) is logged and tried again next time: the WAL
    holds the data meanwhile, and the checkpointer must outlive the outage."""
    try:
        conn.execute(f"PRAGMA wal_checkpoint({mode})")
    except sqlite3.Error as exc:
        print(f"ingest: checkpoint deferred: {exc}", file=sys.stderr, flush=True)


class Writer:
    """The write loop of the writer process."""

    def __init__(self, conn: sqlite3.Connection, jobs, syncer: WalSyncer):
        self.conn, self.jobs, self.syncer = conn, jobs, syncer
        self.live = LiveRollups()

    def run(self) -> None:
        flushed_at, dirty = time.monotonic(), False
        while True:
            try:
                first = self.jobs.get(timeout=IDLE_FLUSH_S if dirty else None)
            except queue.Empty:  # pushes paused: bring the rollups up to date
                dirty = not self._flush()
                flushed_at = time.monotonic()
                continue
            group = self._next_group(first)
            stop = group[-1] is None
            group = [job for job in group if job is not None]
            dirty = self._write(group) or dirty
            if stop or (dirty and time.monotonic() - flushed_at >= FLUSH_EVERY_S):
                dirty = not self._flush()
                flushed_at = time.monotonic()
            if stop:
                return

    def _next_group(self, first) -> list:
        """first and whatever is queued behind it: one transaction for several batches dirties
        each index page once instead of once per batch. Waiting for more would idle the
        writer, the one stage that cannot run in parallel."""
        group = [first]
        while group[-1] is not None and len(group) < MAX_GROUP:
            try:
                group.append(self.jobs.get_nowait())
            except queue.Empty:
                break
        return group

    def _flush(self) -> bool:
        """Refresh the dirty rollups; False (retried later) if the database refused."""
        try:
            flush_rollups(self.conn, self.live)
        except sqlite3.Error as exc:
            print(f"ingest: rollup refresh deferred: {exc}", file=sys.stderr, flush=True)
            return False
        return True

    def _write(self, group: list) -> bool:
        """Store group and have its requests answered once it is on disk; True if anything
        was stored."""
        if not group:
            return False
        try:
            counts = store_batches(self.conn, [pickle.loads(rows) for _, rows, _ in group],
                                   max(at for _, _, at in group), refresh=False, live=self.live)
        except Exception as exc:  # each waiting request answers 503 with the cause
            error = exc if isinstance(exc, sqlite3.Error) else RuntimeError(repr(exc))
            self.syncer.put([(job_id, False, error) for job_id, _, _ in group])
            return False
        self.syncer.put([(job_id, True, count) for (job_id, _, _), count in zip(group, counts)])
        return any(stored for stored, _ in counts)


def exit_with_parent(parent_pid: int) -> None:
    """In a child of the server: exit within a second once the server is gone (kill -9 leaves
    no one to stop it) instead of living on and holding the server's pipes open."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="orphan-watch").start()
