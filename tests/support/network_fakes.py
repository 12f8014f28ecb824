"""Network stand-ins for the SSRF tests: a resolver that answers what a test says, a TCP
listener that counts who connects, a server that answers every request with a redirect, and an
HTTPS server with its own certificate that records the TLS server name and Host it was sent.

All of them live on 127.0.0.1; a name the fake resolver answers is never looked up for real.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


class FakeDns:
    """socket.getaddrinfo for the names a test sets (in order, one answer list per name, or a
    list per lookup with `sequence`); every other name goes to the real resolver. core.ssrf
    resolves through socket.getaddrinfo, so both SSRF checks see these answers."""

    def __init__(self, real_getaddrinfo):
        self._real = real_getaddrinfo
        self._answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def answer(self, host: str, *addresses: str) -> None:
        """Every lookup of `host` gets `addresses` (none: the name does not resolve)."""
        self._answers[host] = [list(addresses)]

    def sequence(self, host: str, *answers: list[str]) -> None:
        """Lookup n of `host` gets answers[n] (the last one from then on): DNS rebinding."""
        self._answers[host] = [list(a) for a in answers]

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        name = (host.decode() if isinstance(host, bytes) else str(host)).lower().rstrip(".")
        if name not in self._answers:
            return self._real(host, port, family, type, proto, flags)
        self.lookups.append(name)
        answers = self._answers[name]
        addresses = answers.pop(0) if len(answers) > 1 else answers[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        port = int(port or 0)
        infos = []
        for address in addresses:
            if ":" in address:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port, 0, 0)))
            else:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)))
        return infos


def install_fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Put a FakeDns in place of socket.getaddrinfo until the test ends."""
    dns = FakeDns(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


class CountingListener:
    """A TCP listener on 127.0.0.1 that accepts, counts and closes every connection: a request
    that never reaches it was never sent."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self.port = self._sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


@contextmanager
def counting_listener() -> Iterator[CountingListener]:
    listener = CountingListener()
    try:
        yield listener
    finally:
        listener.close()


class _QuietHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:
        pass

    def _reply(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def _serving(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def redirector(location: str) -> Iterator[str]:
    """An upstream on 127.0.0.1 that answers every request `302 Location: location`; yields its
    base URL (`http://127.0.0.1:PORT/v1`)."""

    class Handler(_QuietHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self._reply(302, {"Location": location, "Content-Type": "text/plain"}, b"moved")

        do_GET = do_POST

    with _serving(ThreadingHTTPServer(("127.0.0.1", 0), Handler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"


class TlsServer:
    """An HTTPS server on 127.0.0.1 with a certificate for `hostname`; records the TLS server
    name (SNI) and the Host header of each request, answers `{"ok": true}`. `client_context`
    trusts its certificate."""

    def __init__(self, *, hostname: str, directory: Path) -> None:
        cert_file, key_file = _self_signed(hostname, directory)
        self.server_names: list[str | None] = []
        self.hosts: list[str] = []
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(cert_file, key_file)
        server_context.sni_callback = self._sni
        self.client_context = ssl.create_default_context(cafile=str(cert_file))
        owner = self

        class Handler(_QuietHandler):
            def do_GET(self) -> None:
                owner.hosts.append(self.headers.get("Host", ""))
                self._reply(200, {"Content-Type": "application/json"}, b'{"ok": true}')

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = server_context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]

    def _sni(self, _ssl_socket, server_name, _context) -> None:
        self.server_names.append(server_name)

    @contextmanager
    def running(self) -> Iterator[TlsServer]:
        with _serving(self._server):
            yield self


def _self_signed(hostname: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file
