"""The central ingest endpoint (Starlette on uvicorn): verify, validate, store one batch.

POST /v1/results   signed batch {"results": [...]} -> 200 {"stored", "duplicates", "durable"}
GET  /healthz      200 {"ok", "schema_version", "latest_round"}
GET  /metrics      Prometheus text: database bytes, free bytes on its volume
Errors are {"error": code, "detail": ...}: 400 bad JSON or schema (detail names the first bad
field), 401 signature/region/clock, 408 slow body, 413 oversized, 503 busy or database
unavailable, 507 disk nearly full (503 and 507 with Retry-After; the collector keeps the batch).
Region, timestamp and the head signature authenticate a push from its headers; they, the push
limit and the free space are checked before a byte of the body is read.
A rejected batch writes nothing: the only write is the writer process's one transaction
(ingest/writer.py), and it answers only once that transaction is on disk (ingest/wal_sync.py).
"""
from __future__ import annotations

import asyncio
import json
import os
import pickle
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from multiprocessing import get_context

import anyio
import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from db import connection as db
from ingest.disk import read_disk_use, render_metrics
from ingest.server_config import ServerConfig
from ingest.signature import Claim, SignatureError, check_claim, verify_body
from ingest.validate import ValidationError, validate_batch
from ingest.writer import WriterProcess, exit_with_parent

PUSH_PATH = "/v1/results"
BUSY_RETRY_S = 1
DISK_RETRY_S = 60
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class BodyTooLarge(Exception):
    """The request body passed max_body_bytes."""


def error(status: int, code: str, detail: str, **extra) -> JSONResponse:
    headers = {"Retry-After": str(extra["retry_after_s"])} if "retry_after_s" in extra else None
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status,
                        headers=headers)


def log(message: str) -> None:
    print(f"ingest: {message}", file=sys.stderr, flush=True)


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


def check_body(body: bytes, region: str, now: float) -> bytes | tuple[str, str, str | None]:
    """The rows of a verified body pickled for the writer process (the server passes them on
    unopened), or (code, detail, path) of the 400 answer rejecting it. Runs in a checker
    process, so parsing and validation use a core the writer does not."""
    try:
        payload = parse_json(body)
    except ValueError as exc:
        return "malformed_json", str(exc)[:200], None
    try:
        rows = validate_batch(payload, now, region)
    except ValidationError as exc:
        return "invalid_batch", exc.detail, exc.path
    return pickle.dumps(rows, pickle.HIGHEST_PROTOCOL)


class Ingest:
    """The app's state: config, the writer and the pushes in flight."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.writer = WriterProcess(config.db_path)
        self.checkers: ProcessPoolExecutor | None = None
        self.in_flight = 0

    async def push(self, request: Request) -> JSONResponse:
        """Everything the headers can refuse is refused before the body is read."""
        try:
            claim = check_claim(request.headers, self.config.secrets, time.time())
        except SignatureError as exc:
            return error(401, "unauthorized", str(exc))
        if self.in_flight >= self.config.max_in_flight:
            return error(503, "busy", f"{self.config.max_in_flight} pushes in flight",
                         retry_after_s=BUSY_RETRY_S)
        free = read_disk_use(self.config.db_path).free_bytes
        if free < self.config.min_free_bytes:
            log(f"refusing a push from {claim.region}: {free} bytes free on the database's "
                f"volume, below --min-free-bytes {self.config.min_free_bytes}")
            return disk_full()
        self.in_flight += 1
        try:
            return await self.receive(request, claim)
        finally:
            self.in_flight -= 1

    async def receive(self, request: Request, claim: Claim) -> JSONResponse:
        try:
            with anyio.fail_after(self.config.body_timeout_s):
                body = await read_body(request, self.config.max_body_bytes)
        except TimeoutError:
            return error(408, "body_timeout", f"body not received within {self.config.body_timeout_s:g} s")
        except BodyTooLarge:
            return error(413, "body_too_large", f"limit is {self.config.max_body_bytes} bytes")
        try:
            verify_body(claim, body)
        except SignatureError as exc:
            return error(401, "unauthorized", str(exc))
        now = time.time()
        try:
            checked = await asyncio.get_running_loop().run_in_executor(
                self.checkers, check_body, body, claim.region, now)
        except BrokenProcessPool:  # a checker died (OOM kill): replace the pool, client retries
            self.checkers = self.new_checkers()
            return error(503, "checker_restarted", "try again", retry_after_s=BUSY_RETRY_S)
        if isinstance(checked, tuple):
            code, detail, path = checked
            return error(400, code, detail, **({"path": path} if path else {}))
        try:
            stored, duplicates = await asyncio.wrap_future(self.writer.submit(checked, now))
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
                log(f"refusing a push from {claim.region}: the database's volume is full ({exc})")
                return disk_full()
            log(f"database unavailable: {exc!r}")
            return error(503, "database_unavailable", "try again", retry_after_s=BUSY_RETRY_S)
        return JSONResponse({"stored": stored, "duplicates": duplicates, "durable": True})

    async def metrics(self, request: Request) -> PlainTextResponse:
        use = await anyio.to_thread.run_sync(read_disk_use, self.config.db_path)
        return PlainTextResponse(render_metrics(use, self.config.min_free_bytes),
                                 media_type=METRICS_TYPE)

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


def disk_full() -> JSONResponse:
    return error(507, "insufficient_storage", "central's disk is nearly full; keep the batch "
                 "and retry later", retry_after_s=DISK_RETRY_S)


def build_app(config: ServerConfig) -> Starlette:
    ingest = Ingest(config)
    routes = [Route(PUSH_PATH, ingest.push, methods=["POST"]),
              Route("/healthz", ingest.health, methods=["GET"]),
              Route("/metrics", ingest.metrics, methods=["GET"])]
    return Starlette(routes=routes, lifespan=ingest.lifespan,
                     exception_handlers={HTTPException: _http, Exception: _internal})
