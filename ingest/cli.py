"""`nettrace ingest serve | import | backup | prune`: the central side's commands.

Only this module reads argv, the environment and the wall clock for ingest.
"""
from __future__ import annotations

import os
import socket
import sqlite3
import sys
import time
from pathlib import Path

from db import connection as db
from ingest.backup import write_backup
from ingest.errors import IngestError
from ingest.importer import import_jsonl
from ingest.retention import Retention, prune
from ingest.server_config import ServerConfig, default
from ingest.signature import central_secrets

REGIONS = "ewr,ord,lhr,fra,sin,nrt,bom"
DEFAULT_LISTEN = "127.0.0.1:8470"


def register(subparsers) -> None:
    p = subparsers.add_parser("ingest", help="central ingest: serve, import, backup, prune")
    sub = p.add_subparsers(dest="ingest_command", required=True, metavar="ACTION")
    serve = sub.add_parser("serve", help="accept signed pushes from the regions")
    serve.add_argument("--db", type=Path, required=True)
    serve.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT (port 0 picks one)")
    serve.add_argument("--regions", default=REGIONS,
                       help="comma-separated; each needs NETTRACE_SECRET_<REGION> in the environment")
    serve.add_argument("--max-body-bytes", type=int, default=default("max_body_bytes"))
    serve.add_argument("--body-timeout", type=float, default=default("body_timeout_s"),
                       metavar="SECONDS")
    serve.add_argument("--checkers", type=int, default=default("checkers"),
                       help="processes that validate bodies")
    serve.add_argument("--max-in-flight", type=int, default=default("max_in_flight"),
                       help="pushes past their headers at once; more answer 503 with Retry-After")
    serve.add_argument("--min-free-bytes", type=int, default=default("min_free_bytes"),
                       help="answer 507 (collectors keep their spools) below this many free "
                            "bytes on the database's volume")
    serve.add_argument("--header-timeout", type=float, default=default("header_timeout_s"),
                       metavar="SECONDS", help="close connections whose request headers take longer")
    serve.set_defaults(func=cmd_serve)
    imp = sub.add_parser("import", help="load a spool or --jsonl file (validated, idempotent)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--db", type=Path, required=True)
    imp.set_defaults(func=cmd_import)
    bak = sub.add_parser("backup", help="consistent copy while ingest runs (VACUUM INTO)")
    bak.add_argument("--db", type=Path, required=True)
    bak.add_argument("--out", type=Path, required=True)
    bak.set_defaults(func=cmd_backup)
    pr = sub.add_parser("prune", help="apply retention in small transactions")
    pr.add_argument("--db", type=Path, required=True)
    pr.add_argument("--raw-days", type=float, default=Retention().raw_days)
    pr.add_argument("--hourly-days", type=float, default=Retention().hourly_days)
    pr.set_defaults(func=cmd_prune)


def parse_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise IngestError(f"--listen {listen!r}: expected HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def cmd_serve(args) -> int:
    import uvicorn

    from api.deadlines import Deadlines, protocol_for
    from ingest.server import build_app

    regions = [r.strip() for r in args.regions.split(",") if r.strip()]
    config = ServerConfig(args.db, central_secrets(os.environ, regions), args.max_body_bytes,
                          args.body_timeout, args.checkers, args.max_in_flight,
                          args.min_free_bytes, args.header_timeout)
    host, port = parse_listen(args.listen)
    open_db(args.db).close()  # create and migrate before listening: fail fast, ready when up
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        raise IngestError(f"--listen {args.listen}: {exc.strerror}") from None
    sock.listen(1024)
    bound = sock.getsockname()
    print(f"ingest listening on http://{args.listen.rpartition(':')[0] or host}:{bound[1]} "
          f"regions={','.join(regions)} db={args.db}", file=sys.stderr, flush=True)
    server = uvicorn.Server(uvicorn.Config(build_app(config), log_level="warning",
                                           http=protocol_for(Deadlines(config.header_timeout_s)),
                                           access_log=False, timeout_graceful_shutdown=5))
    server.run(sockets=[sock])
    return 0


def open_db(path: Path) -> sqlite3.Connection:
    try:
        return db.connect(path)
    except sqlite3.Error as exc:
        raise IngestError(f"{path}: {exc}") from None


def cmd_import(args) -> int:
    conn = open_db(args.db)
    try:
        stored, duplicates = import_jsonl(conn, args.file, time.time())
    finally:
        conn.close()
    print(f"{args.file}: stored {stored}, duplicates {duplicates}")
    return 0


def cmd_backup(args) -> int:
    size = write_backup(args.db, args.out)
    print(f"backup {args.out}: {size} bytes")
    return 0


def cmd_prune(args) -> int:
    conn = open_db(args.db)
    try:
        raw, hourly = prune(conn, time.time(), Retention(args.raw_days, args.hourly_days))
    finally:
        conn.close()
    print(f"pruned {raw} raw results, {hourly} hourly rows")
    return 0
