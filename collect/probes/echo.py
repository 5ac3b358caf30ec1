"""One ICMP echo socket per event loop, shared by every icmp and trace probe in flight.

Shared, not per target: every raw ICMP socket receives a copy of every ICMP packet the host
gets, so 100 per-target sockets would each parse all 100 targets' replies; one socket reads each
reply once and hands it to its waiter by sequence number.
Kernel timestamps: a reply's receive time is the kernel's SO_TIMESTAMPNS stamp, taken when the
packet arrived, not when the event loop got round to it, and the send time is read right before
sendto; icmplib's own RTTs use time.time() after the loop wakes and drift under load.
icmplib (pinned) opens the socket (raw when root, else an unprivileged datagram socket) and
builds the echo packets.
"""
from __future__ import annotations

import asyncio
import os
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from icmplib import ICMPLibError, ICMPv4Socket, SocketPermissionError

from collect.errors import CollectError
from collect.probes.stamped import CMSG_BYTES, SO_TIMESTAMPNS, kernel_ns

ECHO_REPLY, DEST_UNREACHABLE, ECHO_REQUEST, TIME_EXCEEDED = 0, 3, 8, 11
ICMP_PROTOCOL = 1
PAD = b"nettrace-paris-probe"  # constant payload after the checksum-balancing word
RECV_BYTES = 1500
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
RCVBUF_BYTES = 8 << 20  # a few thousand replies (each costs ~1-2 KB of buffer) while the loop is busy
DEFAULT_TTL = 64


@dataclass(frozen=True, slots=True)
class Reply:
    source: str  # the destination for an echo reply, a router for time exceeded
    icmp_type: int
    rtt_ms: float


def balanced_payload(seq: int) -> bytes:
    """A payload starting with the ones' complement of seq: seq + ~seq adds nothing to the
    ones' complement sum, so every probe of a flow has the same ICMP checksum (Paris traceroute:
    load balancers that hash the first ICMP words keep the flow on one path)."""
    return struct.pack("!H", ~seq & 0xFFFF) + PAD


def parse_icmp(data: bytes, has_ip_header: bool) -> tuple[int, int, int] | None:
    """(type, id, seq) of an echo reply, or of our echo request quoted in an ICMP error;
    None for anything else (other ICMP, truncated packets, our own requests on loopback)."""
    if has_ip_header:
        data = data[(data[0] & 0x0F) * 4 :] if data else b""
    if len(data) < 8:
        return None
    icmp_type = data[0]
    if icmp_type == ECHO_REPLY:
        return (icmp_type, *struct.unpack_from("!HH", data, 4))
    if icmp_type not in (DEST_UNREACHABLE, TIME_EXCEEDED) or len(data) < 8 + 20 + 8:
        return None
    inner = data[8:]
    if inner[9] != ICMP_PROTOCOL:
        return None
    quoted = inner[(inner[0] & 0x0F) * 4 :]
    if len(quoted) < 8 or quoted[0] != ECHO_REQUEST:
        return None
    return (icmp_type, *struct.unpack_from("!HH", quoted, 4))


class EchoEndpoint:
    """Sends echo requests at any TTL and matches replies to waiters by sequence number."""

    def __init__(self, loop: asyncio.AbstractEventLoop, privileged: bool) -> None:
        try:
            self._icmp = ICMPv4Socket(privileged=privileged)
        except SocketPermissionError as exc:
            raise CollectError(
                "icmp: no permission for ICMP sockets "
                "(run as root, or allow this group in net.ipv4.ping_group_range)"
            ) from exc
        except ICMPLibError as exc:
            raise CollectError(f"icmp: cannot open a socket: {exc}") from exc
        self.privileged = privileged
        self.users = 0
        self._loop = loop
        self._sock = self._icmp.sock
        self._sock.setblocking(False)
        self._sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        self._grow_receive_buffer()
        if privileged:
            self.ident = (os.getpid() ^ id(self)) & 0xFFFF
        else:  # the kernel stamps a datagram socket's port as the echo id
            self._sock.bind(("0.0.0.0", 0))
            self.ident = self._sock.getsockname()[1]
        self._seq = self.ident  # any start; distinct processes rarely collide
        self._pending: dict[int, tuple[str, asyncio.Future]] = {}
        loop.add_reader(self._sock.fileno(), self._on_readable)

    async def exchange(self, address: str, ttl: int, timeout_s: float) -> Reply | None:
        """Send one echo request to address with the given TTL; the reply (echo reply, or an
        ICMP error quoting the request) or None after timeout_s. Raises OSError from sendto."""
        seq = self._free_seq()
        waiter = self._loop.create_future()
        self._pending[seq] = (address, waiter)
        try:
            packet = self._icmp._create_packet(self.ident, seq, balanced_payload(seq))
            self._sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
            sent_ns = time.time_ns()  # same clock as the kernel's SO_TIMESTAMPNS stamp
            self._sock.sendto(packet, (address, 0))
            try:
                async with asyncio.timeout(timeout_s):
                    source, icmp_type, received_ns = await waiter
            except TimeoutError:
                return None
        finally:
            del self._pending[seq]
        return Reply(source, icmp_type, (received_ns - sent_ns) / 1e6)

    def _grow_receive_buffer(self) -> None:
        """Room for every reply of a round's burst of traces: a raw socket also receives all of
        the host's other ICMP. SO_RCVBUF is capped by net.core.rmem_max; root may force more."""
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RCVBUF_BYTES)
        except OSError:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF_BYTES)

    def close(self) -> None:
        self._loop.remove_reader(self._sock.fileno())
        self._icmp.close()

    def _free_seq(self) -> int:
        for _ in range(0x10000):
            self._seq = (self._seq + 1) & 0xFFFF
            if self._seq not in self._pending:
                return self._seq
        raise CollectError("icmp: 65536 echo requests in flight")

    def _on_readable(self) -> None:
        while True:
            try:
                data, ancdata, _flags, peer = self._sock.recvmsg(RECV_BYTES, CMSG_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # a datagram socket reports a queued ICMP error once; read on
                continue
            received_ns = kernel_ns(ancdata) or time.time_ns()
            self._deliver(data, peer[0], received_ns)

    def _deliver(self, data: bytes, source: str, received_ns: int) -> None:
        parsed = parse_icmp(data, has_ip_header=self.privileged)
        if parsed is None:
            return
        icmp_type, ident, seq = parsed
        entry = self._pending.get(seq)
        if entry is None or (self.privileged and ident != self.ident):
            return
        address, waiter = entry
        if icmp_type == ECHO_REPLY and source != address:
            return
        if not waiter.done():
            waiter.set_result((source, icmp_type, received_ns))


_OPEN: dict[asyncio.AbstractEventLoop, EchoEndpoint] = {}


@contextmanager
def shared_endpoint() -> Iterator[EchoEndpoint]:
    """The running loop's endpoint, opened by its first user and closed by its last.
    Privileged (raw) when running as root. Raises CollectError when ICMP is not permitted."""
    loop = asyncio.get_running_loop()
    endpoint = _OPEN.get(loop)
    if endpoint is None:
        endpoint = _OPEN[loop] = EchoEndpoint(loop, privileged=os.geteuid() == 0)
    endpoint.users += 1
    try:
        yield endpoint
    finally:
        endpoint.users -= 1
        if endpoint.users == 0:
            del _OPEN[loop]
            endpoint.close()
