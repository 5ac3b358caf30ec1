"""The central ingest endpoint (Starlette on uvicorn): verify, validate, store one batch.

POST /v1/results   signed batch {"results": [...]} -> 200 {"stored", "duplicates"}
GET  /healthz      200 {"ok", "schema_version", "latest_round"}
Errors are {"error": code, "detail": ...}: 400 bad JSON or schema (detail names the first bad
field), 401 signature/region/clock, 408 slow body, 413 oversized, 503 database unavailable.
A rejected batch writes nothing: the only write is the writer process's one transaction
(ingest/writer.py).
"""
from __future__ import annotations

import asyncio
import json
import os
import pickle
import sqlite3
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
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

from db import connection as db
from ingest.writer import WriterProcess, exit_with_parent
from ingest.signature import SignatureError, verify
from ingest.validate import ValidationError, validate_batch

PUSH_PATH = "/v1/results"


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
    """The app's state: config and the writer."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.writer = WriterProcess(config.db_path)
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
            checked = await asyncio.get_running_loop().run_in_executor(
                self.checkers, check_body, body, region, now)
        except BrokenProcessPool:  # a checker died (OOM kill): replace the pool, client retries
            self.checkers = self.new_checkers()
            return error(503, "checker_restarted", "try again", retry_after_s=1)
        if isinstance(checked, tuple):
            code, detail, path = checked
            return error(400, code, detail, **({"path": path} if path else {}))
        try:
            stored, duplicates = await asyncio.wrap_future(self.writer.submit(checked, now))
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
