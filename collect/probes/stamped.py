"""Sockets whose reads carry the kernel's receive time (SO_TIMESTAMPNS), for tls, http and dns.

A stopwatch read when the event loop wakes includes the loop's lag, which grows with every
handshake and parse of a 100-target round; the kernel stamps a packet when it arrives. Send
times are read right before the send call, on the same clock (unix ns).
TLS runs through an ssl.SSLObject over memory buffers so each TLS record's bytes keep the
stamp of the segment that brought them.
"""
from __future__ import annotations

import asyncio
import socket
import ssl
import struct
import time

from collect.probes.tcpinfo import Timed, resent, stopwatch_ms

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # the Linux value; Python lacks the name
CMSG_BYTES = 256  # room for the timestamp and any other control message the kernel adds
RECV_BYTES = 65536


def kernel_ns(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    """The SO_TIMESTAMPNS receive stamp (unix ns) from recvmsg's ancillary data."""
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            sec, nsec = struct.unpack_from("@qq", data)
            return sec * 1_000_000_000 + nsec
    return None


def stamped_socket(kind: int) -> socket.socket:
    """A non-blocking IPv4 socket (SOCK_STREAM or SOCK_DGRAM) with receive stamps on."""
    sock = socket.socket(socket.AF_INET, kind)
    sock.setblocking(False)
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    return sock


async def recv_stamped(sock: socket.socket) -> tuple[bytes, int]:
    """The next bytes (b"" at end of stream) and when the kernel received them (unix ns).
    Raises OSError, e.g. ConnectionRefusedError for a UDP port that answered unreachable."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            data, ancdata, _flags, _peer = sock.recvmsg(RECV_BYTES, CMSG_BYTES)
            return data, kernel_ns(ancdata) or time.time_ns()
        except (BlockingIOError, InterruptedError):
            ready = loop.create_future()
            loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
            try:
                await ready
            finally:
                loop.remove_reader(sock.fileno())


class StampedConnection:
    """A TCP connection, optionally TLS, whose received bytes are stamped by the kernel."""

    def __init__(self, sock: socket.socket, connect_ms: float) -> None:
        self.sock = sock
        self.connect_ms = connect_ms  # connect() to established, by the loop's stopwatch
        self.tls: ssl.SSLObject | None = None
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._arrived_ns = 0

    @classmethod
    async def open(cls, address: str, port: int) -> StampedConnection:
        sock = stamped_socket(socket.SOCK_STREAM)
        started_ns = time.perf_counter_ns()
        try:
            await asyncio.get_running_loop().sock_connect(sock, (address, port))
        except BaseException:
            sock.close()
            raise
        return cls(sock, stopwatch_ms(started_ns))

    def close(self) -> None:
        self.sock.close()

    def timed(self, sample_ms: float) -> Timed:
        """A sample just taken over this connection; resent if any segment so far was (the
        SYN, or one the sample waited for)."""
        return Timed(sample_ms, self.connect_ms, resent(self.sock))

    async def start_tls(self, context: ssl.SSLContext, server_name: str) -> float:
        """The TLS handshake; returns its time in ms, from sending the ClientHello to the
        arrival of the server's last handshake bytes. Raises ssl.SSLError or OSError."""
        self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=server_name)
        started_ns = arrived_ns = None
        while True:
            try:
                self.tls.do_handshake()
                await self._flush()
                return (arrived_ns - started_ns) / 1e6
            except ssl.SSLWantReadError:
                sent_ns = await self._flush()
                started_ns = started_ns or sent_ns
                arrived_ns = await self._feed()

    async def send(self, data: bytes) -> int:
        """Send application bytes; returns when they were handed to the kernel (unix ns)."""
        if self.tls is None:
            return await self._send_raw(data)
        self.tls.write(data)
        return await self._flush()

    async def first_bytes(self) -> tuple[bytes, int]:
        """The first application bytes (b"" if the peer closed) and the kernel time the
        segment that completed them arrived (unix ns)."""
        if self.tls is None:
            return await recv_stamped(self.sock)
        while True:
            try:
                return self.tls.read(RECV_BYTES), self._arrived_ns
            except ssl.SSLWantReadError:  # a partial record, or a TLS 1.3 session ticket
                await self._feed()

    async def more_bytes(self) -> bytes:
        data, _ = await self.first_bytes()
        return data

    async def _feed(self) -> int:
        data, arrived_ns = await recv_stamped(self.sock)
        if not data:
            raise ConnectionResetError("connection closed by the server")
        self._incoming.write(data)
        self._arrived_ns = arrived_ns
        return arrived_ns

    async def _flush(self) -> int:
        return await self._send_raw(self._outgoing.read())

    async def _send_raw(self, data: bytes) -> int:
        sent_ns = time.time_ns()
        if data:
            await asyncio.get_running_loop().sock_sendall(self.sock, data)
        return sent_ns
