"""icmp probe and the shared echo socket: real echoes to loopback (root), packet shapes."""
from __future__ import annotations

import asyncio
import shutil
import struct
import sys
from pathlib import Path

import pytest
from icmplib import ICMPv4Socket

from collect.probes import ProbeOptions, echo, icmp
from collect.records import Target
from tests.conftest import need, need_root
from tests.lab.netns import Netns

LOOPBACK_CEILING_MS = 2.0
ROOT = Path(__file__).resolve().parents[2]


def loopback(host: str = "127.0.0.1") -> Target:
    return Target(host, "loopback", "CDN & DNS")


def test_twenty_echoes_to_loopback_all_return_and_in_loopback_time():
    need_root()
    m = asyncio.run(icmp.probe(loopback(), ProbeOptions(interval_s=0.01)))
    assert m.error is None
    assert len(m.samples_ms) == 20
    assert all(s is not None and s > 0 for s in m.samples_ms)
    # all but the slowest: the hypervisor may hold the vCPU a few ms between the clock read
    # and the send, once in a while, loopback or not
    assert sorted(m.samples_ms)[-2] < LOOPBACK_CEILING_MS, m.samples_ms


def test_many_targets_share_one_socket_and_every_reply_finds_its_probe():
    need_root()
    hosts = [f"127.0.0.{i}" for i in range(1, 51)]

    async def round_() -> list:
        return await asyncio.gather(
            *(icmp.probe(loopback(h), ProbeOptions(icmp_samples=10, interval_s=0.005)) for h in hosts)
        )

    results = asyncio.run(round_())
    assert all(m.error is None and None not in m.samples_ms for m in results)
    assert echo._OPEN == {}  # the last user closed the shared socket


UNPRIVILEGED_PROBE = """
import asyncio
from collect.errors import CollectError
from collect.probes import ProbeOptions, icmp
from collect.records import Target
try:
    m = asyncio.run(icmp.probe(Target("127.0.0.1", "lo", "c"), ProbeOptions(icmp_samples=5, interval_s=0.01)))
    print(sum(s is not None for s in m.samples_ms))
except CollectError as exc:
    print(exc)
"""


def run_as_nobody(ns: Netns) -> str:
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    return ns.run([*nobody, sys.executable, "-c", UNPRIVILEGED_PROBE], cwd=str(ROOT)).stdout.strip()


@pytest.mark.lab
def test_without_root_datagram_icmp_sockets_ping_when_the_group_is_allowed():
    need_root()
    need(shutil.which("setpriv") is not None, "needs setpriv (Debian package util-linux)")
    with Netns("icmpuser") as ns:
        ns.sysctl("net.ipv4.ping_group_range", "0 2147483647")
        assert run_as_nobody(ns) == "5"
        ns.sysctl("net.ipv4.ping_group_range", "1 0")
        assert "no permission for ICMP sockets" in run_as_nobody(ns)


def test_echo_checksum_is_constant_across_sequence_numbers():
    packet = ICMPv4Socket._create_packet
    sock = ICMPv4Socket.__new__(ICMPv4Socket)  # packet building only: no socket opened
    sock._sock = None
    checksums = {
        struct.unpack_from("!H", packet(sock, 4242, seq, echo.balanced_payload(seq)), 2)[0]
        for seq in (0, 1, 2, 255, 4096, 65535)
    }
    assert len(checksums) == 1


def ip_header(protocol: int) -> bytes:
    return bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64, protocol, 0, 0]) + bytes(8)


def test_time_exceeded_is_matched_by_the_quoted_request_id_and_sequence():
    quoted = ip_header(1) + struct.pack("!BBHHH", echo.ECHO_REQUEST, 0, 0, 7, 99)
    packet = ip_header(1) + struct.pack("!BBHI", echo.TIME_EXCEEDED, 0, 0, 0) + quoted
    assert echo.parse_icmp(packet, has_ip_header=True) == (echo.TIME_EXCEEDED, 7, 99)


def test_echo_reply_without_ip_header_parses_for_datagram_sockets():
    packet = struct.pack("!BBHHH", echo.ECHO_REPLY, 0, 0, 3, 5) + b"payload"
    assert echo.parse_icmp(packet, has_ip_header=False) == (echo.ECHO_REPLY, 3, 5)


def test_our_own_echo_requests_and_foreign_errors_are_ignored():
    request = ip_header(1) + struct.pack("!BBHHH", echo.ECHO_REQUEST, 0, 0, 7, 99)
    udp_quoted = ip_header(17) + bytes(8)
    unreachable = ip_header(1) + struct.pack("!BBHI", echo.DEST_UNREACHABLE, 3, 0, 0) + udp_quoted
    assert echo.parse_icmp(request, has_ip_header=True) is None
    assert echo.parse_icmp(unreachable, has_ip_header=True) is None
    assert echo.parse_icmp(b"\x45", has_ip_header=True) is None

