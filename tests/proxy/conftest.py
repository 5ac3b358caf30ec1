"""Fixtures of the proxy tests: a fixture build output, fresh keys, real server processes.

One server per test module (starting one costs about a second); each test takes fresh keys,
so quotas never leak between tests.
"""
from __future__ import annotations

import pytest

from db.connection import connect
from tests.proxy.support import ProxyProcess, new_key, write_site
from tests.proxy.webhook_support import LOCAL_SERVER_ARGS, add_categories


def _site(folder):
    public, private = write_site(folder)
    db = folder / "central.sqlite"
    connect(db).close()
    return public, private, db


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return _site(tmp_path_factory.mktemp("site"))


@pytest.fixture
def keys(site):
    return {tier: new_key(site[2], tier) for tier in ("free", "pro", "enterprise")}


@pytest.fixture(scope="module")
def server(site):
    proc = ProxyProcess(*site).start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def webhook_server(site):
    """A server that delivers webhooks to loopback, quickly retried (one per test module)."""
    add_categories(site[0])
    proc = ProxyProcess(*site, args=LOCAL_SERVER_ARGS).start()
    yield proc
    proc.stop()


@pytest.fixture
def own_site(tmp_path):
    return _site(tmp_path)


@pytest.fixture
def clocked(own_site, tmp_path):
    """A server of its own whose clock the test sets by writing unix seconds to clock_file."""
    proc = ProxyProcess(*own_site, clock_file=tmp_path / "clock").start()
    yield proc
    proc.stop()
