"""The deadlines uvicorn's httptools protocol lacks, for both HTTP servers on central (ingest
and the keyed proxy).

- Request: a connection gets header_timeout_s from connecting (or from a keep-alive request's
  first byte) to send the request's headers, and as long again to finish a body it is still
  sending after its answer (a refused push's body, which uvicorn reads and discards so the
  client gets the answer rather than a reset), else it is closed. Without it, half-sent
  headers or a trickled body hold a connection for ever (slowloris).
- Stall: a client that takes nothing of a paused answer for stall_timeout_s is dropped, which
  ends whatever was feeding it (an export, a big file) and frees its slot.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class Deadlines:
    header_timeout_s: float = 10.0
    stall_timeout_s: float = 30.0


class DeadlineProtocol(HttpToolsProtocol):
    deadlines = Deadlines()  # replaced per server by protocol_for()

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._request_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_request_timer()

    def _arm_request_timer(self) -> None:
        if self._request_timer is None:
            self._request_timer = self.loop.call_later(self.deadlines.header_timeout_s,
                                                       self.transport.close)

    def _disarm(self, name: str) -> None:
        timer = getattr(self, name)
        if timer is not None:
            timer.cancel()
            setattr(self, name, None)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_request_timer()

    def on_headers_complete(self) -> None:
        self._disarm("_request_timer")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm("_request_timer")  # a body still arriving after the answer ended in time
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.cycle is not None and self.cycle.more_body:  # answered before its body ended
            self._arm_request_timer()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.deadlines.stall_timeout_s,
                                                     self.transport.abort)

    def resume_writing(self) -> None:
        self._disarm("_stall_timer")
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm("_request_timer")
        self._disarm("_stall_timer")
        super().connection_lost(exc)


def protocol_for(deadlines: Deadlines) -> type[DeadlineProtocol]:
    """The `http` protocol class for uvicorn.Config."""
    return type("DeadlineProtocol", (DeadlineProtocol,), {"deadlines": deadlines})
