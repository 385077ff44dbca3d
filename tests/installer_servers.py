"""Test helpers for the installer: loopback HTTP(S) servers, a CONNECT/forward proxy, a throwaway CA, and
builders for real (and deliberately malicious) ngrok archives."""

from __future__ import annotations

import collections
import dataclasses
import gzip
import http.server
import io
import os
import select
import socket
import socketserver
import ssl
import stat
import subprocess
import tarfile
import threading
import time
import warnings
import zipfile
from typing import Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

# How often serve_forever() looks for shutdown(): its default (0.5 s) made each server's close() cost that much.
POLL_SECONDS = 0.02

# --- The fake agent -----------------------------------------------------------------------------------


def fake_ngrok(version: str = "3.99.0", exit_code: int = 0, padding: bytes = b"") -> bytes:
    """A small executable ``ngrok``: a shell script answering ``version``. ``padding`` follows an ``exit``
    line, so the shell never reads it; it only makes the file bigger."""
    script = (
        "#!/bin/sh\n"
        'case "$1" in\n'
        f'  version|--version) echo "ngrok version {version}"; exit {exit_code};;\n'
        "esac\n"
        'echo "fake ngrok: $*"\n'
        "exit 0\n"
    )
    return script.encode() + padding


# --- Archive builders ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    """One archive member: ``kind`` is file, dir, symlink, hardlink or device."""

    name: str
    data: bytes = b""
    kind: str = "file"
    target: str = ""
    mode: int = 0o755


def tgz_bytes(entries: List[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.GNU_FORMAT) as archive:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.mode = entry.mode
            info.mtime = int(time.time())
            if entry.kind == "file":
                info.size = len(entry.data)
                archive.addfile(info, io.BytesIO(entry.data))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE,
                "symlink": tarfile.SYMTYPE,
                "hardlink": tarfile.LNKTYPE,
                "device": tarfile.CHRTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[entry.kind]
            info.linkname = entry.target
            if entry.kind == "device":
                info.devmajor, info.devminor = 1, 3  # /dev/null's numbers
            archive.addfile(info)
    return buffer.getvalue()


def tgz_with_declared_size(name: str, declared: int) -> bytes:
    """A .tgz whose one member's header claims ``declared`` bytes but holds almost none: a cheap bomb."""
    info = tarfile.TarInfo(name)
    info.size = declared
    info.mode = 0o755
    header = info.tobuf(tarfile.GNU_FORMAT, "utf-8", "surrogateescape")
    return gzip.compress(header + b"\0" * 4096)


def zip_bytes(entries: List[Entry]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry in entries:
            info = zipfile.ZipInfo(entry.name, date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3  # unix, so external_attr carries the mode bits
            info.compress_type = zipfile.ZIP_DEFLATED
            file_type = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK, "device": stat.S_IFCHR}
            info.external_attr = (file_type[entry.kind] | entry.mode) << 16
            with warnings.catch_warnings():  # a repeated name is deliberate in some malicious archives
                warnings.simplefilter("ignore")
                archive.writestr(info, entry.target.encode() if entry.kind == "symlink" else entry.data)
    return buffer.getvalue()


def zip_with_declared_size(name: str, data: bytes, declared: int) -> bytes:
    """A .zip whose member's headers (local and central) claim ``declared`` uncompressed bytes."""
    raw = bytearray(zip_bytes([Entry(name, data)]))
    size = declared.to_bytes(4, "little")
    local = raw.find(b"PK\x03\x04")
    central = raw.find(b"PK\x01\x02")
    raw[local + 22 : local + 26] = size
    raw[central + 24 : central + 28] = size
    return bytes(raw)


# --- A throwaway CA and a server certificate for 127.0.0.1 / localhost -------------------------------


@dataclasses.dataclass
class LoopbackCA:
    ca_file: str
    cert_file: str
    key_file: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


def make_ca(directory: str) -> LoopbackCA:
    """Make a CA and a server certificate signed by it with the openssl CLI."""

    def path(name: str) -> str:
        return os.path.join(directory, name)

    with open(path("server.ext"), "w", encoding="ascii") as ext:
        ext.write(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid,issuer\n"
        )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_options = ["-days", "2", "-subj", "/CN=pyngrok test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
    ca_options += ["-addext", "keyUsage=critical,keyCertSign,cRLSign", "-addext", "subjectKeyIdentifier=hash"]
    signing = ["-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path("server.pem")]
    commands = [
        ["openssl", "req", "-x509", *ec, "-keyout", path("ca.key"), "-out", path("ca.pem"), *ca_options],
        ["openssl", "req", *ec, "-keyout", path("server.key"), "-out", path("server.csr"), "-subj", "/CN=localhost"],
        ["openssl", "x509", "-req", "-in", path("server.csr"), *signing, "-days", "2", "-extfile", path("server.ext")],
    ]
    for command in commands:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return LoopbackCA(path("ca.pem"), path("server.pem"), path("server.key"))


# --- The archive server -------------------------------------------------------------------------------


@dataclasses.dataclass
class Route:
    """What a path serves. ``kind``: file, status, redirect, truncate, stall, flaky, slow, no_length."""

    kind: str = "file"
    body: bytes = b""
    status: int = 200
    location: str = ""
    failures: int = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: ArchiveHTTPServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        self.server.owner.record(path)
        route = self.server.owner.routes.get(path)
        if route is None:
            self.send_error(404)
            return
        getattr(self, f"_serve_{route.kind}")(route, self.server.owner.hits[path])

    def _headers(self, status: int, length: Optional[int]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _serve_file(self, route: Route, hit: int) -> None:
        self._headers(200, len(route.body))
        self.wfile.write(route.body)

    def _serve_no_length(self, route: Route, hit: int) -> None:
        self._headers(200, None)
        self.wfile.write(route.body)

    def _serve_status(self, route: Route, hit: int) -> None:
        self.send_error(route.status)

    def _serve_redirect(self, route: Route, hit: int) -> None:
        self.send_response(route.status if route.status != 200 else 302)
        self.send_header("Location", route.location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _serve_truncate(self, route: Route, hit: int) -> None:
        self._headers(200, len(route.body))
        self.wfile.write(route.body[: len(route.body) // 2])
        self.close_connection = True

    def _serve_stall(self, route: Route, hit: int) -> None:
        self._headers(200, len(route.body))
        self.wfile.write(route.body[:1024])
        self.wfile.flush()
        self.server.owner.stopping.wait(30)

    def _serve_flaky(self, route: Route, hit: int) -> None:
        if hit <= route.failures:
            self.send_error(503 if hit % 2 else 500)
        else:
            self._serve_file(route, hit)

    def _serve_slow(self, route: Route, hit: int) -> None:
        self._headers(200, len(route.body))
        step = max(1, len(route.body) // 10)
        for start in range(0, len(route.body), step):
            self.wfile.write(route.body[start : start + step])
            self.wfile.flush()
            time.sleep(0.06)


class ArchiveHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, owner: ArchiveServer, tls: Optional[ssl.SSLContext]) -> None:
        self.owner = owner
        self.tls = tls
        super().__init__(("127.0.0.1", 0), _Handler)

    def finish_request(self, request: socket.socket, client_address: Tuple[str, int]) -> None:  # type: ignore[override]
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        try:
            tls_request = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client refused our certificate: that is what some tests expect
        with tls_request:  # the server only closes the plain socket, which the wrapper took over
            super().finish_request(tls_request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hung up on a stall or a truncated body is expected


class ArchiveServer:
    """A real HTTP or HTTPS server on loopback, serving ``routes`` and counting ``hits`` per path."""

    def __init__(self, tls: Optional[ssl.SSLContext] = None) -> None:
        self.routes: Dict[str, Route] = {}
        self.hits: Dict[str, int] = collections.Counter()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = ArchiveHTTPServer(self, tls)
        self.scheme = "https" if tls else "http"
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_SECONDS,), daemon=True)
        self._thread.start()

    def record(self, path: str) -> None:
        with self._lock:
            self.hits[path] += 1

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()


# --- A tiny CONNECT / forward proxy -------------------------------------------------------------------


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    sockets = [source, sink]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (sink if sock is source else source).sendall(data)


class _ProxyHandler(socketserver.StreamRequestHandler):
    server: ProxyTCPServer

    def handle(self) -> None:
        request_line = self.rfile.readline().decode("latin-1").strip()
        headers = self._read_headers()
        self.server.owner.requests.append(request_line)
        method, target, _version = request_line.split(" ", 2)
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=10) as upstream:
                self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
                self.wfile.flush()
                _pipe(self.connection, upstream)
            return
        self._forward(method, target, headers)

    def _read_headers(self) -> List[str]:
        headers = []
        for raw in iter(self.rfile.readline, b""):
            line = raw.decode("latin-1").rstrip("\r\n")
            if not line:
                break
            headers.append(line)
        return headers

    def _forward(self, method: str, target: str, headers: List[str]) -> None:
        url = urlsplit(target)
        kept = [h for h in headers if not h.lower().startswith(("proxy-", "connection:"))]
        head = (
            f"{method} {url.path or '/'} HTTP/1.0\r\n" + "".join(f"{h}\r\n" for h in kept) + "Connection: close\r\n\r\n"
        )
        with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=10) as upstream:
            upstream.sendall(head.encode("latin-1"))
            for chunk in iter(lambda: upstream.recv(65536), b""):
                self.wfile.write(chunk)


class ProxyTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: TinyProxy) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        pass


class TinyProxy:
    """An HTTP proxy on loopback: CONNECT tunnels for https, absolute-URI forwarding for http."""

    def __init__(self) -> None:
        self.requests: List[str] = []
        self._server = ProxyTCPServer(self)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(POLL_SECONDS,), daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def listing(directory: str) -> List[str]:
    return sorted(os.listdir(directory))


def iter_files(directory: str) -> Iterator[str]:
    for root, _dirs, files in os.walk(directory):
        for name in files:
            yield os.path.join(root, name)
