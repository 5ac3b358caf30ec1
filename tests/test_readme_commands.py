"""The commands README.md shows, read from README.md itself so the two cannot drift.

The API section runs whole against a local instance: the operators' block (the pepper, `nettrace
serve`, `nettrace keys ...`), every curl line with a key of the tier its comment names (the
tier below refused or capped), the export, and the stream example. Every `nettrace` command in
the README's shell blocks (```sh) must at least parse with the real argument parser, and every
benchmark command it shows must name a script and options that script has; running the other
sections' commands is their parts' tests' job.
"""
from __future__ import annotations

import calendar
import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.contract import DAY_S, HOUR_S, TIERS
from collect.records import Measurement, ProbeResult, round_slot
from db.connection import connect
from ingest.store import store_batch
from nettrace.cli import COMMANDS, parser
from proxy.keys import create_key
from tests.conftest import free_port, wait_for
from tests.factories import make_db
from tests.site.conftest import nettrace_build, render_catalog

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SITE = "nettrace.example"
# The README's example key prefixes: the first is rotated, the second revoked.
ROTATED, REVOKED = "nt_AbCdEf", "nt_XyZ123"
# `nettrace` commands README may show before they exist: skipped, naming what is missing.
NOT_BUILT_YET = {("signals", "backtest"): "`nettrace signals backtest` (issue 13, section 8) is not built yet"}
CURLRC = "fail-with-body\nsilent\nshow-error\nmax-time = 30\n"  # a 4xx/5xx answer fails the line
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def fenced(text: str, lang: str | None = None) -> list[str]:
    """The bodies of text's fenced blocks (of lang, when given)."""
    return [body for kind, body in FENCE.findall(text) if lang is None or kind == lang]


def lines_of(body: str) -> list[str]:
    """Command lines of a shell block: continuations joined, blank and comment lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


API = section("API and tiers")
CURL_BLOCK = next(b for b in fenced(API) if b.lstrip().startswith("# free"))
OPERATOR_LINES = lines_of(next(b for b in fenced(API, "sh") if "nettrace keys" in b))
STREAM_EXAMPLE = next(b for b in fenced(API, "python") if "/api/v1/stream" in b)


def curl_lines() -> list[tuple[str, str]]:
    """(tier, line) of each curl line, the tier from the `# tier` comment above it."""
    out, tier = [], None
    for line in CURL_BLOCK.splitlines():
        if line.startswith("#"):
            tier = line.lstrip("# ").strip()
        elif line.strip():
            assert tier in TIERS, f"README: {line!r} is under no tier comment"
            out.append((tier, line.strip()))
    return out


def nettrace_commands() -> list[list[str]]:
    """Every `nettrace ...` command of README's shell blocks (```sh) as argv, without `nettrace`."""
    out = []
    for body in fenced(README, "sh"):
        for line in lines_of(body):
            words = shlex.split(line, comments=True)
            while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value before a command
                words.pop(0)
            if words[:1] == ["nettrace"]:
                out.append(words[1:])
    return out


@dataclass
class Instance:
    folder: Path
    url: str
    env: dict[str, str]
    keys: dict[str, str]  # a key of each tier, and the two the README rotates and revokes


def localize(text: str, instance: Instance) -> str:
    """text with the README's host, port and example key prefixes replaced by the instance's."""
    for example, real in ((f"https://{SITE}", instance.url),
                          (f"wss://{SITE}", instance.url.replace("http", "ws", 1)),
                          ("127.0.0.1:8700", urlsplit(instance.url).netloc),
                          (ROTATED, instance.keys["rotated"][:9]), (REVOKED, instance.keys["revoked"][:9])):
        text = text.replace(example, real)
    assert SITE not in text, f"README text reaches outside the local instance: {text}"
    return text


def run_line(line: str, instance: Instance, **env: str) -> subprocess.CompletedProcess:
    """line of the README in bash, in the instance's folder, against the instance."""
    return subprocess.run(["bash", "-c", localize(line, instance)], cwd=instance.folder,
                          env={**instance.env, **env}, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    """The README's operator block run in a fresh folder holding a built site: its pepper, then
    its `nettrace serve` line (on a free port) in the background."""
    folder = tmp_path_factory.mktemp("readme")
    fixture = make_db(folder)
    db = folder / "central.sqlite"
    (folder / "targets.toml").write_text(render_catalog(fixture.catalog), encoding="utf-8")
    built = nettrace_build(db, folder / "targets.toml", folder / "public", folder / "private",
                           fixture.round_ts + 60)
    assert built.returncode == 0, built.stderr
    (folder / ".curlrc").write_text(CURLRC)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "CURL_HOME": str(folder), "PYTHONPATH": str(ROOT)}
    pepper_line, serve_line = OPERATOR_LINES[:2]
    assert pepper_line.startswith("export NETTRACE_KEY_PEPPER=") and serve_line.startswith("nettrace serve")
    pepper = subprocess.run(["bash", "-c", f'{pepper_line}\nprintf %s "$NETTRACE_KEY_PEPPER"'],
                            capture_output=True, text=True, check=True).stdout
    env["NETTRACE_KEY_PEPPER"] = pepper
    conn = connect(db)
    keys = {name: create_key(conn, tier, "readme", pepper.encode(), time.time())
            for name, tier in (*((t, t) for t in TIERS), ("rotated", "pro"), ("revoked", "pro"))}
    conn.close()
    inst = Instance(folder, f"http://127.0.0.1:{free_port()}", env, keys)
    log = folder / "serve.log"
    with log.open("w") as out:
        serve = subprocess.Popen(shlex.split(localize(serve_line, inst)), cwd=folder, env=env,
                                 stdout=out, stderr=out)
    try:
        wait_for(lambda: _answers(inst.url, serve, log), 15, f"README's `{serve_line}`")
        yield inst
    finally:
        serve.terminate()
        serve.wait(timeout=10)


def _answers(url: str, serve: subprocess.Popen, log: Path) -> bool:
    if serve.poll() is not None:
        raise AssertionError(f"`nettrace serve` exited: {log.read_text()}")
    try:
        return httpx.get(url + "/api/v1/", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _export_oracle(line: str, db: Path) -> int:
    """The results stored in the line's export window, its start capped by the enterprise
    history: what the export must hold."""
    query = parse_qs(urlsplit(shlex.split(line)[-1]).query)
    day_s = {k: calendar.timegm(date.fromisoformat(query[k][0]).timetuple()) for k in ("from", "to")}
    oldest_s = time.time() - TIERS["enterprise"].history_hours * HOUR_S
    conn = connect(db, readonly=True)
    try:
        return conn.execute("SELECT count(*) FROM results WHERE round_ts >= ? AND round_ts < ?",
                            (max(day_s["from"], oldest_s), day_s["to"] + DAY_S)).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("tier, line", curl_lines())
def test_every_curl_line_answers_a_key_of_its_tier_and_gives_the_tier_below_less(instance, tier, line):
    done = run_line(line, instance, NT_KEY=instance.keys[tier])
    assert done.returncode == 0, done.stderr + done.stdout
    words = shlex.split(line)
    if "-o" in words:
        rows = list(csv.reader(io.StringIO((instance.folder / words[words.index("-o") + 1]).read_text())))
        assert rows[0][:4] == ["id", "target", "region", "probe"]
        assert len(rows) - 1 == _export_oracle(line, instance.folder / "central.sqlite")
    else:
        httpx.Response(200, content=done.stdout).json()  # the body is JSON
    order = list(TIERS)
    if order.index(tier) > 0:  # why the line sits under its tier: the tier below is refused or capped
        below = order[order.index(tier) - 1]
        r = httpx.get(localize(words[-1], instance),
                      headers={"Authorization": f"Bearer {instance.keys[below]}"})
        assert r.status_code == 403 or int(r.headers["x-nettrace-window-hours"]) < TIERS[tier].history_hours


def test_the_stream_example_prints_the_next_ingested_round(instance):
    proc = subprocess.Popen([sys.executable, "-c", localize(STREAM_EXAMPLE, instance)],
                            cwd=instance.folder, text=True,
                            env={**instance.env, "NT_KEY": instance.keys["enterprise"]},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    watchdog = threading.Timer(30, proc.kill)  # a silent client ends the reads below
    watchdog.start()
    try:
        assert json.loads(proc.stdout.readline())["type"] == "subscribed"
        round_ts = round_slot(time.time())
        conn = connect(instance.folder / "central.sqlite")
        store_batch(conn, [ProbeResult("api.kraken.com", "fra", "icmp", round_ts, round_ts + 1.0,
                                       Measurement(samples_ms=(9.5,))).to_json()])
        conn.close()
        message = json.loads(proc.stdout.readline())
    finally:
        watchdog.cancel()
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert (message["type"], message["round_ts"], message["region"]) == ("round", round_ts, "fra")


def _refusal_of(instance: Instance, key: str) -> str:
    """The error code of a call with key ("" while it is answered)."""
    r = httpx.get(instance.url + "/api/v1/targets", headers={"Authorization": f"Bearer {key}"})
    return "" if r.status_code == 200 else r.json()["error"]


def test_the_operator_commands_run_in_order_and_do_what_they_say(instance):
    results = {}
    for line in OPERATOR_LINES[2:]:
        done = run_line(line, instance)
        assert done.returncode == 0, (line, done.stderr)
        results[shlex.split(line)[2]] = done.stdout
    assert set(results) == {"create", "list", "usage", "rotate", "revoke"}, "README's key commands changed"
    created = results["create"].strip()
    assert httpx.get(instance.url + "/api/v1/signals", headers={"Authorization": f"Bearer {created}"}
                     ).status_code == 200  # the README creates a pro key
    assert created[:9] in results["list"] and created not in results["list"]
    assert "calls" in results["usage"]
    replacement = results["rotate"].strip()
    assert replacement.startswith("nt_") and replacement != instance.keys["rotated"]
    for key in (instance.keys["rotated"], instance.keys["revoked"]):
        assert wait_for(lambda: _refusal_of(instance, key), 2, "the key to stop") == "revoked_key"
    assert httpx.get(instance.url + "/api/v1/targets", headers={"Authorization": f"Bearer {replacement}"}
                     ).status_code == 200


@pytest.mark.parametrize("argv", nettrace_commands(), ids=" ".join)
def test_every_nettrace_command_in_the_readme_parses(argv):
    missing = NOT_BUILT_YET.get(tuple(argv[:2]))
    if missing and argv[0] not in COMMANDS:
        pytest.skip(missing)
    try:
        parser(argv[0]).parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"README shows `nettrace {' '.join(argv)}`, which the CLI refuses (exit {exc.code})")


def bench_commands() -> list[tuple[str, list[str]]]:
    """(script, its arguments) of every benchmark command the README shows inline."""
    found = re.findall(r"`(?:sudo )?\.venv/bin/python (bench/\w+\.py)([^`]*)`", README)
    return sorted({(script, tuple(shlex.split(args))) for script, args in found})


@pytest.mark.parametrize("script,args", bench_commands(), ids=lambda x: " ".join(x)
                         if isinstance(x, tuple) else x)
def test_every_benchmark_command_in_the_readme_names_a_script_and_options_it_has(script, args):
    """Run whole, benchmarks take minutes to hours (bench/, not the tests); their command lines
    must still be ones the script accepts: it exists, answers --help, and knows each option."""
    usage = subprocess.run([sys.executable, script, "--help"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60)
    assert usage.returncode == 0, usage.stderr
    unknown = [a for a in args if a.startswith("--") and a.split("=")[0] not in usage.stdout]
    assert not unknown, f"README shows `{script} {' '.join(args)}`; {script} has no {unknown}"
