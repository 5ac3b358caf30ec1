"""The HTTP server under the proxy: uvicorn's httptools protocol with the two deadlines it lacks.

- Headers: a connection gets header_timeout_s from its first byte (or from connecting) to send
  a request's whole header block, else it is closed. Without it a client that sends half its
  headers holds a connection for ever.
- Stalls: a client that takes nothing from a paused response for stall_timeout_s is dropped,
  which ends whatever was feeding it (an export, a big file) and frees its slot.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


@dataclass(frozen=True, slots=True)
class Deadlines:
    header_timeout_s: float = 10.0
    stall_timeout_s: float = 30.0


class DeadlineProtocol(HttpToolsProtocol):
    deadlines = Deadlines()  # replaced per server by protocol_for()

    def connection_made(self, transport: asyncio.Transport) -> None:
        self._header_timer: asyncio.TimerHandle | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.deadlines.header_timeout_s,
                                                      self.transport.close)

    def _disarm(self, name: str) -> None:
        timer = getattr(self, name)
        if timer is not None:
            timer.cancel()
            setattr(self, name, None)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._disarm("_header_timer")
        super().on_headers_complete()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._stall_timer is None:
            self._stall_timer = self.loop.call_later(self.deadlines.stall_timeout_s,
                                                     self.transport.abort)

    def resume_writing(self) -> None:
        self._disarm("_stall_timer")
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm("_header_timer")
        self._disarm("_stall_timer")
        super().connection_lost(exc)


def protocol_for(deadlines: Deadlines) -> type[DeadlineProtocol]:
    return type("DeadlineProtocol", (DeadlineProtocol,), {"deadlines": deadlines})


def run(app, host: str, port: int, deadlines: Deadlines, access_log: bool = False) -> None:
    """Serve app on host:port until SIGTERM or SIGINT."""
    uvicorn.run(app, host=host, port=port, loop="uvloop", http=protocol_for(deadlines),
                access_log=access_log, log_level="warning", server_header=False,
                proxy_headers=False)  # Fly-Client-IP is read only when trusted (proxy/limits.py)
