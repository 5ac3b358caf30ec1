"""Benchmark: one collector round over 100 lab targets, next to `fping -C 20` on the same targets.

    sudo .venv/bin/python bench/collector.py          (make bench; needs root and Debian fping)

The lab (tests/lab/) injects each target's delay (1..150 ms), loss on a few, and 5 dead targets.
Our round is `nettrace collect --probes icmp,tcp` with its defaults (20 icmp samples, 3 tcp
samples, 0.25 s apart, 2 s timeout); fping sends 20 echoes per target with the same spacing and
timeout. Both run in the lab's collector namespace, alternately, REPEATS times; RTT errors are medians
minus the lab's measured TUN overhead minus the delay the lab applied (tests/lab/applied.py). Prints a markdown table with the
bars: round wall <= 1.5 x fping's, our icmp median error <= fping's + 0.2 ms, peak RSS <= 60 MB.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the lab lives in tests/lab

from tests.lab.collect_run import NETTRACE, REGION, write_catalog  # noqa: E402
from tests.lab.topology import Lab, LabTarget, LabTruth  # noqa: E402

SAMPLES, INTERVAL_MS, TIMEOUT_MS = 20, 250, 2000
REPEATS = 2  # each tool runs this often; the fastest run is reported (other load on the machine)
WALL_RATIO_BAR, ERROR_MARGIN_BAR_MS, RSS_BAR_MB = 1.5, 0.2, 60.0
ZERO = LabTarget(1, 0.0)  # not in the round: measures the TUN overhead
LOSSY = {11: 0.1, 12: 0.2, 13: 0.2, 14: 0.3, 15: 0.1}  # index -> injected loss ratio


def bench_targets() -> list[LabTarget]:
    """95 live targets with delays spread over 1..150 ms (a few lossy) and 5 dead ones."""
    live = [LabTarget(i, round(1 + (i * 37) % 150, 1), loss_ratio=LOSSY.get(i, 0.0))
            for i in range(10, 105)]
    return live + [LabTarget(i, kind="dead") for i in range(1, 6)]


@dataclass(frozen=True, slots=True)
class Run:
    """One measuring process: its per-target icmp RTTs (None = lost) and its costs."""

    rtts_ms: dict[str, list[float | None]]
    tcp_rtts_ms: dict[str, float | None]  # our median tcp connect time; fping has none
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    truth: LabTruth  # the lab's TUN cost and the delays it applied during this run
    startup_s: float | None = None  # ours: process start to the first probe (imports, catalog)

    def icmp_errors_ms(self, live: list[str]) -> list[float]:
        return median_errors_ms(icmp_medians(self), live, self.truth, "icmp")

    def tcp_errors_ms(self, live: list[str]) -> list[float]:
        return median_errors_ms(self.tcp_rtts_ms, live, self.truth, "tcp")


def run_measured(lab: Lab, cmd: list[str], stderr_out: bool = False) -> tuple[str, float, float, float]:
    """Run cmd in the collector namespace: (its output, wall s, CPU s, peak RSS MB) from wait4,
    which reports this one process (`ip netns exec` execs the command in place)."""
    pipe = subprocess.PIPE
    start = time.monotonic()
    proc = lab.collector.popen(cmd, stdout=pipe, stderr=pipe, text=True)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall_s = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # wait4 reaped it, not Popen
    if proc.returncode not in (0, 1):  # fping exits 1 when some target is unreachable
        raise SystemExit(f"{cmd[0]} failed ({proc.returncode}): {err[-2000:]}")
    return (err if stderr_out else out), wall_s, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def run_nettrace(lab: Lab, targets: list[LabTarget]) -> Run:
    catalog = write_catalog(lab.workdir / "bench.toml", targets, ("icmp", "tcp"))
    started = time.time()
    with lab.measuring(ZERO) as truth:
        out, wall_s, cpu_s, rss_mb = run_measured(lab, [
            str(NETTRACE), "collect", "--targets", str(catalog), "--region", REGION, "--once",
            "--jsonl", "--probes", "icmp,tcp", "--samples", str(SAMPLES)])
    records = [json.loads(line) for line in out.splitlines() if line.strip()]
    icmp = {r["target"]: r["samples_ms"] for r in records if r["probe"] == "icmp"}
    tcp = {r["target"]: r["rtt_ms"] for r in records if r["probe"] == "tcp"}
    first_probe = min(datetime.fromisoformat(r["ts"].replace("Z", "+00:00")).timestamp() for r in records)
    return Run(icmp, tcp, wall_s, cpu_s, rss_mb, truth, first_probe - started)


def run_fping(lab: Lab, targets: list[LabTarget], fping: str) -> Run:
    # -i 1: 100 targets fit in one 250 ms period, as our samples all leave at once
    cmd = [fping, "-C", str(SAMPLES), "-p", str(INTERVAL_MS), "-t", str(TIMEOUT_MS), "-i", "1",
           "-q", *(x.address for x in targets)]
    with lab.measuring(ZERO) as truth:
        err, wall_s, cpu_s, rss_mb = run_measured(lab, cmd, stderr_out=True)
    rtts = {}
    for line in err.splitlines():  # "10.77.1.10 : 38.21 38.19 - 38.25 ..."
        address, sep, values = line.partition(" : ")
        if sep:
            rtts[address.strip()] = [None if v == "-" else float(v) for v in values.split()]
    return Run(rtts, {}, wall_s, cpu_s, rss_mb, truth)


def median_errors_ms(rtts: dict[str, float | None], live: list[str], truth: LabTruth,
                     probe: str) -> list[float]:
    """median - overhead - applied delay (signed) per live target that answered."""
    applied = {a: truth.applied.median_ms(a, probe) for a in live}
    return [rtts[a] - truth.overhead_ms[probe] - applied[a] for a in live
            if rtts.get(a) is not None and applied[a] is not None]


def mean_abs(errors: list[float]) -> float:
    return statistics.mean(abs(e) for e in errors)


def max_abs(errors: list[float]) -> float:
    return max(abs(e) for e in errors)


def icmp_medians(run: Run) -> dict[str, float | None]:
    out = {}
    for address, samples in run.rtts_ms.items():
        got = [s for s in samples if s is not None]
        out[address] = statistics.median(got) if got else None
    return out


def loss_error_points(run: Run, lossy: dict[str, float]) -> float:
    errors = []
    for address, injected in lossy.items():
        samples = run.rtts_ms.get(address, [])
        lost = sum(s is None for s in samples) / len(samples) if samples else 1.0
        errors.append(abs(lost - injected) * 100)
    return statistics.mean(errors)


def render(ours: Run, theirs: Run, live: list[LabTarget]) -> str:
    addresses = [x.address for x in live]
    lossy = {x.address: x.loss_ratio for x in live if x.loss_ratio}
    ours_err, fping_err = ours.icmp_errors_ms(addresses), theirs.icmp_errors_ms(addresses)
    tcp_err = ours.tcp_errors_ms(addresses)
    ok = {
        "wall": ours.wall_s <= WALL_RATIO_BAR * theirs.wall_s,
        "error": mean_abs(ours_err) <= mean_abs(fping_err) + ERROR_MARGIN_BAR_MS,
        "rss": ours.peak_rss_mb <= RSS_BAR_MB,
    }
    verdict = {k: "pass" if v else "**FAIL**" for k, v in ok.items()}
    rows = [
        ("round wall time (s)", f"{ours.wall_s:.2f}", f"{theirs.wall_s:.2f}",
         f"≤ {WALL_RATIO_BAR} × fping = {WALL_RATIO_BAR * theirs.wall_s:.2f}", verdict["wall"]),
        ("… of which start-up before the first probe (s)", f"{ours.startup_s:.2f}", "–", "", ""),
        ("CPU time (s)", f"{ours.cpu_s:.2f}", f"{theirs.cpu_s:.2f}", "", ""),
        ("peak RSS (MB)", f"{ours.peak_rss_mb:.1f}", f"{theirs.peak_rss_mb:.1f}", f"≤ {RSS_BAR_MB:g}", verdict["rss"]),
        ("icmp median RTT error, mean abs (ms)", f"{mean_abs(ours_err):.3f}",
         f"{mean_abs(fping_err):.3f}", f"≤ fping + {ERROR_MARGIN_BAR_MS}", verdict["error"]),
        ("icmp median RTT error, max abs (ms)", f"{max_abs(ours_err):.3f}", f"{max_abs(fping_err):.3f}", "", ""),
        ("icmp median RTT bias, mean signed (ms)", f"{statistics.mean(ours_err):+.3f}",
         f"{statistics.mean(fping_err):+.3f}", "", ""),
        ("tcp median RTT error, mean / max abs (ms)", f"{mean_abs(tcp_err):.3f} / {max_abs(tcp_err):.3f}",
         "–", "", ""),
        ("loss error on lossy targets, mean (points)", f"{loss_error_points(ours, lossy):.1f}",
         f"{loss_error_points(theirs, lossy):.1f}", "", ""),
        ("live targets answering icmp", f"{len(ours_err)}/{len(live)}", f"{len(fping_err)}/{len(live)}", "", ""),
    ]
    lines = ["| measure | nettrace collect (icmp 20 + tcp 3) | fping -C 20 | bar | result |",
             "| --- | --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    notes = (f"\n100 lab targets (95 live, delays 1–150 ms, {len(lossy)} lossy; 5 dead), "
             f"{SAMPLES} samples {INTERVAL_MS} ms apart, {TIMEOUT_MS} ms timeout. Lab TUN overhead "
             f"(measured during each run, subtracted): icmp {ours.truth.overhead_ms['icmp']:.3f} ms and "
             f"tcp {ours.truth.overhead_ms['tcp']:.3f} ms during ours, icmp {theirs.truth.overhead_ms['icmp']:.3f} ms "
             f"during fping's. Fastest of {REPEATS} runs each; load average {os.getloadavg()[0]:.1f} "
             f"on {os.cpu_count()} CPUs. fping prints 1 decimal from 10 ms and none from 100 ms.")
    return "\n".join(lines) + notes


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    if os.geteuid() != 0:
        print("bench/collector.py needs root (network namespaces, raw sockets)", file=sys.stderr)
        return 2
    fping = shutil.which("fping")
    if fping is None or not NETTRACE.exists():
        print(f"needs fping (Debian package fping) and {NETTRACE} (make setup)", file=sys.stderr)
        return 2
    targets = bench_targets()
    with Lab([ZERO, *targets]) as lab:
        runs = [(run_nettrace(lab, targets), run_fping(lab, targets, fping)) for _ in range(REPEATS)]
    ours = min((r[0] for r in runs), key=lambda run: run.wall_s)
    theirs = min((r[1] for r in runs), key=lambda run: run.wall_s)
    print(render(ours, theirs, [x for x in targets if x.kind != "dead"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
