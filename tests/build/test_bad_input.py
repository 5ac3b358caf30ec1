"""Bad input never stops the build: gaps, a target without data, a region that never reported,
a single sample, clock-skewed rows and a target removed from the catalog are skipped and
reported; only an unreadable database is a BuildError."""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from build.read.inputs import BuildClock
from build.errors import BuildError
from build.pipeline import BuildOptions, run_build
from collect.records import Measurement
from collect.targets import catalog_toml
from tests.factories import END_ROUND_TS, make_db, result_record

ROOT = Path(__file__).resolve().parents[2]


def _build(fx, root: Path, catalog=None):
    opts = BuildOptions(fx.path, root / "public", root / "private", catalog or fx.catalog,
                        BuildClock(fx.round_ts + 30))
    return run_build(opts)


def _all_text(root: Path) -> str:
    return "\n".join(p.read_text() for p in root.rglob("*") if p.suffix in (".json", "")
                     and p.is_file())


def test_gaps_a_silent_target_and_a_silent_region_still_build(tmp_path):
    fx = make_db(tmp_path, gap_rounds=(3, 4, 7), silent_targets=("www.nyse.com",),
                 silent_regions=("sin",))
    report = _build(fx, tmp_path)
    assert "www.nyse.com: no data in the last 24 h" in report.skipped
    assert "region sin: never reported" in report.skipped
    doc = json.loads((tmp_path / "public/api/v1/latency/www.nyse.com.json").read_bytes())
    assert doc["has_data"] is False and doc["best"] is None
    history = json.loads((tmp_path / "public/api/v1/latency/api.kraken.com/history.json")
                         .read_bytes())
    assert history["regions"]["fra"]["icmp"]["rtt_ms"].count(None) >= 3  # gaps stay visible


def test_a_single_sample_gives_nan_free_output(tmp_path):
    fx = make_db(tmp_path, rounds=1)
    report = _build(fx, tmp_path)
    text = _all_text(tmp_path / "public") + _all_text(tmp_path / "private")
    assert "NaN" not in text and "Infinity" not in text
    assert report.signals_stored == 0  # no baseline, no signal


def test_clock_skewed_rows_are_left_out_and_counted(tmp_path):
    ahead = END_ROUND_TS + 6 * 3600  # a collector whose clock runs six hours fast
    skewed = result_record("api.kraken.com", "ewr", "icmp", ahead, Measurement((1.0,)))
    fx = make_db(tmp_path, extra_records=(skewed,))
    report = _build(fx, tmp_path)
    assert any("1 clock-skewed results left out" in line for line in report.skipped)
    doc = json.loads((tmp_path / "public/api/v1/targets.json").read_bytes())
    assert doc["generated_at"] == "2026-11-25T22:00:00Z"


def test_a_target_removed_from_the_catalog_is_skipped_and_named(tmp_path):
    fx = make_db(tmp_path)
    smaller = replace(fx.catalog, targets=fx.catalog.targets[1:])
    report = _build(fx, tmp_path, smaller)
    assert any(line.startswith("api.kraken.com: has results but is not in") for line in
               report.skipped)
    assert not (tmp_path / "public/api/v1/latency/api.kraken.com.json").exists()


def test_an_empty_database_builds_a_no_data_site(tmp_path):
    fx = make_db(tmp_path, rounds=0)
    report = _build(fx, tmp_path)
    assert report.skipped[0].startswith("the database holds no results")
    svg = (tmp_path / "public/widget/api.kraken.com.svg").read_text()
    assert "no data" in svg


@pytest.mark.parametrize("content", [None, b"this is not sqlite at all" * 100])
def test_a_missing_or_broken_database_is_a_build_error(tmp_path, content):
    fx = make_db(tmp_path)
    bad = tmp_path / "bad.sqlite"
    if content is not None:
        bad.write_bytes(content)
    with pytest.raises(BuildError, match="bad.sqlite"):
        _build(replace(fx, path=bad), tmp_path)
    assert not (tmp_path / "public").exists()


def test_cli_reports_skips_on_stderr_and_fails_with_one_line(tmp_path):
    fx = make_db(tmp_path, silent_regions=("sin",))
    catalog = tmp_path / "targets.toml"
    catalog.write_text(catalog_toml(fx.catalog))
    cmd = [sys.executable, "-m", "nettrace", "build", "--db", str(fx.path), "--out",
           str(tmp_path / "public"), "--private", str(tmp_path / "private"), "--targets",
           str(catalog), "--cache", str(tmp_path / "cache"), "--now", str(fx.round_ts + 30)]
    ok = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "skipped: region sin: never reported" in ok.stderr
    assert "public and" in ok.stdout
    cmd[cmd.index("--db") + 1] = str(tmp_path / "missing.sqlite")
    bad = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        f"nettrace build: {tmp_path / 'missing.sqlite'}: no such database file"]

