"""http probe: time to first byte against servers that hold their answer for a known time."""
from __future__ import annotations

import asyncio
import time

import pytest

from collect.probes import ProbeOptions, http
from collect.records import Target
from tests.collect.loopback_servers import LOCALHOST, make_certificates, serving

# The server sleeps DELAY_MS after reading the request: TTFB can't be shorter, and on loopback
# it is only scheduling noise longer.
DELAY_MS = 150.0
SLACK_MS = 40.0  # two processes scheduled on a loaded CI machine


def target(url: str) -> Target:
    return Target("localhost", "loopback", "CDN & DNS", health_url=url)


def test_ttfb_matches_the_servers_known_delay_and_status_is_recorded():
    with serving("http", str(DELAY_MS), "204") as port:
        m = asyncio.run(http.probe(target(f"http://{LOCALHOST}:{port}/health?x=1"), ProbeOptions()))
    assert m.error is None
    assert m.status == 204
    assert DELAY_MS <= m.samples_ms[0] < DELAY_MS + SLACK_MS


def test_https_ttfb_excludes_the_handshake(tmp_path):
    certs = make_certificates(tmp_path)
    with serving("http", str(DELAY_MS), "200", str(certs.cert_file), str(certs.key_file)) as port:
        opts = ProbeOptions(ca_file=str(certs.ca_file))
        m = asyncio.run(http.probe(target(f"https://localhost:{port}/"), opts))
    assert m.error is None
    assert m.status == 200
    assert DELAY_MS <= m.samples_ms[0] < DELAY_MS + SLACK_MS


def test_untrusted_https_certificate_is_an_error_naming_the_verification(tmp_path):
    certs = make_certificates(tmp_path)
    with serving("http", "0", "200", str(certs.cert_file), str(certs.key_file)) as port:
        m = asyncio.run(http.probe(target(f"https://localhost:{port}/"), ProbeOptions()))
    assert m.samples_ms == (None,)
    assert m.error.startswith("certificate: ")


def test_server_error_status_is_timed_but_reported_as_error():
    with serving("http", "0", "503") as port:
        m = asyncio.run(http.probe(target(f"http://{LOCALHOST}:{port}/"), ProbeOptions()))
    assert m.status == 503
    assert m.error == "http status 503"
    assert m.samples_ms[0] is not None


def test_silent_server_times_out_within_the_timeout():
    with serving("silent") as port:
        m = asyncio.run(http.probe(target(f"http://{LOCALHOST}:{port}/"), ProbeOptions(timeout_s=0.3)))
    assert (m.samples_ms, m.error, m.status) == ((None,), "timeout", None)


@pytest.mark.parametrize(
    "host, port, url",
    [
        ("api.example.com", 443, "https://api.example.com/"),
        ("api.example.com", 8443, "https://api.example.com:8443/"),
    ],
)
def test_target_without_health_url_is_probed_at_its_root(host, port, url):
    assert http.health_url(Target(host, "x", "c", port=port)) == url


@pytest.mark.parametrize("line, status", [(b"HTTP/1.1 200 OK\r\n", 200), (b"HTTP/1.0 404\r\n", 404)])
def test_status_line_parses(line, status):
    assert http.parse_status(line) == status


@pytest.mark.parametrize("line", [b"SSH-2.0-OpenSSH\r\n", b"HTTP/1.1 abc\r\n", b"\r\n"])
def test_non_http_first_line_is_refused(line):
    with pytest.raises(http.BadResponse):
        http.parse_status(line)


def test_ttfb_comes_from_the_kernel_stamp_not_from_when_a_blocked_event_loop_wakes():
    block_s = 0.4

    async def probe_while_the_loop_is_blocked(port: int) -> tuple:
        async def hog() -> None:
            await asyncio.sleep(0.02)  # the request is out; the answer comes while we block
            time.sleep(block_s)  # a real stall, as 100 handshakes in one round would cause

        started = time.monotonic()
        url = f"http://{LOCALHOST}:{port}/"
        m, _ = await asyncio.gather(http.probe(target(url), ProbeOptions()), hog())
        return m, time.monotonic() - started

    with serving("http", str(DELAY_MS), "200") as port:
        m, wall_s = asyncio.run(probe_while_the_loop_is_blocked(port))
    # the answer arrived during the stall: it did not wait for the stall to end before sending
    assert block_s <= wall_s < block_s + DELAY_MS / 1000
    assert DELAY_MS <= m.samples_ms[0] < DELAY_MS + SLACK_MS
