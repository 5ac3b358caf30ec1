"""The namespace primitives the lab (and the ingest end-to-end test) build on."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import need_root
from tests.lab.netns import NETNS_DIR, Netns, veth

pytestmark = pytest.mark.lab

CONNECT = """
import socket, sys
s = socket.socket(); s.settimeout(float(sys.argv[2]))
try:
    s.connect((sys.argv[1], 8080)); print("connected")
except OSError as e:
    print(type(e).__name__)
"""
LISTEN = "import socket,time; s=socket.socket(); s.bind(('0.0.0.0',8080)); s.listen(); time.sleep(60)"


def test_veth_joins_two_namespaces_and_link_down_pauses_the_network():
    need_root()
    with Netns("nsa") as a, Netns("nsb") as b:
        veth(a, b, "10.77.250.1/30", "10.77.250.2/30")
        b.popen([sys.executable, "-c", LISTEN])
        b.run(["sh", "-c", "for i in $(seq 50); do ss -ltn | grep -q :8080 && exit 0; sleep 0.05; done"])
        assert a.exec_python(CONNECT, "10.77.250.2", "2").stdout.strip() == "connected"
        b.link_set(b.ifname_to(a), up=False)
        assert a.exec_python(CONNECT, "10.77.250.2", "0.5").stdout.strip() != "connected"
        b.link_set(b.ifname_to(a), up=True)
        assert a.exec_python(CONNECT, "10.77.250.2", "2").stdout.strip() == "connected"


def test_closing_a_namespace_kills_its_processes_and_deletes_it():
    need_root()
    ns = Netns("gone")
    proc = ns.popen(["sleep", "60"])
    ns.close()
    assert proc.poll() is not None
    assert not (NETNS_DIR / ns.name).exists()
    with pytest.raises(subprocess.CalledProcessError):
        ns.run(["true"])


def test_namespaces_left_by_a_dead_test_run_are_swept_by_the_next():
    need_root()
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"ntlab-{dead.pid}-stale"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    with Netns("sweeper"):
        assert not (NETNS_DIR / stale).exists()
