"""`nettrace run`: the whole pipeline on one machine, as `make run` starts it.

Local mode starts a collector (one round at once, then the 15-minute grid), central ingest into
SQLite, the build after each round and the keyed proxy serving site and API on localhost.
Central mode (`--central`, the Fly central machine) is the same without a local collector, and
publishes each good build with ghp-import when given a repository.
"""
from __future__ import annotations

import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from db.connection import connect
from collect.errors import CollectError
from collect.records import PROBES, ROUND_S, round_slot
from collect.targets import load_catalog

BUILD_DELAY_S = 150  # after a grid slot opens: the collectors' round (~1 timeout) and push are in
FIRST_ROUND_WAIT_S = 180  # how long the first build waits for the first pushed round
RESTART_DELAY_S = 2.0
USAGE_EXIT = 2  # what nettrace and argparse exit with on a configuration error
POLL_S = 1.0


class RunError(CollectError):
    """A part of the local pipeline cannot run as configured."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    state: Path  # .nettrace: database, spool, local secrets
    public: Path
    private: Path
    targets: Path
    region: str | None  # None in central mode: no local collector
    host: str
    proxy_port: int
    ingest_port: int
    publish_repo: Path | None

    @property
    def db(self) -> Path:
        return self.state / "nettrace.db"


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="collector, ingest, build and keyed proxy on this machine")
    p.add_argument("--central", action="store_true", help="no local collector (the central machine)")
    p.add_argument("--region", default="ewr", help="the local collector's region code")
    p.add_argument("--targets", type=Path, default=Path("targets.toml"))
    p.add_argument("--state", type=Path, default=Path(".nettrace"))
    p.add_argument("--public", type=Path, default=Path("public"))
    p.add_argument("--private", type=Path, default=Path("private"))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8700, help="keyed proxy: site and API")
    p.add_argument("--ingest-port", type=int, default=8701)
    p.add_argument("--publish-repo", type=Path, help="git checkout to publish public/ to (gh-pages)")
    p.set_defaults(func=_main)


def _main(args) -> int:
    catalog = load_catalog(args.targets)  # a bad catalog stops here, with file, line and field
    region = None if args.central else catalog.region(args.region).code
    cfg = RunConfig(args.state, args.public, args.private, args.targets, region, args.host,
                    args.port, args.ingest_port, args.publish_repo)
    cfg.state.mkdir(parents=True, exist_ok=True)
    regions = [r.code for r in catalog.regions]
    env = {**os.environ, **local_secrets(cfg.state, regions)}
    connect(cfg.db).close()  # create and migrate before anyone reads it
    key = local_key(cfg, env["NETTRACE_KEY_PEPPER"])
    children = [Child("ingest", ingest_cmd(cfg, regions), env)]
    if region:
        push_env = {**env, "NETTRACE_PUSH_SECRET": env[f"NETTRACE_SECRET_{region.upper()}"]}
        children.append(Child("collector", collector_cmd(cfg, region), push_env))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        for child in children:
            child.start()
        run_build(cfg, env)  # the site exists at once, honest about having no data yet
        children.append(Child("proxy", proxy_cmd(cfg), env))
        children[-1].start()
        print_urls(cfg, key)
        schedule_builds(cfg, env, children)
    finally:
        for child in children:
            child.stop()
    return 0


def local_secrets(state: Path, regions: list[str]) -> dict[str, str]:
    """Per-region push secrets and the key pepper: from the environment when set, else made
    once for this machine and kept in state/secrets.env (mode 0600)."""
    path = state / "secrets.env"
    stored = {}
    if path.exists():
        stored = dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)
    names = [f"NETTRACE_SECRET_{code.upper()}" for code in regions] + ["NETTRACE_KEY_PEPPER"]
    values = {n: os.environ.get(n) or stored.get(n) or secrets.token_urlsafe(32) for n in names}
    if values != stored:
        path.touch(mode=0o600)
        path.write_text("".join(f"{n}={v}\n" for n, v in values.items()))
    return values


def local_key(cfg: RunConfig, pepper: str) -> str:
    """An enterprise key for trying every endpoint locally, made once and kept in state/."""
    from proxy.keys import create_key

    path = cfg.state / "local-api-key"
    if not path.exists():
        conn = connect(cfg.db)
        try:
            key = create_key(conn, "enterprise", "make run", pepper.encode(), time.time())
        finally:
            conn.close()
        path.touch(mode=0o600)
        path.write_text(key + "\n")
    return path.read_text().strip()


def nettrace(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "nettrace", *map(str, args)]


def ingest_cmd(cfg: RunConfig, regions: list[str]) -> list[str]:
    return nettrace("ingest", "serve", "--db", cfg.db, "--listen", f"{cfg.host}:{cfg.ingest_port}",
                    "--regions", ",".join(regions))


def collector_cmd(cfg: RunConfig, region: str) -> list[str]:
    return nettrace("collect", "--targets", cfg.targets, "--region", region, "--every", "15m",
                    "--now", "--push", f"http://{cfg.host}:{cfg.ingest_port}",
                    "--spool", cfg.state / "spool", "--probes", ",".join(permitted_probes()))


def permitted_probes() -> list[str]:
    """Every probe as root; without root, trace needs a raw socket and icmp needs this group
    in net.ipv4.ping_group_range, so those are left out (and said) rather than failing."""
    if os.geteuid() == 0:
        return list(PROBES)
    left_out = ["trace"]
    try:
        lo, hi = map(int, Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    except (OSError, ValueError):
        lo, hi = 1, 0
    if not any(lo <= gid <= hi for gid in os.getgroups() + [os.getgid()]):
        left_out.append("icmp")
    print(f"nettrace run: not root, so the local collector leaves out {', '.join(left_out)}",
          file=sys.stderr)
    return [p for p in PROBES if p not in left_out]


def proxy_cmd(cfg: RunConfig) -> list[str]:
    return nettrace("serve", "--public", cfg.public, "--private", cfg.private, "--db", cfg.db,
                    "--listen", f"{cfg.host}:{cfg.proxy_port}")


def build_cmd(cfg: RunConfig) -> list[str]:
    return nettrace("build", "--db", cfg.db, "--out", cfg.public, "--private", cfg.private,
                    "--targets", cfg.targets)


def print_urls(cfg: RunConfig, key: str) -> None:
    base = f"http://{cfg.host}:{cfg.proxy_port}"
    print(f"""
NetTrace is running{' (central)' if cfg.region is None else f' (local collector: {cfg.region})'}.
  site         {base}/
  dashboard    {base}/status/
  playground   {base}/playground/
  API docs     {base}/api/v1/
  Prometheus   {base}/metrics
  ingest       http://{cfg.host}:{cfg.ingest_port}/
  API key      {key}   (enterprise, local only; kept in {cfg.state}/local-api-key)
  try          curl -H 'Authorization: Bearer {key}' {base}/api/v1/signals
The first round takes about one probe timeout; the site appears after its build.
Offline, targets show as unreachable. Ctrl-C stops everything.
""", flush=True)


def schedule_builds(cfg: RunConfig, env: dict[str, str], children: list[Child]) -> None:
    """Build once the first round is in, then a little after every grid slot; keep children up."""
    wait_until(lambda: results_count(cfg.db) > 0, FIRST_ROUND_WAIT_S, children)
    while True:
        run_build(cfg, env)
        due = round_slot(time.time()) + ROUND_S + BUILD_DELAY_S
        wait_until(lambda: time.time() >= due, None, children)


def wait_until(ready, timeout_s: float | None, children: list[Child]) -> None:
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while not ready() and (deadline is None or time.monotonic() < deadline):
        for child in children:
            child.keep_alive()
        time.sleep(POLL_S)


def results_count(db: Path) -> int:
    conn = connect(db, readonly=True)
    try:
        return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    finally:
        conn.close()


def run_build(cfg: RunConfig, env: dict[str, str]) -> bool:
    """One build; publish it only when it succeeded. A failed build leaves the last good site."""
    done = subprocess.run(build_cmd(cfg), env=env)
    if done.returncode != 0:
        print(f"nettrace run: build failed (exit {done.returncode}); keeping the last good site",
              file=sys.stderr, flush=True)
        return False
    if cfg.publish_repo:
        from build.publish import PublishError, publish_site

        try:  # the repository is kept only for publishing, so old builds are pruned
            publish_site(cfg.public, cfg.publish_repo, prune=True)
        except PublishError as exc:
            print(f"nettrace run: not published: {exc}", file=sys.stderr, flush=True)
            return False
    return True


class Child:
    """A supervised subprocess: restarted after a pause if it exits."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str]):
        self.name, self.cmd, self.env = name, cmd, env
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, env=self.env)

    def keep_alive(self) -> None:
        code = self.proc.poll() if self.proc else None
        if code == USAGE_EXIT:  # a configuration error: restarting would only repeat it
            raise RunError(f"{self.name} stopped on a configuration error (see above)")
        if code is not None:
            print(f"nettrace run: {self.name} exited ({code}), restarting: {shlex.join(self.cmd)}",
                  file=sys.stderr, flush=True)
            time.sleep(RESTART_DELAY_S)
            self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
