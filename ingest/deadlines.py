"""uvicorn's httptools protocol with the two deadlines uvicorn lacks.

- The request head: a connection whose request line and headers are not complete
  header_timeout_s after it opened (or after the first byte of a keep-alive request) is
  closed, so half-sent headers cannot hold a connection (slowloris).
- A refused body: the server answers some pushes before reading their body (401, 503, 507);
  uvicorn then reads and discards the rest, which lets the client receive its answer instead
  of a reset. That discarding gets header_timeout_s too, then the connection closes, so a
  body trickled after its refusal cannot hold the connection either.
The keyed proxy has its own (proxy/server.py), with a stall deadline instead of the second.
"""
from __future__ import annotations

import asyncio
import functools

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class DeadlineProtocol(HttpToolsProtocol):
    def __init__(self, *args, header_timeout_s: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout_s = header_timeout_s
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()  # a refused body ended in time
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body:  # answered before the body ended
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.deadline is None:
            self.deadline = self.loop.call_later(self.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expire(self) -> None:
        self.deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def deadline_protocol(header_timeout_s: float) -> functools.partial:
    """The `http` protocol class for uvicorn.Config."""
    return functools.partial(DeadlineProtocol, header_timeout_s=header_timeout_s)
