"""Real servers on 127.0.0.1 for the probe tests, each run as its own process.

`python -m tests.collect.loopback_servers [--host ADDRESS] KIND [options]` binds port 0 on
127.0.0.1 (or ADDRESS: 0.0.0.0 in a lab namespace), prints the port on the first stdout line
and serves until killed:
  tcp                        accept and close
  silent                     accept and never answer (handshakes and requests time out)
  tls CERT KEY               TLS handshake, then close
  http DELAY_MS STATUS [CERT KEY]   answer any request after DELAY_MS, with STATUS
  dns DELAY_MS NAME ADDR...  UDP: A records ADDR... for NAME after DELAY_MS, NXDOMAIN otherwise
  dropdns                    UDP: read queries, never answer
serving(kind, *args) runs one and yields its port; make_certificates() writes a CA and a
localhost/127.0.0.1 (and any other address given) leaf signed by it.
"""
from __future__ import annotations

import asyncio
import datetime
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset

LOCALHOST = "127.0.0.1"


@contextmanager
def serving(kind: str, *args: str, netns=None) -> Iterator[int]:
    """Run one server process; yields its port and stops it afterwards. With netns (a
    tests.lab.netns.Netns), it runs there and listens on all of that namespace's addresses."""
    cmd = [sys.executable, "-m", "tests.collect.loopback_servers", kind, *args]
    if netns is not None:
        cmd = netns.argv(cmd[:3] + ["--host", "0.0.0.0"] + cmd[3:])  # `ip netns exec` execs in place
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    try:
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        yield int(line)
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


@dataclass(frozen=True, slots=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path
    not_after: datetime.datetime
    issuer: str


def make_certificates(folder: Path, addresses: tuple[str, ...] = ()) -> Certificates:
    """A CA and a leaf for localhost, 127.0.0.1 and addresses, valid until a whole second 30
    days on."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    not_after = now + datetime.timedelta(days=30)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "NetTrace Tests"),
                         x509.NameAttribute(NameOID.COMMON_NAME, "NetTrace Test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=90))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")] + [
                x509.IPAddress(ipaddress.IPv4Address(a)) for a in (LOCALHOST, *addresses)]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    paths = Certificates(folder / "ca.pem", folder / "leaf.pem", folder / "leaf.key", not_after,
                         ca_name.rfc4514_string())
    paths.ca_file.write_bytes(ca.public_bytes(pem))
    paths.cert_file.write_bytes(leaf.public_bytes(pem))
    paths.key_file.write_bytes(leaf_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    return paths


def _server_context(cert: str, key: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


async def _tcp(reader, writer) -> None:
    writer.close()


async def _silent(reader, writer) -> None:
    await asyncio.sleep(3600)


def _http(delay_ms: float, status: int):
    async def handle(reader, writer) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(delay_ms / 1000)
        writer.write(f"HTTP/1.1 {status} Test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    return handle


class _Dns(asyncio.DatagramProtocol):
    def __init__(self, delay_ms: float, name: str, addresses: list[str]) -> None:
        self.delay_s, self.name, self.addresses = delay_ms / 1000, name.rstrip(".") + ".", addresses
        self._answer_to(dns.message.make_query(self.name, "A"))  # load dnspython's lazy modules now

    def _answer_to(self, query: dns.message.Message) -> bytes:
        response = dns.message.make_response(query)
        question = query.question[0]
        if question.name.to_text() == self.name:
            response.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", "A", self.addresses))
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response.to_wire()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, peer) -> None:
        asyncio.get_running_loop().call_later(self.delay_s, self._answer, data, peer)

    def _answer(self, data: bytes, peer) -> None:
        self.transport.sendto(self._answer_to(dns.message.from_wire(data)), peer)


async def _serve(kind: str, args: list[str], host: str) -> None:
    loop = asyncio.get_running_loop()
    if kind in ("dns", "dropdns"):
        protocol = (lambda: _Dns(float(args[0]), args[1], args[2:])) if kind == "dns" else asyncio.DatagramProtocol
        transport, _ = await loop.create_datagram_endpoint(protocol, local_addr=(host, 0))
        port = transport.get_extra_info("sockname")[1]
    else:
        handler, context = {"tcp": (_tcp, None), "silent": (_silent, None)}.get(kind, (None, None))
        if kind == "tls":
            handler, context = _tcp, _server_context(args[0], args[1])
        elif kind == "http":
            handler = _http(float(args[0]), int(args[1]))
            context = _server_context(args[2], args[3]) if len(args) == 4 else None
        server = await asyncio.start_server(handler, host, 0, ssl=context, backlog=1024)
        port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    host, argv = LOCALHOST, sys.argv[1:]
    if argv[0] == "--host":
        host, argv = argv[1], argv[2:]
    asyncio.run(_serve(argv[0], argv[1:], host))
