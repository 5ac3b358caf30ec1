"""Test receiver for webhook deliveries: logs every request as a JSON line, then answers as told.

    python webhook_sink.py PORT LOG [--plan 500,hang,204] [--then 204] [--delay SECONDS]

The plan holds the answers to the first deliveries, in order (a status, or `hang`: answer
nothing for a minute); --then answers all after; --delay waits before each answer. A ping (sent
at registration) is logged and answered 204 without using the plan. Standard library only.
"""
from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HANG_S = 60.0


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("log")
    p.add_argument("--plan", default="")
    p.add_argument("--then", default="204")
    p.add_argument("--delay", type=float, default=0.0)
    args = p.parse_args()
    plan = [step for step in args.plan.split(",") if step]
    lock = threading.Lock()
    log = open(args.log, "a", encoding="utf-8")

    class Sink(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            ping = self.headers.get("X-NetTrace-Event") == "ping"
            with lock:
                step = "204" if ping else plan.pop(0) if plan else args.then
                log.write(json.dumps({"at": time.time(), "path": self.path, "body": body.decode(),
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
                          + "\n")
                log.flush()
            time.sleep(HANG_S if step == "hang" else args.delay)
            self.send_response(200 if step == "hang" else int(step))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Sink)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
