"""The central ingest endpoint (Starlette on uvicorn): verify, validate, store one batch.

POST /v1/results   signed batch {"results": [...]} -> 200 {"stored", "duplicates"}
GET  /healthz      200 {"ok", "schema_version", "latest_round"}
Errors are {"error": code, "detail": ...}: 400 bad JSON or schema (detail names the first bad
field), 401 signature/region/clock, 408 slow body, 413 oversized, 503 database busy.
A rejected batch writes nothing: the only write is store_rows' single transaction.
"""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from collect import db
from collect.signing import SignatureError, verify
from collect.store import store_rows
from collect.validate import ValidationError, validate_batch

PUSH_PATH = "/v1/results"


@dataclass(frozen=True, slots=True)
class ServerConfig:
    db_path: Path
    secrets: Mapping[str, bytes]  # region -> push secret
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout_s: float = 30.0


class BodyTooLarge(Exception):
    """The request body passed max_body_bytes."""


def error(status: int, code: str, detail: str, **extra) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status)


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> object:
    """Strict UTF-8 JSON without NaN/Infinity; raises ValueError on anything else."""
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


class Ingest:
    """The app's state: config, one writer connection, one writer at a time."""

    def __init__(self, config: ServerConfig):
        self.config = config
        self.conn: sqlite3.Connection | None = None
        self.writer = anyio.CapacityLimiter(1)

    def write(self, body: bytes, region: str, now: float) -> JSONResponse:
        """Parse, validate and store one verified body (runs in the writer thread)."""
        try:
            payload = parse_json(body)
        except ValueError as exc:
            return error(400, "malformed_json", str(exc)[:200])
        try:
            rows = validate_batch(payload, now, region)
        except ValidationError as exc:
            return error(400, "invalid_batch", exc.detail, path=exc.path)
        try:
            stored, duplicates = store_rows(self.conn, rows, now)
        except sqlite3.OperationalError as exc:
            return error(503, "database_busy", str(exc))
        return JSONResponse({"stored": stored, "duplicates": duplicates})

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
        return await anyio.to_thread.run_sync(self.write, body, region, now, limiter=self.writer)

    async def health(self, request: Request) -> JSONResponse:
        def read() -> tuple:
            return self.conn.execute("SELECT (SELECT max(version) FROM schema_version), "
                                     "(SELECT max(round_ts) FROM results)").fetchone()
        version, latest = await anyio.to_thread.run_sync(read, limiter=self.writer)
        return JSONResponse({"ok": True, "schema_version": version, "latest_round": latest})

    @asynccontextmanager
    async def lifespan(self, app: Starlette):
        self.conn = db.connect(self.config.db_path)
        try:
            yield
        finally:
            self.conn.close()


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
