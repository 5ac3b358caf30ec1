"""`nettrace run`: the whole pipeline on one machine, as `make run` starts it.

Local mode starts a collector (one round at once, then the 15-minute grid), central ingest into
SQLite, the build after each round and the keyed proxy serving site and API on localhost.
Central mode (`--central`, the Fly central machine) is the same without a local collector: its
secrets come from the environment only, no key is made or printed, and each good build is
published when a repository is given.

Every state path derives from --state, --public, --private and --publish-repo; nothing is
written relative to the working directory. Each child gets only the secrets it needs. Children
run in their own process groups, so Ctrl-C reaches only this supervisor, which stops each child
as its own Ctrl-C would (SIGINT), prints "stopped" and exits 0.
"""
from __future__ import annotations

import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from db.connection import connect
from collect.records import PROBES, ROUND_S, round_slot
from collect.signing import PUSH_SECRET_VAR, region_secret_var
from collect.targets import load_catalog
from nettrace.supervise import RunError, Supervisor

BUILD_DELAY_S = 150  # after a grid slot opens: the collectors' round (~1 timeout) and push are in
FIRST_ROUND_WAIT_S = 180  # how long the first build waits for the first pushed round
PEPPER_VAR = "NETTRACE_KEY_PEPPER"  # proxy.keys.PEPPER_ENV, named here without importing the proxy
PAGES_VARS = ("NETTRACE_PAGES_TOKEN", "NETTRACE_PAGES_REMOTE")  # git's, for publishing only
BUILD_SKIPPED = "nettrace build: skipped: "
_NO_DATA = re.compile(r"(\S+): no data in the last 24 h")
_REGION = re.compile(r"region (\S+): (.+)")
_EMPTY_DB = "the database holds no results: no data anywhere"


@dataclass(frozen=True, slots=True)
class RunConfig:
    state: Path  # the database, the build's cache, the spool and local secrets
    public: Path
    private: Path
    targets: Path
    region: str | None  # None in central mode: no local collector
    host: str  # the proxy's address
    ingest_host: str
    proxy_port: int
    ingest_port: int
    publish_repo: Path | None
    verbose: bool
    trust_fly_client_ip: bool

    @property
    def db(self) -> Path:
        return self.state / "nettrace.db"

    @property
    def build_cache(self) -> Path:
        return self.state / "build-cache"

    @property
    def spool(self) -> Path:
        return self.state / "spool"


def register(subparsers) -> None:
    p = subparsers.add_parser("run",
                              help="collector, ingest, build and keyed proxy on this machine")
    p.add_argument("--central", action="store_true",
                   help="no local collector; secrets from the environment only "
                        "(the central machine)")
    p.add_argument("--region", default="ewr", help="the local collector's region code")
    p.add_argument("--targets", type=Path, default=Path("targets.toml"))
    p.add_argument("--state", type=Path, default=Path(".nettrace"),
                   help="database, build cache, spool and local secrets")
    p.add_argument("--public", type=Path, default=Path("public"))
    p.add_argument("--private", type=Path, default=Path("private"))
    p.add_argument("--host", default="127.0.0.1", help="the keyed proxy's address")
    p.add_argument("--ingest-host", help="ingest's address (default: --host)")
    p.add_argument("--port", type=int, default=8700, help="keyed proxy: site and API")
    p.add_argument("--ingest-port", type=int, default=8701)
    p.add_argument("--publish-repo", type=Path,
                   help="git repository to publish public/ to (gh-pages)")
    p.add_argument("--trust-fly-client-ip", action="store_true",
                   help="the proxy takes client addresses from Fly-Client-IP "
                        "(behind Fly's proxy only)")
    p.add_argument("--verbose", action="store_true",
                   help="every skipped target and region, and each retention pass")
    p.set_defaults(func=_main)


def _main(args) -> int:
    catalog = load_catalog(args.targets)  # a bad catalog stops here, with file, line and field
    region = None if args.central else catalog.region(args.region).code
    cfg = RunConfig(args.state, args.public, args.private, args.targets, region, args.host,
                    args.ingest_host or args.host, args.port, args.ingest_port, args.publish_repo,
                    args.verbose, args.trust_fly_client_ip)
    regions = [r.code for r in catalog.regions]
    cfg.state.mkdir(parents=True, exist_ok=True)
    held = (central_secrets(os.environ, regions) if args.central
            else local_secrets(cfg.state, os.environ, regions))
    connect(cfg.db).close()  # create and migrate before anyone reads it
    key = None if args.central else local_key(cfg, held[PEPPER_VAR])
    sup = Supervisor()
    try:
        sup.start("ingest", ingest_cmd(cfg, regions),
                  child_env(held, *map(region_secret_var, regions)))
        if region:
            sup.start("collector", collector_cmd(cfg, region),
                      {**child_env({}), PUSH_SECRET_VAR: held[region_secret_var(region)]})
        build_and_publish(cfg, sup, held)  # the site exists at once, honest about having no data
        if not sup.stopping.is_set():
            sup.start("proxy", proxy_cmd(cfg), child_env(held, PEPPER_VAR))
            print_urls(cfg, key)
            schedule_builds(cfg, sup, held)
    finally:
        sup.stop_all()
    print("stopped", flush=True)
    return 0


def secret_names(regions: list[str]) -> list[str]:
    return [region_secret_var(code) for code in regions] + [PEPPER_VAR]


def is_secret(name: str) -> bool:
    return (name.startswith("NETTRACE_SECRET_")
            or name in (PEPPER_VAR, PUSH_SECRET_VAR, *PAGES_VARS))


def central_secrets(environ: dict[str, str], regions: list[str]) -> dict[str, str]:
    """Every region's push secret and the pepper (and the pages token when set) from environ;
    raises RunError naming the first one missing. Nothing is made up or written."""
    for name in secret_names(regions):
        if not environ.get(name):
            raise RunError(f"environment variable {name} is not set (--central takes its "
                           "secrets from the environment only)")
    return {n: v for n, v in environ.items() if is_secret(n) and v}


def local_secrets(state: Path, environ: dict[str, str], regions: list[str]) -> dict[str, str]:
    """Per-region push secrets and the key pepper for a development machine: each from environ
    when set, else made once and kept in state/secrets.env (mode 0600). The file never holds a
    value that environ gives."""
    path = state / "secrets.env"
    stored = {}
    if path.exists():
        stored = dict(line.split("=", 1) for line in path.read_text().split() if "=" in line)
    made = {n: stored.get(n) or secrets.token_urlsafe(32)
            for n in secret_names(regions) if not environ.get(n)}
    if made != stored:
        tmp = path.with_name(f".{path.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("".join(f"{n}={v}\n" for n, v in made.items()))
        os.replace(tmp, path)
    return {**{n: v for n, v in environ.items() if is_secret(n) and v}, **made}


def child_env(held: dict[str, str], *names: str) -> dict[str, str]:
    """This process's environment without any secret, plus the named ones from held."""
    env = {k: v for k, v in os.environ.items() if not is_secret(k)}
    return env | {n: held[n] for n in names if n in held}


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
    return nettrace("ingest", "serve", "--db", cfg.db, "--listen",
                    f"{cfg.ingest_host}:{cfg.ingest_port}", "--regions", ",".join(regions))


def collector_cmd(cfg: RunConfig, region: str) -> list[str]:
    return nettrace("collect", "--targets", cfg.targets, "--region", region, "--every", "15m",
                    "--now", "--push", f"http://{url_host(cfg.ingest_host)}:{cfg.ingest_port}",
                    "--spool", cfg.spool, "--probes", ",".join(permitted_probes()))


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
    trust = ["--trust-fly-client-ip"] if cfg.trust_fly_client_ip else []
    # On one machine, webhooks may reach a receiver on it (README); never on the central one.
    local = [] if cfg.region is None else ["--webhook-allow-local"]
    return nettrace("serve", "--public", cfg.public, "--private", cfg.private, "--db", cfg.db,
                    "--listen", f"{cfg.host}:{cfg.proxy_port}", *trust, *local)


def build_cmd(cfg: RunConfig) -> list[str]:
    return nettrace("build", "--db", cfg.db, "--out", cfg.public, "--private", cfg.private,
                    "--targets", cfg.targets, "--cache", cfg.build_cache)


def prune_cmd(cfg: RunConfig) -> list[str]:
    return nettrace("ingest", "prune", "--db", cfg.db)


def publish_cmd(cfg: RunConfig) -> list[str]:
    # The repository is kept only for publishing, so replaced builds are pruned from it.
    return [sys.executable, "-m", "build.publish", str(cfg.public), "--repo", str(cfg.publish_repo),
            "--prune"]


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def print_urls(cfg: RunConfig, key: str | None) -> None:
    base = f"http://{url_host(cfg.host)}:{cfg.proxy_port}"
    mode = " (central)" if cfg.region is None else f" (local collector: {cfg.region})"
    keyed = "" if key is None else (
        f"  API key      {key}   (enterprise, local only; kept in {cfg.state}/local-api-key)\n"
        f"  try          curl -H 'Authorization: Bearer {key}' {base}/api/v1/signals\n")
    print(f"""
NetTrace is running{mode}.
  site         {base}/
  dashboard    {base}/status/
  playground   {base}/playground/
  API docs     {base}/api/v1/
  Prometheus   {base}/metrics
  ingest       http://{url_host(cfg.ingest_host)}:{cfg.ingest_port}/
{keyed}The first round takes about one probe timeout; the site appears after its build.
Offline, targets show as unreachable. Ctrl-C stops everything.
""", flush=True)


def schedule_builds(cfg: RunConfig, sup: Supervisor, held: dict[str, str]) -> None:
    """Build once the first round is in, then a little after every grid slot; keep children
    up. Returns when asked to stop."""
    sup.wait_until(lambda: results_count(cfg.db) > 0, FIRST_ROUND_WAIT_S)
    while not sup.stopping.is_set():
        if build_and_publish(cfg, sup, held):
            prune(cfg, sup)
        due = round_slot(time.time()) + ROUND_S + BUILD_DELAY_S
        sup.wait_until(lambda: time.time() >= due, None)


def results_count(db: Path) -> int:
    conn = connect(db, readonly=True)
    try:
        return conn.execute("SELECT count(*) FROM results").fetchone()[0]
    finally:
        conn.close()


def build_and_publish(cfg: RunConfig, sup: Supervisor, held: dict[str, str]) -> bool:
    """One build; publish it only when it succeeded. A failed build leaves the last good site."""
    code, output = sup.run_once("build", build_cmd(cfg), child_env(held))
    if code is None:
        return False
    print_build_output(output, cfg.verbose)
    if code != 0:
        print(f"nettrace run: build failed (exit {code}); keeping the last good site",
              file=sys.stderr, flush=True)
        return False
    if cfg.publish_repo:
        code, output = sup.run_once("publish", publish_cmd(cfg), child_env(held, *PAGES_VARS))
        if code != 0:
            if code is not None:
                print(f"nettrace run: not published: {output.strip()}", file=sys.stderr, flush=True)
            return False
    return True


def prune(cfg: RunConfig, sup: Supervisor) -> None:
    """Retention (ingest/retention.py's defaults) after each good build, so the database stays
    at its steady-state size (bench/disk.py)."""
    code, output = sup.run_once("prune", prune_cmd(cfg), child_env({}))
    if code is not None and (code != 0 or cfg.verbose):
        print(output.strip(), file=sys.stderr if code else sys.stdout, flush=True)


def print_build_output(output: str, verbose: bool) -> None:
    """The build's lines as they are, except its skipped lines: one summary unless verbose."""
    lines = output.splitlines()
    if not verbose:
        skipped = [line[len(BUILD_SKIPPED):] for line in lines if line.startswith(BUILD_SKIPPED)]
        lines = summarize_skipped(skipped) + [x for x in lines if not x.startswith(BUILD_SKIPPED)]
    if lines:
        print("\n".join(lines), flush=True)


def summarize_skipped(skipped: list[str]) -> list[str]:
    """One line for the build's 'no data' targets and silent regions (by reason), e.g.
    "132 targets have no data yet; regions ord lhr have never reported"; any other skipped
    line follows as it is."""
    hosts = [m.group(1) for m in map(_NO_DATA.fullmatch, skipped) if m]
    regions: dict[str, list[str]] = {}
    others = []
    for line in skipped:
        match = _REGION.fullmatch(line)
        if match:
            regions.setdefault(match.group(2), []).append(match.group(1))
        elif not _NO_DATA.fullmatch(line) and line != _EMPTY_DB:
            others.append(BUILD_SKIPPED + line)
    parts = []
    if hosts:
        when = "yet" if _EMPTY_DB in skipped else "in the last 24 h"
        parts.append(f"{_count(len(hosts), 'target')} {_have(len(hosts))} no data {when}")
    for reason, codes in regions.items():
        noun = "region" if len(codes) == 1 else "regions"
        if reason.startswith("never "):  # "never reported"
            parts.append(f"{noun} {' '.join(codes)} {_have(len(codes))} {reason}")
        else:
            parts.append(f"{noun} {' '.join(codes)}: {reason}")
    summary = [f"nettrace run: {'; '.join(parts)} (--verbose lists each)"] if parts else []
    return summary + others


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _have(n: int) -> str:
    return "has" if n == 1 else "have"
