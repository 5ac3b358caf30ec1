"""A real collector round over the real targets.toml fits the collectors' 256 MB machines.

The round runs offline in a network namespace the test makes: /etc/hosts (bind-mounted in a
private mount namespace) points every target at an address routed into a veth whose gateway
never answers, so every probe is sent and waits out its full timeout - the most probes in flight
at once, the worst case for memory. Nothing leaves the machine.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from collect.targets import load_catalog
from tests.conftest import need_root, need_tool

ROOT = Path(__file__).resolve().parents[2]
VM_MB = 256
HEADROOM_MB = 64  # the VM's kernel, Fly's init and page cache share the 256 MB
TIMEOUT_S = 1
DEAD_NET = [  # a default route into a veth with a gateway that never answers
    "ip link set lo up",
    "ip link add v0 type veth peer name v1",
    "ip link set v0 up",
    "ip link set v1 up",
    "ip addr add 10.99.0.1/24 dev v0",
    "ip route add default via 10.99.0.254 dev v0",
    "ip neigh add 10.99.0.254 lladdr 02:00:00:00:00:02 dev v0",
]
# Runs inside the namespace: the collector as its only child, so RUSAGE_CHILDREN is its peak.
MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print(json.dumps({"rc": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-2000:],
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def dead_network_cmd(hosts_file: Path, inner: list[str]) -> list[str]:
    script = " && ".join([f"mount --bind {hosts_file} /etc/hosts", *DEAD_NET, 'exec "$@"'])
    return ["unshare", "--net", "--mount", "sh", "-c", script, "sh", *inner]


def write_hosts(path: Path, hosts: list[str]) -> Path:
    lines = ["127.0.0.1 localhost"]
    lines += [f"10.98.{i // 250}.{1 + i % 250} {host}" for i, host in enumerate(hosts)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_full_round_of_every_target_peaks_well_under_the_collector_vm_memory(tmp_path):
    need_root()
    need_tool("ip", "iproute2")
    need_tool("unshare", "util-linux")
    catalog = load_catalog(ROOT / "targets.toml")
    hosts = write_hosts(tmp_path / "hosts", [t.host for t in catalog.targets])
    nettrace = str(Path(sys.executable).with_name("nettrace"))
    # The same privilege drop as fly/entrypoint.sh's collector role.
    collector = ["setpriv", "--bounding-set=-all,+net_raw", "--inh-caps=-all", "--no-new-privs",
                 "--", nettrace, "collect", "--targets", str(ROOT / "targets.toml"),
                 "--region", "ewr", "--once", "--jsonl", "--timeout", str(TIMEOUT_S)]
    done = subprocess.run(dead_network_cmd(hosts, [sys.executable, "-c", MEASURE, *collector]),
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["rc"] == 0, report["stderr"]
    results = [json.loads(line) for line in report["stdout"].splitlines()]
    assert len(results) == sum(len(t.probes) for t in catalog.targets)
    assert {r["region"] for r in results} == {"ewr"}
    assert not any(r["ok"] for r in results), "nothing is reachable in the dead network"
    peak_mb = report["maxrss_kb"] / 1024
    print(f"collector peak RSS {peak_mb:.1f} MB over {len(results)} results")
    assert peak_mb < VM_MB - HEADROOM_MB
