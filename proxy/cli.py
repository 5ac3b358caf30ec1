"""`nettrace serve` (the keyed proxy) and `nettrace keys` (create, list, revoke, rotate, usage).

The only place the proxy reads the environment (the pepper) and the wall clock.
"""
from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from api.contract import DAY_S, TIERS
from db.connection import connect
from proxy import keys, quota
from proxy.errors import ProxyError

DEFAULT_LISTEN = "127.0.0.1:8080"
# A request allocates a few hundred short-lived objects and makes almost no cycles: collect the
# young generation every 20,000 allocations instead of 700 (fewer pauses, same memory bound).
GC_THRESHOLDS = (20_000, 10, 10)


def register(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="the keyed proxy over public/, private/ and the database")
    serve.add_argument("--public", type=Path, default=Path("public"))
    serve.add_argument("--private", type=Path, default=Path("private"))
    serve.add_argument("--db", type=Path, required=True)
    serve.add_argument("--listen", default=DEFAULT_LISTEN, help="HOST:PORT (default %(default)s)")
    serve.add_argument("--stream-poll", type=float, default=1.0, metavar="SECONDS",
                       help="how often the WebSocket stream looks for new rounds")
    serve.add_argument("--access-log", action="store_true")
    serve.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="close a connection that has not sent a request's headers by then")
    serve.add_argument("--stall-timeout", type=float, default=30.0, metavar="SECONDS",
                       help="drop a client that reads nothing of an answer (an export) for this long")
    serve.add_argument("--trust-fly-client-ip", action="store_true",
                       help="take the client address from Fly-Client-IP (only behind Fly's proxy)")
    serve.add_argument("--webhook-allow-local", action="store_true",
                       help="let webhooks use http:// and loopback receivers (tests, `make run`)")
    serve.add_argument("--webhook-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="give up one delivery attempt after this long")
    serve.add_argument("--webhook-first-retry", type=float, default=30.0, metavar="SECONDS",
                       help="wait before a failed delivery's first retry (then doubling)")
    serve.add_argument("--webhook-max-retry", type=float, default=3600.0, metavar="SECONDS",
                       help="the longest wait between two retries of a delivery")
    serve.set_defaults(func=run_serve)

    k = subparsers.add_parser("keys", help="API keys: create, list, revoke, rotate, usage")
    ksub = k.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = ksub.add_parser("create", help="issue a key (shown once)")
    create.add_argument("--tier", required=True, choices=list(TIERS))
    create.add_argument("--owner", required=True)
    create.set_defaults(func=run_create)
    ksub.add_parser("list", help="every key, without secrets").set_defaults(func=run_list)
    for name, func, text in (("revoke", run_revoke, "revoke a key now"),
                             ("rotate", run_rotate, "revoke a key and issue its replacement")):
        p = ksub.add_parser(name, help=text)
        p.add_argument("ref", help="the key's id or display prefix (nt_xxxxxx)")
        p.set_defaults(func=func)
    usage = ksub.add_parser("usage", help="calls per key per UTC day")
    usage.add_argument("--key", dest="ref", help="one key's id or prefix (default: all)")
    usage.add_argument("--days", type=int, default=7)
    usage.set_defaults(func=run_usage)
    for p in ksub.choices.values():
        p.add_argument("--db", type=Path, required=True)


def pepper_from_env() -> bytes:
    return keys.check_pepper(os.environ.get(keys.PEPPER_ENV))


def parse_listen(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ProxyError(f"--listen {addr!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN}")
    return host.strip("[]") or "127.0.0.1", int(port)


def run_serve(args) -> int:
    return serve_with_clock(args, time.time)


def serve_with_clock(args, clock: Callable[[], float]) -> int:
    """`nettrace serve` with clock (unix s) as its time: the wall clock, or a test's."""
    import uvicorn  # the server is only needed here

    from api.deadlines import Deadlines, protocol_for
    from proxy.app import ServeConfig, create_app
    from proxy.delivery import DeliveryPolicy
    host, port = parse_listen(args.listen)
    for flag in ("header_timeout", "stall_timeout", "stream_poll", "webhook_timeout",
                 "webhook_first_retry", "webhook_max_retry"):
        if not getattr(args, flag) > 0:
            raise ProxyError(f"--{flag.replace('_', '-')} must be a positive number of seconds")
    config = ServeConfig(public_dir=args.public, private_dir=args.private, db_path=args.db,
                         pepper=pepper_from_env(), clock=clock, stream_poll_s=args.stream_poll,
                         trust_fly_client_ip=args.trust_fly_client_ip,
                         webhooks=DeliveryPolicy(args.webhook_allow_local, args.webhook_timeout,
                                                 args.webhook_first_retry, args.webhook_max_retry))
    app = create_app(config)
    gc.freeze()  # startup objects never die: keep them out of every later collection
    gc.set_threshold(*GC_THRESHOLDS)
    deadlines = Deadlines(args.header_timeout, args.stall_timeout)
    uvicorn.run(app, host=host, port=port, loop="uvloop", http=protocol_for(deadlines),
                access_log=args.access_log, log_level="warning", server_header=False,
                proxy_headers=False)  # Fly-Client-IP is read only when trusted (proxy/limits.py)
    return 0


def _when(unix_s: float | None) -> str:
    return "-" if unix_s is None else datetime.fromtimestamp(unix_s, timezone.utc).strftime("%Y-%m-%d %H:%MZ")


def run_create(args) -> int:
    key = keys.create_key(connect(args.db), args.tier, args.owner, pepper_from_env(), time.time())
    print(f"created a {args.tier} key for {args.owner}; it is shown only this once:", file=sys.stderr)
    print(key)
    return 0


def run_list(args) -> int:
    print(f"{'id':>4}  {'prefix':<10} {'tier':<10} {'created':<17} {'revoked':<17} owner")
    for r in keys.list_keys(connect(args.db, readonly=True)):
        print(f"{r.id:>4}  {r.prefix:<10} {r.tier:<10} {_when(r.created_at):<17} "
              f"{_when(r.revoked_at):<17} {r.owner}")
    return 0


def run_revoke(args) -> int:
    row = keys.revoke_key(connect(args.db), args.ref, time.time())
    print(f"revoked key {row.id} ({row.prefix}, {row.tier}, {row.owner})")
    return 0


def run_rotate(args) -> int:
    key, row = keys.rotate_key(connect(args.db), args.ref, pepper_from_env(), time.time())
    print(f"revoked {args.ref}; its replacement (id {row.id}, {row.tier}) is shown only this once:",
          file=sys.stderr)
    print(key)
    return 0


def run_usage(args) -> int:
    conn = connect(args.db, readonly=True)
    key_id = keys.find_key(conn, args.ref).id if args.ref else None
    first_day = quota.utc_day(time.time() - (max(args.days, 1) - 1) * DAY_S)
    print(f"{'day':<10}  {'id':>4}  {'prefix':<10} {'tier':<10} {'calls':>9} {'limit':>9}  owner")
    for u in quota.usage_since(conn, first_day, key_id):
        limit = TIERS[u.tier].calls_per_day
        print(f"{u.day:<10}  {u.key_id:>4}  {u.prefix:<10} {u.tier:<10} {u.calls:>9} "
              f"{'-' if limit is None else limit:>9}  {u.owner}")
    return 0
