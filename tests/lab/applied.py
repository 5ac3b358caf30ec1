"""The delay the lab really applied to each exchange, from the delayer's record (delayer.py).

An exchange is an ICMP echo request and its reply, or a TCP SYN and its SYN-ACK: what one icmp or
tcp sample of the collector spans. Its applied delay is the request's hold (queued to released,
less the base hold) plus how much longer than usual its reply took to pass the delayer. When the
delayer runs on time that is the configured delay; when its vCPU was descheduled it is more,
and the collector, timing with kernel stamps, rightly reports more. The lab's overhead (measured
on a 0 ms target) already holds the base hold and the usual pass time.

Exchanges whose request was sent more than once (a lost SYN resent) are left out, as the
collector leaves out their samples; so are the rare ones whose queue time the tap missed.
"""
from __future__ import annotations

import json
import socket
import statistics
import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from tests.lab.delayer import BASE_HOLD_S

ICMP, TCP = 1, 6
ECHO_REQUEST, ECHO_REPLY = 8, 0
SYN, SYN_ACK = 0x02, 0x12


@dataclass(frozen=True, slots=True)
class Copy:
    """One packet as the delayer handled it (times in unix seconds)."""

    key: tuple  # (probe, target address, exchange id): the same for a request and its reply
    request: bool
    queued_s: float | None  # None: the tap missed it, so its hold is not known
    released_s: float | None  # None: the delayer dropped it (injected loss)


@dataclass(frozen=True, slots=True)
class Applied:
    """Per (target address, probe): the applied delay in ms of each clean exchange, in the
    order the requests were queued."""

    delays_ms: dict[tuple[str, str], list[float]]

    def median_ms(self, address: str, probe: str) -> float | None:
        """The median applied delay of address's probe exchanges (None if there were none)."""
        delays = self.delays_ms.get((address, probe))
        return statistics.median(delays) if delays else None


def read_applied(path: Path) -> Applied:
    """The applied delays from a record the delayer wrote (see delayer.write_record)."""
    copies = [c for c in (classify(bytes.fromhex(data), queued, released)
                          for data, queued, _due, released in json.loads(path.read_text())) if c]
    return applied_delays(copies)


def classify(packet: bytes, queued_s: float, released_s: float | None) -> Copy | None:
    """The exchange a packet belongs to: echo requests/replies by (id, seq), SYNs/SYN-ACKs by
    the collector's port; None for any other packet."""
    header = (packet[0] & 0x0F) * 4
    proto, source, dest = packet[9], socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20])
    body = packet[header:]
    if proto == ICMP and len(body) >= 8 and body[0] in (ECHO_REQUEST, ECHO_REPLY):
        request = body[0] == ECHO_REQUEST
        target = dest if request else source
        return Copy(("icmp", target, body[4:8]), request, queued_s, released_s)
    if proto == TCP and len(body) >= 14 and body[13] in (SYN, SYN_ACK):
        request = body[13] == SYN
        source_port, dest_port = struct.unpack_from("!HH", body)
        target, port = (dest, source_port) if request else (source, dest_port)
        return Copy(("tcp", target, port), request, queued_s, released_s)
    return None


def applied_delays(copies: list[Copy]) -> Applied:
    """Pair each request held once with its reply; the applied delay in ms is the request's
    hold less BASE_HOLD_S, plus the reply's pass time beyond the median pass of all replies."""
    requests, replies = defaultdict(list), {}
    for copy in copies:
        if copy.request:
            requests[copy.key].append(copy)
        elif copy.released_s is not None and copy.queued_s is not None:
            replies.setdefault(copy.key, copy)
    if not replies:
        return Applied({})
    usual_pass_s = statistics.median(r.released_s - r.queued_s for r in replies.values())
    delays: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for key, sent in requests.items():
        reply = replies.get(key)
        if len(sent) != 1 or None in (sent[0].queued_s, sent[0].released_s) or reply is None:
            continue
        hold_s = sent[0].released_s - sent[0].queued_s - BASE_HOLD_S
        late_pass_s = reply.released_s - reply.queued_s - usual_pass_s
        delays[(key[1], key[0])].append((sent[0].queued_s, (hold_s + late_pass_s) * 1e3))
    return Applied({k: [ms for _, ms in sorted(v)] for k, v in delays.items()})
