"""fly/: the Dockerfile and fly.toml files parse, agree with each other and with targets.toml."""
from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import dockerfile
import pytest

from collect.targets import load_catalog
from tests.conftest import need_tool

ROOT = Path(__file__).resolve().parents[2]
FLY = ROOT / "fly"
COLLECTOR_FILES = sorted(FLY.glob("collector-*.toml"))
VM_MEMORY_LIMIT = "256mb"  # the collectors' machine size, which test_collector_memory checks


def load(path: Path) -> dict:
    with path.open("rb") as f:
        return tomllib.load(f)


def region_of(path: Path) -> str:
    return path.stem.removeprefix("collector-")


def entrypoint_args(role: str) -> list[str]:
    """The command line fly/entrypoint.sh execs for a role, as shell words."""
    text = (FLY / "entrypoint.sh").read_text()
    block = text.split(f"  {role})", 1)[1].split(";;", 1)[0]
    start = re.search(r"^\s*nettrace ", block, re.MULTILINE).start()
    return shlex.split(block[start:].replace("\\\n", " "))


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def test_every_catalog_region_has_exactly_one_collector_config_and_no_more():
    catalog = {r.code for r in load_catalog(ROOT / "targets.toml").regions}
    raw = set(load(ROOT / "targets.toml")["regions"])
    assert catalog == raw == {region_of(p) for p in COLLECTOR_FILES}
    assert len(COLLECTOR_FILES) == 7


@pytest.mark.parametrize("path", COLLECTOR_FILES, ids=region_of)
def test_a_collector_config_names_its_region_in_app_primary_region_and_env(path):
    region = region_of(path)
    conf = load(path)
    assert conf["app"] == f"nettrace-collector-{region}"
    assert conf["primary_region"] == region
    assert conf["env"]["NETTRACE_REGION"] == region
    assert conf["processes"] == {"collector": "/app/fly/entrypoint.sh collector"}
    assert "services" not in conf and "http_service" not in conf, "a collector only connects out"
    assert "NETTRACE_PUSH_SECRET" not in conf["env"], "the push secret is a Fly secret"
    [vm] = conf["vm"]
    assert (vm["size"], vm["memory"]) == ("shared-cpu-1x", VM_MEMORY_LIMIT)


def test_collector_configs_differ_only_in_the_region_code():
    def neutral(path: Path) -> str:
        return re.sub(rf"\b{region_of(path)}\b", "REGION", path.read_text())

    texts = {neutral(p) for p in COLLECTOR_FILES}
    assert len(texts) == 1, "collector-*.toml drifted apart"


def test_collectors_push_to_the_central_apps_private_ingest_port():
    central = load(FLY / "central.toml")
    args = entrypoint_args("central")
    ingest_port = int(flag(args, "--ingest-port"))
    assert central["checks"]["ingest"]["port"] == ingest_port
    for path in COLLECTOR_FILES:
        url = load(path)["env"]["NETTRACE_PUSH_URL"]
        assert url == f"http://{central['app']}.internal:{ingest_port}"


def test_central_config_serves_the_proxy_port_with_checks_and_keeps_data_on_a_volume():
    conf = load(FLY / "central.toml")
    args = entrypoint_args("central")
    assert args[:3] == ["nettrace", "run", "--central"]
    assert conf["http_service"]["internal_port"] == int(flag(args, "--port"))
    assert conf["http_service"]["checks"][0]["path"].startswith("/")
    assert conf["checks"]["ingest"]["path"] == "/healthz"
    assert flag(args, "--state") == "$data"  # NETTRACE_DATA_DIR, which the Dockerfile sets
    assert conf["mounts"]["destination"] == docker_env()["NETTRACE_DATA_DIR"] == "/data"
    assert flag(args, "--host") == "0.0.0.0", "Fly's proxy connects over IPv4"
    assert flag(args, "--ingest-host") == "::", "the collectors push over 6PN (IPv6)"
    assert "--trust-fly-client-ip" in args, "behind Fly's proxy, the client is in Fly-Client-IP"
    assert conf["processes"] == {"app": "/app/fly/entrypoint.sh central"}


def test_the_collector_command_matches_the_documented_contract():
    args = entrypoint_args("collector")
    assert args[:2] == ["nettrace", "collect"]
    assert flag(args, "--region") == "$NETTRACE_REGION"
    assert flag(args, "--push") == "$NETTRACE_PUSH_URL"
    assert flag(args, "--every") == "15m"
    assert flag(args, "--spool") == "$data/spool"


def docker_instructions() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(FLY / "Dockerfile")))


def docker_env() -> dict[str, str]:
    [env] = [c.value for c in docker_instructions() if c.cmd == "ENV"]
    return dict(zip(env[::2], env[1::2]))


def test_dockerfile_builds_from_slim_python_312_with_the_pinned_dependencies():
    cmds = docker_instructions()
    [base] = [c for c in cmds if c.cmd == "FROM"]
    assert re.fullmatch(r"python:3\.12-slim(-\w+)?", base.value[0])
    runs = " ".join(" ".join(c.value) for c in cmds if c.cmd == "RUN")
    assert "tomllib" in runs and "['project']['dependencies']" in runs
    assert "pip install --no-deps -e ." in runs
    assert "useradd" in runs and "git" in runs
    deps = load(ROOT / "pyproject.toml")["project"]["dependencies"]
    assert all("==" in d for d in deps), "the image installs exactly the pinned versions"


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders
    decides, and a leading ! re-includes."""
    parts = path.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        include = pattern.startswith("!")
        if any(fnmatch.fnmatchcase(p, pattern.removeprefix("!")) for p in prefixes):
            ignored = not include
    return ignored


def test_the_dockerignore_reading_follows_dockers_rules():
    patterns = ["bench/*", "!bench/results", "tests"]
    assert dockerignored("bench/signals.py", patterns)
    assert not dockerignored("bench/results/signal_quality.json", patterns)
    assert dockerignored("tests/build/test_write.py", patterns)
    assert not dockerignored("build/pipeline.py", patterns)


def test_every_file_the_dockerfile_copies_exists_and_is_not_dockerignored():
    patterns = [line.strip() for line in (FLY / "Dockerfile.dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    sources = [src for c in docker_instructions() if c.cmd == "COPY" for src in c.value[:-1]]
    assert "fly/entrypoint.sh" in sources
    assert "bench/results/signal_quality.json" in sources  # the Signal quality page shows it
    for src in sources:
        assert (ROOT / src).exists(), f"Dockerfile copies {src}, which does not exist"
        assert not dockerignored(src, patterns), f"{src} is dockerignored"


def test_dockerfile_runs_the_entrypoint_and_declares_the_data_volume():
    cmds = {c.cmd: c.value for c in docker_instructions()}
    assert cmds["CMD"][0] == "/app/fly/entrypoint.sh"
    assert cmds["VOLUME"] == ("/data",)
    assert (FLY / "entrypoint.sh").stat().st_mode & 0o111, "entrypoint.sh must be executable"


@pytest.mark.parametrize("script", ["entrypoint.sh", "deploy.sh"])
def test_shell_scripts_pass_shellcheck(script):
    shellcheck = need_tool("shellcheck", "shellcheck")
    done = subprocess.run([shellcheck, str(FLY / script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
