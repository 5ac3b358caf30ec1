"""Userspace netem: hold each IPv4 packet read from a TUN device for its own delay, then write it back.

This kernel has no `tc netem`, so the lab's router sends all forwarded traffic through a TUN
device (policy routing) and this process applies per-destination delay, jitter and loss:

    python delayer.py TUN_NAME CONFIG.json RECORD.json

CONFIG maps a destination IPv4 address to {"delay_ms", "jitter_ms", "loss_ratio", "drop_first"};
packets to other addresses (the replies back to the collector) pass with no delay. drop_first
drops the first N packets of each flow after (re)loading, of TCP only those that open a
connection: a SYN, or with a rule for the collector's address a SYN-ACK, lost for sure (a late
FIN or ACK of an earlier connection cannot take its place). Jitter is uniform in
[-jitter_ms, +jitter_ms] around the delay (the median stays at delay_ms). Loss drops exactly
round(loss_ratio * LOSS_BLOCK) packets of every LOSS_BLOCK sent to an address with one IP
protocol (so tcp probes do not eat the icmp probes' share), at random places:
random like real loss, but a 50-sample test sees the configured ratio within 4 points instead
of binomial noise (±6 points at one sigma) that would fail a perfect collector.
Each flow (address and protocol) draws from its own generator seeded from LAB_SEED, so a
flow's jitter and loss do not depend on what else crosses the lab.
SIGHUP re-reads CONFIG, so a test can change a link live.

What it really did is recorded, because it is not always what CONFIG says: a userspace process on
a shared 2-vCPU VM is now and then released late. Traced with ftrace: the hypervisor
deschedules the vCPU the real-time delayer was woken on (no timer tick or IPI lands there for up
to 13 ms, while the other vCPU runs), and a delayer without real-time priority waits behind the
collector itself. Each packet's (first MATCH_BYTES, queued, due, released) goes to a ring of the
last RECORD_LIMIT; SIGUSR1 writes it to RECORD as JSON, empties it and prints "recorded"
(tests/lab/applied.py turns it into the delay each exchange really got).

Every packet is held independently: due times sit in a heap, so a 150 ms packet never delays a
5 ms one. Timers wake late, so the loop sleeps until SPIN_S before the next due time and spins
the rest, reading new packets while it spins. A packet's hold starts when the kernel queued it
on the TUN (stamped by a packet socket on the device, matched by content: two CPUs feeding the
TUN may queue in one order and deliver in the other), not when this process woke to read it:
that wake-up takes 0.05-0.3 ms depending on how busy the machine is. Every delayed packet is
held BASE_HOLD_S more, so a 0 ms target is released by the same precise spin as the others and
the lab's overhead (measured on a 0 ms target) is the same for all delays. The kernel
decrements TTL once into the TUN and once out of it: we add one back (and fix the header
checksum) or traceroute would show the router twice.
Prints "ready" on stdout once the device exists.
"""
from __future__ import annotations

import collections
import errno
import fcntl
import heapq
import json
import os
import random
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
SPIN_S = 0.0003  # wake this long before a packet is due, then spin: select wakes up late
MAX_PACKET = 65535
LOSS_BLOCK = 20
RT_PRIORITY = 50
BASE_HOLD_S = 0.0005  # longer than the delayer's worst wake-up, so every release is a spin
ETH_P_ALL, PACKET_OUTGOING = 0x0003, 4
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python lacks the name
TCP, SYN = 6, 0x02  # IP protocol number; the flag in the TCP header's 14th byte
MATCH_BYTES = 40  # IP header and the start of ICMP/TCP: identifies a packet in the tap queue
TAP_BUFFER_BYTES = 16 << 20  # tap copies waiting while the delayer is held off its vCPU
STALE_STAMP_S = 1.0  # a stamp no packet read claimed by then: the TUN dropped it (ring full)
MAX_STAMPS = 4096  # unclaimed stamps kept before the stale ones are swept
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # Linux; beyond net.core.rmem_max
RECORD_LIMIT = 200_000  # packets remembered: ~40 rounds of 100 targets between two SIGUSR1


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def open_tap(tun_name: str) -> socket.socket:
    """A packet socket that sees each packet the kernel queues on the TUN, with its time."""
    tap = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    tap.bind((tun_name, ETH_P_ALL))
    tap.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    tap.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, TAP_BUFFER_BYTES)  # root only, as the lab
    tap.setblocking(False)
    return tap


def load_config(path: str) -> dict[bytes, tuple[float, float, float, int]]:
    """{4-byte address: (delay_s, jitter_s, loss_ratio, drop_first)} from the JSON file."""
    with open(path) as f:
        raw = json.load(f)
    return {
        socket.inet_aton(addr): (c.get("delay_ms", 0) / 1e3, c.get("jitter_ms", 0) / 1e3,
                                 c.get("loss_ratio", 0.0), c.get("drop_first", 0))
        for addr, c in raw.items()
    }


def restore_ttl(packet: bytes) -> bytes:
    """Add one to the IPv4 TTL and recompute the header checksum."""
    header_len = (packet[0] & 0x0F) * 4
    header = bytearray(packet[:header_len])
    header[8] = min(header[8] + 1, 255)
    header[10:12] = b"\0\0"
    total = sum(struct.unpack(f"!{header_len // 2}H", header))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    header[10:12] = struct.pack("!H", ~total & 0xFFFF)
    return bytes(header) + packet[header_len:]


def _opens(packet: bytes) -> bool:
    """Whether packet opens something: any packet but TCP's, and a TCP one with SYN set."""
    if packet[9] != TCP:
        return True
    header = (packet[0] & 0x0F) * 4
    return len(packet) > header + 13 and bool(packet[header + 13] & SYN)


class Delayer:
    def __init__(self, fd: int, tap: socket.socket, config_path: str, seed: str):
        self.fd, self.tap, self.config_path, self.seed = fd, tap, config_path, seed
        self.stamps: dict[bytes, collections.deque[float]] = {}  # tap stamps by packet start
        self.rngs: dict[bytes, random.Random] = {}
        self.config = load_config(config_path)
        self.heap: list[tuple[float, int, bytes, float | None]] = []  # (due, seq, packet, queued)
        self.seq = 0
        self.drops: dict[bytes, list[bool]] = {}  # per address+protocol: flags left in the block
        self.first_dropped: collections.Counter[bytes] = collections.Counter()  # per flow
        # (packet start, queued or None if unknown, due or None if passed or lost, released or
        # None if lost here or by the TUN)
        self.record: collections.deque[tuple[bytes, float, float | None, float | None]] = (
            collections.deque(maxlen=RECORD_LIMIT))

    def reload(self, *_):
        self.config = load_config(self.config_path)
        self.drops.clear()
        self.first_dropped.clear()

    def rng(self, flow: bytes) -> random.Random:
        if flow not in self.rngs:
            self.rngs[flow] = random.Random(f"{self.seed}/{flow.hex()}")
        return self.rngs[flow]

    def dropped(self, flow: bytes, loss_ratio: float) -> bool:
        """Whether the next packet of flow (address and protocol) is lost (see LOSS_BLOCK)."""
        flags = self.drops.get(flow)
        if not flags:
            lost = round(loss_ratio * LOSS_BLOCK)
            flags = [True] * lost + [False] * (LOSS_BLOCK - lost)
            self.rng(flow).shuffle(flags)
            self.drops[flow] = flags
        return flags.pop()

    def admit(self, packet: bytes, queued_s: float | None) -> None:
        """Drop, pass at once, or schedule one packet the kernel queued at queued_s (None:
        unknown, held from now)."""
        if len(packet) < 20 or packet[0] >> 4 != 4:
            return  # not IPv4: the lab routes nothing else through the TUN
        rule = self.config.get(packet[16:20])
        if rule is None:
            self.release(packet, queued_s, None)
            return
        delay_s, jitter_s, loss_ratio, drop_first = rule
        flow = packet[16:20] + packet[9:10]
        if self.first_dropped[flow] < drop_first and _opens(packet):
            self.first_dropped[flow] += 1
            self.record.append((packet[:MATCH_BYTES], queued_s, None, None))
            return
        if loss_ratio and self.dropped(flow, loss_ratio):
            self.record.append((packet[:MATCH_BYTES], queued_s, None, None))
            return
        if jitter_s:
            delay_s = max(0.0, delay_s + self.rng(flow).uniform(-jitter_s, jitter_s))
        self.seq += 1
        start_s = time.time() if queued_s is None else queued_s
        heapq.heappush(self.heap, (start_s + BASE_HOLD_S + delay_s, self.seq, packet, queued_s))

    def drain(self) -> None:
        """Read every packet waiting on the TUN, each with the time the kernel queued it."""
        while True:
            try:
                packet = os.read(self.fd, MAX_PACKET)
            except BlockingIOError:
                return
            self.admit(packet, self.queued_at(packet))

    def queued_at(self, packet: bytes) -> float | None:
        """The tap's kernel stamp of packet (time.time() seconds); None if the tap lost it."""
        while True:
            try:
                data, ancdata, _, address = self.tap.recvmsg(MATCH_BYTES, socket.CMSG_SPACE(16))
            except BlockingIOError:
                break
            except OSError as exc:  # bound while the device was down: reported once
                if exc.errno != errno.ENETDOWN:
                    raise
                continue
            if address[2] == PACKET_OUTGOING and ancdata:  # not the packets we wrote back
                sec, nsec = struct.unpack("@qq", ancdata[0][2][:16])
                self.stamps.setdefault(data, collections.deque()).append(sec + nsec / 1e9)
        stamps = self.stamps.get(packet[:MATCH_BYTES])
        if not stamps:
            return None
        stamp = stamps.popleft()
        if not stamps:
            del self.stamps[packet[:MATCH_BYTES]]
        if len(self.stamps) > MAX_STAMPS:
            self.sweep_stamps(stamp - STALE_STAMP_S)
        return stamp

    def sweep_stamps(self, before_s: float) -> None:
        """Record as lost the packets queued before before_s and never read: the TUN dropped
        them (its ring was full)."""
        for data, stamps in list(self.stamps.items()):
            while stamps and stamps[0] < before_s:
                self.record.append((data, stamps.popleft(), None, None))
            if not stamps:
                del self.stamps[data]

    def release_due(self) -> None:
        """Write every packet due within SPIN_S, spinning (and reading) until each is due."""
        while self.heap and self.heap[0][0] - time.time() <= SPIN_S:
            due_s = self.heap[0][0]
            while time.time() < due_s:
                self.drain()
            due_s, _, packet, queued_s = heapq.heappop(self.heap)
            self.release(packet, queued_s, due_s)

    def release(self, packet: bytes, queued_s: float | None, due_s: float | None) -> None:
        """Write packet back and record it. The time is read before the write, which delivers
        the packet on the spot: after it, a preempted delayer would record a later release."""
        released_s = time.time()
        os.write(self.fd, restore_ttl(packet))
        self.record.append((packet[:MATCH_BYTES], queued_s, due_s, released_s))

    def write_record(self, path: str) -> None:
        """Write and forget what was recorded since the last call; print "recorded"."""
        self.sweep_stamps(time.time() - STALE_STAMP_S)
        rows = [(data.hex(), queued, due, released) for data, queued, due, released in self.record]
        self.record.clear()
        with open(path, "w") as f:
            json.dump(rows, f)
        print("recorded", flush=True)

    def run(self) -> None:
        while True:
            timeout_s = None
            if self.heap:
                timeout_s = max(0.0, self.heap[0][0] - time.time() - SPIN_S)
            ready, _, _ = select.select([self.fd], [], [], timeout_s)
            if ready:
                self.drain()
            self.release_due()


def claim_realtime_priority() -> None:
    """SCHED_FIFO: under CFS a busy machine (two cores shared with the collector and other
    test runs) preempts the delayer for a whole 3-7 ms slice, releasing packets that late;
    a real-time delayer wakes within ~0.15 ms. Root only; RT throttling keeps spins bounded."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    except PermissionError:
        print("delayer: no real-time priority, delays may run late under load", file=sys.stderr)


def main(argv: list[str]) -> None:
    tun_name, config_path, record_path = argv
    claim_realtime_priority()
    fd = open_tun(tun_name)
    delayer = Delayer(fd, open_tap(tun_name), config_path, os.environ.get("LAB_SEED", "7"))
    signal.signal(signal.SIGHUP, delayer.reload)
    signal.signal(signal.SIGUSR1, lambda *_: delayer.write_record(record_path))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("ready", flush=True)
    delayer.run()


if __name__ == "__main__":
    main(sys.argv[1:])
