"""Webhooks never call into the network they run in: the SSRF corpus is refused at registration,
and the address is checked again on every connection, at the address connected to."""
from __future__ import annotations

import asyncio
import ipaddress
import socket

import httpx
import pytest

from proxy.ssrf import (TargetPolicy, UnsafeTarget, address_refusal, check_url, pinned_transport,
                        resolve_checked)
from tests.conftest import wait_for
from tests.proxy.support import ProxyProcess, new_key, write_site
from tests.proxy.webhook_support import (LOCAL_SERVER_ARGS, Sink, attempts, open_signal,
                                         register)

PRODUCTION = TargetPolicy()
LOCAL = TargetPolicy(allow_local=True)
CORPUS = [
    ("https://127.0.0.1/hook", "loopback"),
    ("https://127.255.0.9:8443/", "loopback"),
    ("https://[::1]/hook", "loopback"),
    ("https://localhost/hook", "resolves to 127.0.0.1, which is loopback"),
    ("https://169.254.169.254/latest/meta-data/", "link-local"),
    ("https://[fd00:ec2::254]/", "private"),
    ("https://100.100.100.200/", "not a public address"),
    ("https://10.0.0.1/", "private"),
    ("https://10.255.255.254:9000/x", "private"),
    ("https://172.16.3.4/", "private"),
    ("https://192.168.1.1/", "private"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://224.0.0.1/", "multicast"),
    ("https://[ff02::1]/", "multicast"),
    ("https://[fe80::1]/", "link-local"),
    ("https://[::ffff:127.0.0.1]/", "loopback (inside ::ffff:7f00:1)"),
    ("https://[::ffff:169.254.169.254]/", "link-local (inside"),
    ("https://[64:ff9b::a9fe:a9fe]/", "link-local (inside 64:ff9b::a9fe:a9fe)"),
    ("https://[2002:7f00:1::1]/", "loopback (inside 2002:7f00:1::1)"),
    ("https://2130706433/", "the address 127.0.0.1 written in a form that hides it"),
    ("https://0177.0.0.1/", "the address 127.0.0.1 written in a form that hides it"),
    ("https://0x7f.0.0.1/", "the address 127.0.0.1 written in a form that hides it"),
    ("https://127.1/", "the address 127.0.0.1 written in a form that hides it"),
    ("https://0xa9fea9fe/", "the address 169.254.169.254 written in a form that hides it"),
    ("https://012.0.0.1/", "the address 10.0.0.1 written in a form that hides it"),
    ("http://example.com/hook", "the URL must be https"),
    ("ftp://example.com/", "the URL must be https"),
    ("file:///etc/passwd", "the URL must be https"),
    ("https://user:pw@example.com/", "may not carry credentials"),
    ("https:///nohost", "the URL has no host"),
    ("https://nonexistent.invalid/", "nonexistent.invalid does not resolve"),
]


@pytest.mark.parametrize("url, why", CORPUS)
def test_the_ssrf_corpus_is_refused_at_registration(server, keys, url, why):
    r = register(server.url, keys["pro"], url)
    assert r.status_code == 400 and r.json()["error"] == "unsafe_url", r.text
    assert why in r.json()["detail"]


@pytest.mark.parametrize("url, why", [u for u in CORPUS if "loopback" not in u[1]
                                      and "must be https" not in u[1]])
def test_allowing_a_local_receiver_still_refuses_the_rest_of_the_corpus(url, why):
    with pytest.raises(UnsafeTarget) as refused:
        _, host, port = check_url(url, LOCAL)
        asyncio.run(resolve_checked(host, port, LOCAL))
    assert why in str(refused.value)


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "93.184.216.34"])
def test_public_addresses_are_allowed(address):
    assert address_refusal(ipaddress.ip_address(address), PRODUCTION) is None
    assert check_url(f"https://{address if ':' not in address else f'[{address}]'}/h",
                     PRODUCTION)[0] == "https"


def test_the_check_runs_on_every_connection_so_no_request_reaches_a_loopback_listener():
    """The transport a delivery uses resolves and checks the host itself when it connects, as a
    rebinding name would be resolved then: nothing reaches the listener."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.5)
    port = listener.getsockname()[1]

    async def send(url: str) -> None:
        async with httpx.AsyncClient(transport=pinned_transport(PRODUCTION, 4)) as client:
            await client.post(url, content=b"{}")
    try:
        for url in (f"https://localhost:{port}/", f"https://127.0.0.1:{port}/",
                    f"http://2130706433:{port}/"):
            with pytest.raises(UnsafeTarget):
                asyncio.run(send(url))
        with pytest.raises(socket.timeout):
            listener.accept()
    finally:
        listener.close()


def test_a_receiver_allowed_when_registered_is_refused_at_delivery_once_the_setting_is_off(
        tmp_path):
    public, private = write_site(tmp_path)
    db = tmp_path / "central.sqlite"
    sink = Sink(tmp_path / "sink.jsonl").start()
    proxy = ProxyProcess(public, private, db, args=LOCAL_SERVER_ARGS).start()
    try:
        key = new_key(db, "pro")
        url = f"https://localhost:{sink.port}/hook"
        hook = register(proxy.url, key, url).json()
        proxy.stop()
        proxy = ProxyProcess(public, private, db, args=("--webhook-first-retry", "0.2")).start()
        open_signal(db, "after-the-switch", 1_795_672_800)
        refused = wait_for(lambda: [a for a in attempts(proxy.url, key, hook["id"])
                                    if (a["error"] or "").startswith("refused")], 15,
                           "a refused attempt")
    finally:
        proxy.stop()
        sink.stop()
    assert refused[0]["error"] == "refused: localhost resolves to 127.0.0.1, which is loopback"
    assert sink.received() == []
