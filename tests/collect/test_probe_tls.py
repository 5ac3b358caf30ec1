"""tls probe against a real TLS server on loopback with a generated CA."""
from __future__ import annotations

import asyncio

import pytest

from collect.probes import ProbeOptions, tls
from collect.records import Target, iso_utc
from tests.collect.loopback_servers import make_certificates, serving

LOOPBACK_CEILING_MS = 500.0  # a sanity bound: an ECDSA handshake on a loaded machine


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def localhost(port: int) -> Target:
    return Target("localhost", "loopback", "CDN & DNS", port=port)


def test_trusted_certificate_gives_handshake_time_expiry_and_issuer(certs):
    with serving("tls", str(certs.cert_file), str(certs.key_file)) as port:
        m = asyncio.run(tls.probe(localhost(port), ProbeOptions(ca_file=str(certs.ca_file))))
    assert m.error is None and m.connect_ms is None
    assert 0 < m.samples_ms[0] < LOOPBACK_CEILING_MS
    assert m.cert_expires == iso_utc(certs.not_after.timestamp())
    assert m.cert_issuer == certs.issuer


def test_untrusted_certificate_is_timed_and_described_with_the_verify_error(certs):
    with serving("tls", str(certs.cert_file), str(certs.key_file)) as port:
        m = asyncio.run(tls.probe(localhost(port), ProbeOptions()))
    assert m.error.startswith("certificate: ")
    assert "issuer" in m.error
    assert m.samples_ms[0] is not None
    assert m.cert_expires == iso_utc(certs.not_after.timestamp())
    assert m.cert_issuer == certs.issuer


def test_server_that_never_answers_the_handshake_times_out_with_full_loss():
    with serving("silent") as port:
        m = asyncio.run(tls.probe(localhost(port), ProbeOptions(timeout_s=0.3)))
    assert m.samples_ms == (None,)
    assert m.error == "timeout"


def test_server_that_closes_instead_of_handshaking_is_a_failed_sample():
    with serving("tcp") as port:
        m = asyncio.run(tls.probe(localhost(port), ProbeOptions(timeout_s=1.0)))
    assert m.samples_ms == (None,)
    assert m.error and m.error != "timeout"


def test_a_certificate_that_does_not_parse_is_described_as_unknown_not_raised():
    assert tls.describe_certificate(b"\x30\x03not a certificate") == (None, None)
