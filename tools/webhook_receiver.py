"""A NetTrace webhook receiver that checks each delivery's signature (the README's example).

    NETTRACE_WEBHOOK_SECRET=whsec_... python3 tools/webhook_receiver.py 8787

Prints one line per delivery: "verified" or "REJECTED", its X-NetTrace-Delivery id and event.
Standard library only: it shares no code with NetTrace, so it checks the signature independently.
"""
import hashlib, hmac, json, os, sys, time  # noqa: E401 - the example stays short
from http.server import BaseHTTPRequestHandler, HTTPServer

SECRET = os.environ["NETTRACE_WEBHOOK_SECRET"].encode()


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        sig = dict(part.split("=", 1) for part in self.headers["X-NetTrace-Signature"].split(","))
        mac = hmac.new(SECRET, sig["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(mac, sig["v1"]) and abs(time.time() - int(sig["t"])) < 300
        self.send_response(204 if ok else 401)
        self.end_headers()
        print("verified" if ok else "REJECTED", self.headers["X-NetTrace-Delivery"],
              json.loads(body).get("type"), flush=True)

    def log_message(self, *args):  # the line above says it all
        pass


HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 8787), Receiver).serve_forever()
