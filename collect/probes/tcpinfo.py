"""What the kernel knows about one TCP connection (TCP_INFO): its RTT and what it had to resend.

A handshake whose SYN or SYN-ACK was lost completes only after a retransmission timeout (1 s on
Linux), so its connect time measures the loss, not the path. The connection's own counter of
resent segments (tcpi_total_retrans, the SYN included) says so exactly, with no threshold to
tune: a stopwatch comparison would have to tell a 1 s timeout from event-loop lag, which reaches
several ms in a 100-target round. A lost SYN-ACK shows up too: the client's SYN timer (1 s)
runs out before a Linux server's SYN-ACK timer, which starts half a round trip later.
"""
from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass

# struct tcp_info (linux/tcp.h): 8 bytes of u8 fields, then u32s; tcpi_rtt is the smoothed RTT
# in microseconds (after a clean handshake: exactly the SYN to SYN-ACK time).
TCPI_RTT_OFFSET = 68
TCPI_TOTAL_RETRANS_OFFSET = 100
TCP_INFO_BYTES = 104
RETRANSMITTED = "handshake retransmitted"  # the error of a probe whose every sample was resent


@dataclass(frozen=True, slots=True)
class TcpInfo:
    rtt_ms: float | None  # None before the kernel has a sample
    retransmits: int  # segments resent on this connection so far, the SYN included


@dataclass(frozen=True, slots=True)
class Timed:
    """One sample taken over a TCP connection, with that connection's full connect time."""

    sample_ms: float
    connect_ms: float  # connect() to established, by the event loop's stopwatch
    resent: bool  # the connection resent a segment before the sample ended: the sample is lost


def tcp_info(sock: socket.socket) -> TcpInfo | None:
    """The kernel's view of a connected socket; None where TCP_INFO cannot be read."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, TCP_INFO_BYTES)
    except OSError:
        return None
    if len(info) < TCP_INFO_BYTES:
        return None
    (rtt_us,) = struct.unpack_from("=I", info, TCPI_RTT_OFFSET)
    (retransmits,) = struct.unpack_from("=I", info, TCPI_TOTAL_RETRANS_OFFSET)
    return TcpInfo(rtt_us / 1000 if rtt_us else None, retransmits)


def resent(sock: socket.socket) -> bool:
    """Whether the connection has resent any segment (False where TCP_INFO is unreadable)."""
    info = tcp_info(sock)
    return info is not None and info.retransmits > 0


def stopwatch_ms(started_ns: int) -> float:
    """ms since started_ns on time.perf_counter_ns()."""
    return (time.perf_counter_ns() - started_ns) / 1e6
