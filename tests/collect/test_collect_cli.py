"""`nettrace collect` end to end: the real command on a tiny catalog of loopback servers."""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collect.cli import parse_duration_s
from collect.records import ROUND_S
from nettrace.cli import main
from tests.collect.loopback_servers import LOCALHOST, make_certificates, serving
from tests.conftest import need, need_root

NETTRACE = Path(sys.executable).with_name("nettrace")
HEAD = """categories = ["CDN & DNS"]

[regions.ewr]
city = "Newark"
note = "US East"
lat = 40.7357
lon = -74.1724
"""
BASE_KEYS = {"schema", "id", "target", "region", "probe", "ts", "round_id", "ok", "rtt_ms", "min_ms",
             "p95_ms", "max_ms", "mean_ms", "jitter_ms", "loss", "samples_ms", "error"}
EXTRA_KEYS = {"icmp": set(), "tcp": set(), "tls": {"cert_expires", "cert_issuer"}, "http": {"status"},
              "dns": {"addresses"}, "trace": {"hops", "path", "fingerprint"}}
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z\Z")
FAST = ["--samples", "3", "--interval", "0.01", "--timeout", "1"]


def catalog(tmp_path: Path, *entries: str) -> Path:
    path = tmp_path / "targets.toml"
    path.write_text(HEAD + "".join(f"\n[[targets]]\n{e}category = \"CDN & DNS\"\n" for e in entries))
    return path


def collect(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(NETTRACE), "collect", *args], capture_output=True, text=True, timeout=timeout_s)


def records(done: subprocess.CompletedProcess) -> dict[tuple[str, str], dict]:
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return {(r["target"], r["probe"]): r for r in lines}


@pytest.fixture
def servers(tmp_path):
    certs = make_certificates(tmp_path)
    with serving("tls", str(certs.cert_file), str(certs.key_file)) as tls_port, \
            serving("http", "20", "200") as http_port, \
            serving("dns", "0", "localhost", LOCALHOST) as dns_port:
        yield certs, tls_port, http_port, dns_port


def all_probes_catalog(tmp_path, servers, probes: list[str]) -> tuple[Path, list[str]]:
    certs, tls_port, http_port, dns_port = servers
    path = catalog(
        tmp_path,
        f'host = "localhost"\nname = "Loopback"\nport = {tls_port}\n'
        f'health_url = "http://{LOCALHOST}:{http_port}/health"\nprobes = {json.dumps(probes)}\n',
        f'host = "127.0.0.2"\nname = "Closed port"\nport = 1\nprobes = ["tcp"]\n',
    )
    flags = ["--ca-file", str(certs.ca_file), "--dns-server", f"{LOCALHOST}:{dns_port}"]
    return path, flags


def check_shape(record: dict) -> None:
    assert set(record) == BASE_KEYS | EXTRA_KEYS[record["probe"]]
    assert record["schema"] == 1 and record["region"] == "ewr"
    assert ISO_Z.match(record["ts"]) and ISO_Z.match(record["round_id"])
    assert record["id"] == f"ewr/{record['round_id']}/{record['target']}/{record['probe']}"
    assert record["rtt_ms"] is None or record["min_ms"] <= record["rtt_ms"] <= record["max_ms"]


def test_once_jsonl_writes_one_record_per_target_and_probe_in_the_documented_shape(tmp_path, servers):
    need_root()
    path, flags = all_probes_catalog(tmp_path, servers, ["icmp", "tcp", "tls", "http", "dns", "trace"])
    found = records(collect("--targets", str(path), "--region", "ewr", "--once", "--jsonl", *FAST, *flags))
    assert sorted(found) == sorted([("localhost", p) for p in EXTRA_KEYS] + [("127.0.0.2", "tcp")])
    for record in found.values():
        check_shape(record)
    assert all(found["localhost", p]["ok"] for p in EXTRA_KEYS), found
    assert len(found["localhost", "icmp"]["samples_ms"]) == 3
    assert found["localhost", "http"]["status"] == 200 and found["localhost", "http"]["rtt_ms"] >= 20
    assert found["localhost", "dns"]["addresses"] == [LOCALHOST]
    assert found["localhost", "trace"]["hops"] == [
        {"ttl": 1, "address": LOCALHOST, "rtt_ms": found["localhost", "trace"]["rtt_ms"]}]
    assert found["localhost", "trace"]["path"] == [LOCALHOST]
    closed = found["127.0.0.2", "tcp"]
    assert (closed["ok"], closed["loss"], closed["error"]) == (False, 1.0, "connection refused")
    round_s = time.mktime(time.strptime(closed["round_id"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert round_s % ROUND_S == 0


def test_probes_flag_limits_the_round_and_works_without_raw_sockets(tmp_path, servers):
    path, flags = all_probes_catalog(tmp_path, servers, ["tcp", "tls", "http", "dns", "icmp"])
    done = collect("--targets", str(path), "--region", "ewr", "--jsonl", "--probes", "tls,http,dns", *flags)
    found = records(done)
    assert sorted(found) == [("localhost", "dns"), ("localhost", "http"), ("localhost", "tls")]
    for record in found.values():
        check_shape(record)
        assert record["ok"], record


def test_without_jsonl_a_summary_table_is_printed(tmp_path):
    with serving("tcp") as port:
        path = catalog(tmp_path, f'host = "{LOCALHOST}"\nname = "Loopback"\nport = {port}\nprobes = ["tcp"]\n')
        done = collect("--targets", str(path), "--region", "ewr", "--once")
    assert done.returncode == 0, done.stderr
    assert LOCALHOST in done.stdout and "1 results, 1 ok, 0 failed" in done.stdout


def test_on_a_terminal_a_progress_bar_runs_before_the_table(tmp_path):
    need(shutil.which("script") is not None, "needs script (Debian package bsdutils)")
    with serving("tcp") as port:
        path = catalog(tmp_path, f'host = "{LOCALHOST}"\nname = "Loopback"\nport = {port}\nprobes = ["tcp"]\n')
        command = shlex.join([str(NETTRACE), "collect", "--targets", str(path), "--region", "ewr"])
        done = subprocess.run(["script", "-qec", command, "/dev/null"], capture_output=True, text=True,
                              timeout=60)
    assert done.returncode == 0, done.stdout
    assert "probing from ewr" in done.stdout and "100%" in done.stdout
    assert done.stdout.index("100%") < done.stdout.index(LOCALHOST)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--targets", "missing.toml", "--region", "ewr"], "missing.toml"),
        (["--region", "xyz"], "no region 'xyz'"),
        (["--region", "ewr", "--every", "15m"], "--every needs --push"),
        (["--region", "ewr", "--every", "15m", "--once", "--push", "http://127.0.0.1:9/"], "exclude"),
    ],
    ids=["missing catalog", "unknown region", "daemon without push", "once and every"],
)
def test_setup_errors_are_one_line_on_stderr_and_exit_2(tmp_path, capsys, args, message):
    path = catalog(tmp_path, 'host = "127.0.0.1"\nname = "Loopback"\nprobes = ["tcp"]\n')
    assert main(["collect", "--targets", str(path), *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


@pytest.mark.parametrize(
    "env, every, message",
    [
        ({}, "15m", "NETTRACE_PUSH_SECRET is not set"),
        ({"NETTRACE_PUSH_SECRET": "s" * 16, "NETTRACE_SPOOL_MAX_BYTES": "lots"}, "15m",
         "NETTRACE_SPOOL_MAX_BYTES='lots' is not a byte count"),
        ({"NETTRACE_PUSH_SECRET": "s" * 16}, "1.5s", "whole seconds"),
    ],
    ids=["no push secret", "bad spool cap", "fractional interval"],
)
def test_daemon_setup_errors_name_the_variable_or_flag_and_exit_2(tmp_path, capsys, monkeypatch,
                                                                 env, every, message):
    monkeypatch.delenv("NETTRACE_PUSH_SECRET", raising=False)
    monkeypatch.delenv("NETTRACE_SPOOL_MAX_BYTES", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    path = catalog(tmp_path, 'host = "127.0.0.1"\nname = "Loopback"\nprobes = ["tcp"]\n')
    assert main(["collect", "--targets", str(path), "--region", "ewr", "--every", every,
                 "--push", "http://127.0.0.1:9/", "--spool", str(tmp_path / "spool")]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_broken_catalog_names_the_file_and_exits_2(tmp_path, capsys):
    path = catalog(tmp_path, 'host = "127.0.0.1"\nname = "Loopback"\nport = 70000\n')
    assert main(["collect", "--targets", str(path), "--region", "ewr"]) == 2
    assert str(path) in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--every", "soon"], ["--probes", "icmp,bogus"], ["--samples", "0"],
                                  ["--timeout", "-1"], ["--interval", "x"]])
def test_bad_flag_values_are_refused_by_the_parser(capsys, flag):
    with pytest.raises(SystemExit) as exited:
        main(["collect", "--region", "ewr", *flag])
    assert exited.value.code == 2 and "usage:" in capsys.readouterr().err


@pytest.mark.parametrize("text, seconds", [("15m", 900), ("900s", 900), ("1h", 3600), ("900", 900),
                                           ("0.5m", 30)])
def test_durations_read_as_seconds(text, seconds):
    assert parse_duration_s(text) == seconds
