"""public/metrics passes `promtool check metrics` with only the lint notes kept on purpose, and
escapes label values."""
from __future__ import annotations

import subprocess
from dataclasses import replace

from build.compute.assemble import build_site_model
from build.read.inputs import BuildClock, read_inputs
from build.render.metrics import render_metrics
from db.connection import connect
from collect.records import Target
from tests.conftest import need_tool
from tests.factories import TARGETS, make_db

# Kept lint notes: `nettrace_target_rtt_ms` is the name existing users scrape; the base-unit
# `nettrace_target_rtt_seconds` sits next to it.
KEPT_LINT = {"nettrace_target_rtt_ms metric names should not contain abbreviated units"}
PROMTOOL_LINT_EXIT = 3  # promtool: lint problems only; 1 would be a parse error

ODD = Target("odd.example", "Odd", 'Quote " Back \\ slash\nnewline')


def _metrics(tmp_path, **overrides) -> str:
    fx = make_db(tmp_path, **overrides)
    conn = connect(fx.path, readonly=True)
    model = build_site_model(read_inputs(conn, fx.catalog, BuildClock(fx.round_ts + 30))).model
    conn.close()
    return render_metrics(model, build_duration_s=1.25)["metrics"].decode()


def test_promtool_accepts_the_exposition_with_only_kept_lint(tmp_path):
    promtool = need_tool("promtool", "prometheus")
    text = _metrics(tmp_path, targets=TARGETS + (ODD,), route_change=("api.kraken.com", "fra", 5))
    run = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                         text=True, timeout=60)
    notes = {line.strip() for line in (run.stdout + run.stderr).splitlines() if line.strip()}
    assert run.returncode in (0, PROMTOOL_LINT_EXIT), notes
    assert notes <= KEPT_LINT


def test_issue_metric_names_and_base_units_are_present(tmp_path):
    text = _metrics(tmp_path, rounds=48, route_change=("api.kraken.com", "fra", 45))  # 30 min ago
    for name in ("nettrace_target_rtt_ms", "nettrace_target_hops", "nettrace_route_changes_1h",
                 "nettrace_quant_signals_1h", "nettrace_target_rtt_seconds",
                 "nettrace_target_loss_ratio", "nettrace_target_last_measured_timestamp_seconds",
                 "nettrace_target_up", "nettrace_build_duration_seconds"):
        assert f"# TYPE {name} gauge" in text and f"# HELP {name} " in text
    assert ('nettrace_route_changes_1h{target="api.kraken.com",region="fra",'
            'category="Crypto Exchanges"} 1') in text


def test_label_values_are_escaped(tmp_path):
    text = _metrics(tmp_path, targets=(replace(ODD),) + TARGETS[:1])
    assert 'category="Quote \\" Back \\\\ slash\\nnewline"' in text
