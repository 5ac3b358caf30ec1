"""The lab's own yardstick, independent of the collector: sequential ICMP echo or TCP connect
round trips to one address, timed by the kernel so the yardstick's own wake-ups do not count:
an echo from just before sendto to the reply's SO_TIMESTAMPNS receive stamp, a connect by the
kernel's SYN to SYN-ACK time (TCP_INFO tcpi_rtt).

    python measure.py icmp|tcp ADDRESS COUNT [PORT]     -> JSON list of RTTs in ms (null = lost)
    python measure.py hop ADDRESS TTL                   -> JSON: who answered an echo sent with TTL

Run inside the collector namespace. Sequential and unloaded, so it measures what the lab
injects plus the TUN's own round-trip cost; against a zero-delay target that cost is the
lab's overhead, which tests subtract before comparing the collector's figures to the truth.
"""
from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time

TIMEOUT_S = 1.0
SPACING_S = 0.01
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python lacks the name
TCPI_RTT_OFFSET, TCP_INFO_BYTES = 68, 104  # struct tcp_info: u32 tcpi_rtt in microseconds


def checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_rtts_ms(address: str, count: int) -> list[float | None]:
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.settimeout(TIMEOUT_S)
    out: list[float | None] = []
    for seq in range(count):
        body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + b"nettrace-lab...."
        packet = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
        sent_ns = time.time_ns()  # the clock of the kernel's receive stamps
        sock.sendto(packet, (address, 0))
        out.append(_await_reply(sock, ident, seq, sent_ns))
        time.sleep(SPACING_S)
    return out


def _await_reply(sock: socket.socket, ident: int, seq: int, sent_ns: int) -> float | None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            data, ancdata, _, _ = sock.recvmsg(2048, socket.CMSG_SPACE(16))
        except socket.timeout:
            return None
        icmp = data[(data[0] & 0x0F) * 4:]
        if icmp[0] == 0 and struct.unpack("!HH", icmp[4:8]) == (ident, seq):
            sec, nsec = struct.unpack("@qq", ancdata[0][2][:16])
            return (sec * 1_000_000_000 + nsec - sent_ns) / 1e6
    return None


def responder(address: str, ttl: int) -> dict | None:
    """Send one echo with this TTL: {"address", "icmp_type"} of the answer (0 = echo reply,
    11 = time exceeded), None on silence."""
    ident = os.getpid() & 0xFFFF
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
    sock.settimeout(TIMEOUT_S)
    body = struct.pack("!BBHHH", 8, 0, 0, ident, ttl) + b"nettrace-lab...."
    sock.sendto(body[:2] + struct.pack("!H", checksum(body)) + body[4:], (address, 0))
    try:
        data, (source, _) = sock.recvfrom(2048)
    except socket.timeout:
        return None
    return {"address": source, "icmp_type": data[(data[0] & 0x0F) * 4]}


def connect_rtts_ms(address: str, count: int, port: int) -> list[float | None]:
    out: list[float | None] = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(TIMEOUT_S)
        try:
            sock.connect((address, port))
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_BYTES)
            out.append(struct.unpack_from("=I", info, TCPI_RTT_OFFSET)[0] / 1e3)
        except OSError:
            out.append(None)
        finally:
            sock.close()
        time.sleep(SPACING_S)
    return out


def main(argv: list[str]) -> None:
    kind, address, count = argv[0], argv[1], int(argv[2])
    if kind == "hop":
        print(json.dumps(responder(address, ttl=count)))
        return
    port = int(argv[3]) if len(argv) > 3 else 443
    rtts = echo_rtts_ms(address, count) if kind == "icmp" else connect_rtts_ms(address, count, port)
    print(json.dumps(rtts))


if __name__ == "__main__":
    main(sys.argv[1:])
