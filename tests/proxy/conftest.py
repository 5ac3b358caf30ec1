"""Fixtures of the proxy tests: a fixture build output, a database with keys, a real server."""
from __future__ import annotations

import pytest

from collect.db import connect
from tests.proxy.support import ProxyProcess, new_key, write_site


@pytest.fixture
def site(tmp_path):
    public, private = write_site(tmp_path)
    db = tmp_path / "central.sqlite"
    connect(db).close()
    return public, private, db


@pytest.fixture
def keys(site):
    db = site[2]
    return {tier: new_key(db, tier) for tier in ("free", "pro", "enterprise")}


@pytest.fixture
def server(site):
    proc = ProxyProcess(*site).start()
    yield proc
    proc.stop()


@pytest.fixture
def clocked(site, tmp_path):
    """A server whose clock the test sets by writing unix seconds to server.clock_file."""
    proc = ProxyProcess(*site, clock_file=tmp_path / "clock").start()
    yield proc
    proc.stop()
