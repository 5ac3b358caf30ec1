"""The central ingest endpoint (Starlette on uvicorn): verify, validate, store one batch.

POST /v1/results   signed batch {"results": [...]} -> 200 {"stored", "duplicates"}
GET  /healthz      200 {"ok", "schema_version", "latest_round"}
Errors are {"error": code, "detail": ...}: 400 bad JSON or schema (detail names the first bad
field), 401 signature/region/clock, 408 slow body, 413 oversized, 503 database unavailable.
A rejected batch writes nothing: the only write is store_rows' single transaction.
"""
from __future__ import annotations

import asyncio
import json
import os
import queue
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from collect import db
from collect.signing import SignatureError, verify
from collect.live_rollups import LiveRollups
from collect.rollup import flush_rollups
from collect.store import store_batches
from collect.validate import ValidationError, validate_batch

PUSH_PATH = "/v1/results"
ORPHAN_CHECK_S = 1.0
WRITER_CACHE_KIB = 256 * 1024  # index pages stay in memory as the file grows
WRITER_MMAP_BYTES = 1 << 30
CHECKPOINT_EVERY_S = 1.0
FLUSH_EVERY_S = 2.0  # rollups lag raw rows by at most this under load
IDLE_FLUSH_S = 0.25  # ... and by this once pushes pause


@dataclass(frozen=True, slots=True)
class ServerConfig:
    db_path: Path
    secrets: Mapping[str, bytes]  # region -> push secret
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout_s: float = 30.0
    checkers: int = 2  # processes that parse and validate bodies beside the writer


class BodyTooLarge(Exception):
    """The request body passed max_body_bytes."""


def error(status: int, code: str, detail: str, **extra) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> object:
    """Strict UTF-8 JSON without NaN/Infinity; raises ValueError on anything else.
    orjson parses the common case; what it refuses (a lone surrogate escape, a huge integer)
    goes to json, so the validator still names the field instead of "malformed JSON"."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError("nested too deeply") from None


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def check_body(body: bytes, region: str, now: float) -> list[tuple] | tuple[str, str, str | None]:
    """The rows of a verified body, or (code, detail, path) of the 400 answer rejecting it.
    Runs in a checker process, so parsing and validation use a core the writer does not."""
    try:
        payload = parse_json(body)
    except ValueError as exc:
        return "malformed_json", str(exc)[:200], None
    try:
        return validate_batch(payload, now, region)
    except ValidationError as exc:
        return "invalid_batch", exc.detail, exc.path


class Writer:
    """The one thread that writes: all batches waiting together commit together (group
    commit), each still all-or-nothing because any failure fails the whole transaction.
    Rollups are refreshed coalesced: when pushes pause, at most FLUSH_EVERY_S apart, and
    on start and close, from folds the writer keeps in memory (collect/live_rollups.py)."""

    def __init__(self, db_path: Path, max_group: int = 64):
        self.db_path = db_path
        self.max_group = max_group
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.live = LiveRollups()
        self.thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)

    def start(self) -> None:
        self.conn = db.connect(self.db_path)
        self.conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        self.conn.execute(f"PRAGMA mmap_size={WRITER_MMAP_BYTES}")
        # Checkpoints (and their fsyncs) run in their own thread, never inside a push.
        self.conn.execute("PRAGMA wal_autocheckpoint=0")
        flush_rollups(self.conn)  # marks a killed writer left behind
        self.stopping = threading.Event()
        self.checkpointer = threading.Thread(target=self._checkpoint, name="ingest-checkpoint", daemon=True)
        self.thread.start()
        self.checkpointer.start()

    def close(self) -> None:
        self.jobs.put(None)
        self.thread.join()
        self.stopping.set()
        self.checkpointer.join()
        self.conn.close()

    def _checkpoint(self) -> None:
        conn = db.connect(self.db_path)
        try:
            while not self.stopping.wait(CHECKPOINT_EVERY_S):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()

    def submit(self, rows: list[tuple], received_at: float) -> Future:
        future: Future = Future()
        self.jobs.put((rows, received_at, future))
        return future

    def _next_group(self, first) -> list:
        """first and whatever is queued behind it: one transaction for several batches dirties
        each index page once instead of once per batch. Waiting for more would idle the
        writer, the one stage that cannot run in parallel."""
        group = [first]
        while group[-1] is not None and len(group) < self.max_group:
            try:
                group.append(self.jobs.get_nowait())
            except queue.Empty:
                break
        return group

    def _run(self) -> None:
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

    def _flush(self) -> bool:
        """Refresh the dirty rollups; False (retried later) if the database refused."""
        try:
            flush_rollups(self.conn, self.live)
        except sqlite3.Error as exc:
            print(f"ingest: rollup refresh deferred: {exc}", file=sys.stderr, flush=True)
            return False
        return True

    def _write(self, group: list) -> bool:
        """Store group and answer its requests; True if anything was stored."""
        if not group:
            return False
        try:
            counts = store_batches(self.conn, [rows for rows, _, _ in group],
                                   max(at for _, at, _ in group), refresh=False,
                                   live=self.live)
        except Exception as exc:  # each waiting request answers 503 with the cause
            for _, _, future in group:
                future.set_exception(exc)
            return False
        for (_, _, future), count in zip(group, counts):
            future.set_result(count)
        return any(stored for stored, _ in counts)


class Ingest:
    """The app's state: config and the writer."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.writer = Writer(config.db_path)
        self.checkers: ProcessPoolExecutor | None = None

    async def push(self, request: Request) -> JSONResponse:
        try:
            with anyio.fail_after(self.config.body_timeout_s):
                body = await read_body(request, self.config.max_body_bytes)
        except TimeoutError:
            return error(408, "body_timeout", f"body not received within {self.config.body_timeout_s:g} s")
        except BodyTooLarge:
            return error(413, "body_too_large", f"limit is {self.config.max_body_bytes} bytes")
        now = time.time()
        try:
            region = verify(request.headers, body, self.config.secrets, now)
        except SignatureError as exc:
            return error(401, "unauthorized", str(exc))
        try:
            rows = await asyncio.get_running_loop().run_in_executor(self.checkers, check_body,
                                                                    body, region, now)
        except BrokenProcessPool:  # a checker died (OOM kill): replace the pool, client retries
            self.checkers = self.new_checkers()
            return error(503, "checker_restarted", "try again", retry_after_s=1)
        if isinstance(rows, tuple):
            code, detail, path = rows
            return error(400, code, detail, **({"path": path} if path else {}))
        try:
            stored, duplicates = await asyncio.wrap_future(self.writer.submit(rows, now))
        except sqlite3.Error as exc:
            return error(503, "database_unavailable", str(exc), retry_after_s=1)
        return JSONResponse({"stored": stored, "duplicates": duplicates})

    async def health(self, request: Request) -> JSONResponse:
        def read() -> tuple:
            conn = db.connect(self.config.db_path, readonly=True)
            try:
                return conn.execute("SELECT (SELECT max(version) FROM schema_version), "
                                    "(SELECT max(round_ts) FROM results)").fetchone()
            finally:
                conn.close()
        version, latest = await anyio.to_thread.run_sync(read)
        return JSONResponse({"ok": True, "schema_version": version, "latest_round": latest})

    def new_checkers(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.config.checkers, mp_context=get_context("spawn"),
                                   initializer=exit_with_parent, initargs=(os.getpid(),))

    @asynccontextmanager
    async def lifespan(self, app: Starlette):
        self.writer.start()
        self.checkers = self.new_checkers()
        try:
            yield
        finally:
            self.checkers.shutdown(cancel_futures=True)
            self.writer.close()


async def _http(request: Request, exc: HTTPException) -> JSONResponse:
    return error(exc.status_code, "http", exc.detail)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    return error(500, "internal", type(exc).__name__)


def build_app(config: ServerConfig) -> Starlette:
    ingest = Ingest(config)
    routes = [Route(PUSH_PATH, ingest.push, methods=["POST"]),
              Route("/healthz", ingest.health, methods=["GET"])]
    return Starlette(routes=routes, lifespan=ingest.lifespan,
                     exception_handlers={HTTPException: _http, Exception: _internal})


def exit_with_parent(parent_pid: int) -> None:
    """Checker initializer: a checker whose server died (kill -9 leaves no one to stop the pool)
    exits within a second instead of living on and holding the server's pipes open."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(ORPHAN_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="orphan-watch").start()
