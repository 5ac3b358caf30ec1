"""Alerts that reach you, as one part of the proxy app: the webhook routes, the keyed Atom feed
and the delivery worker, started and stopped with the app."""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from starlette.routing import Route

from db.connection import connect
from proxy.access import Access
from proxy.delivery import DeliveryPolicy, DeliveryWorker
from proxy.feeds import Feeds
from proxy.files import FileCache
from proxy.webhook_store import Store
from proxy.webhooks import Catalog, Webhooks


class Alerts:
    def __init__(self, db_path: Path, public_dir: Path, pepper: bytes, policy: DeliveryPolicy,
                 access: Access, reader: sqlite3.Connection, clock: Callable[[], float]):
        self._db = Store(connect(db_path), connect(db_path, readonly=True))  # of their own
        db = self._db
        catalog = Catalog(public_dir, FileCache())
        self._worker = DeliveryWorker(db, pepper, catalog.hosts_of, policy, clock)
        webhooks = Webhooks(db, access, catalog, policy, self._worker, pepper, clock)
        feeds = Feeds(reader, access)
        self.routes: list[Route] = webhooks.routes() + [
            Route("/api/v1/feeds/signals.atom", feeds.signals, methods=["GET", "HEAD"])]

    def start(self) -> None:
        self._worker.start()

    async def stop(self) -> None:
        await self._worker.stop()
        self._db.close()
