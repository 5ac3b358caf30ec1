"""How a round probes: sample counts, spacing, timeouts and limits shared by every probe."""
from __future__ import annotations

from dataclasses import dataclass



@dataclass(frozen=True, slots=True)
class ProbeOptions:
    """Defaults follow SmokePing's 20 pings per round for icmp and a few connects for tcp.

    timeout_s bounds one sample (one echo, one connect, one handshake, one request, one query,
    one whole trace); spaced samples start interval_s apart and run concurrently, so a probe
    lasts at most (samples - 1) * interval_s + timeout_s.
    """

    icmp_samples: int = 20
    tcp_samples: int = 3
    interval_s: float = 0.25
    timeout_s: float = 2.0
    max_hops: int = 30
    concurrency: int = 1024  # probes in flight: 170 targets x 6 probes in one wave
    probes: tuple[str, ...] | None = None  # None: each target's own list
    dns_server: str | None = None  # "IP" or "IP:PORT"; None: the first nameserver of resolv.conf
    ca_file: str | None = None  # extra trust anchors for tls/http (tests, private CAs)

    def samples_for(self, probe: str) -> int:
        return {"icmp": self.icmp_samples, "tcp": self.tcp_samples}.get(probe, 1)

    def budget_s(self, probe: str) -> float:
        """The longest a probe may take once its host is resolved."""
        return (self.samples_for(probe) - 1) * self.interval_s + self.timeout_s
