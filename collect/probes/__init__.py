"""One module per probe type, each `async def probe(target, opts) -> Measurement`; the PROBES
table dispatches by name (prometheus blackbox_exporter's prober/ layout)."""
from collect.probes import dns, http, icmp, tcp, tls, trace
from collect.probes.options import ProbeOptions

PROBES = {
    "icmp": icmp.probe,
    "tcp": tcp.probe,
    "tls": tls.probe,
    "http": http.probe,
    "dns": dns.probe,
    "trace": trace.probe,
}

__all__ = ["PROBES", "ProbeOptions"]
