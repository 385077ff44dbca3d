"""Helpers for driving pyngrok with the real ngrok 2.3.41 agent against the loopback tunnel server.

Used by tests/test_real_agent.py and tests/demo.py.  Everything here is loopback-only and stdlib-only:

- ``write_agent_config``: the single v2 config file pyngrok hands the agent (``--config``), pointing it at a
  ``TunnelServer`` (``server_addr`` + ``root_cas``).
- ``fetch``: one HTTP(S) request with ``http.client`` (no environment proxy can get in the way), trusting
  only the tunnel server's CA.
- ``echo_round_trip``: bytes through a tcp/tls tunnel; reads the whole echo before closing, because the
  2.3.41 agent ends the joined connection as soon as either side half-closes.
- ``TLSEchoServer``: a local TLS service, for proving that a ``tls`` tunnel is passthrough end to end.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import threading
from typing import Dict, List, Optional, Tuple
from urllib.parse import urlsplit


def write_agent_config(
    path: str, server_addr: str, ca_path: str, web_port: Optional[int] = None, extra: str = ""
) -> str:
    """Write a v2 agent config that points the agent at our tunnel server; return ``path``.

    ``web_port=None`` leaves ``web_addr`` out, so the agent uses its default (127.0.0.1:4040, or the next
    free port when that one is taken).  ``extra`` is appended verbatim (e.g. a ``tunnels:`` block).
    """
    lines = [
        f"server_addr: {json.dumps(server_addr)}",
        f"root_cas: {json.dumps(os.path.abspath(ca_path))}",
        "update_check: false",
        "console_ui: false",
    ]
    if web_port is not None:
        lines.append(f"web_addr: {json.dumps(f'127.0.0.1:{web_port}')}")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n" + extra)
    return path


def public_port(public_url: str) -> int:
    """The port of a public URL such as ``https://127.0.0.1:40123`` or ``tcp://127.0.0.1:40123``."""
    port = urlsplit(public_url).port
    if port is None:
        raise ValueError(f"no port in {public_url!r}")
    return port


def fetch(
    url: str,
    ca_path: Optional[str] = None,
    headers: Optional[Dict[str, str]] = None,
    method: str = "GET",
    body: Optional[bytes] = None,
    timeout: float = 10.0,
) -> Tuple[int, bytes]:
    """One request on a fresh connection: ``(status, body)``.  HTTPS trusts only ``ca_path``."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if parts.scheme == "https":
        context = ssl.create_default_context(cafile=ca_path)
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            host, port, timeout=timeout, context=context
        )
    elif parts.scheme == "http":
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
    else:
        raise ValueError(f"not an http(s) URL: {url!r}")
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def echo_round_trip(
    port: int,
    payload: bytes,
    context: Optional[ssl.SSLContext] = None,
    server_hostname: str = "127.0.0.1",
    timeout: float = 10.0,
) -> bytes:
    """Send ``payload`` to 127.0.0.1:``port`` (over TLS when ``context`` is given) and read the echo.

    Sending runs in a thread so that a payload larger than the socket buffers cannot deadlock, and the
    connection is closed only after the whole echo arrived (no half-close: see the module docstring).
    """
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock = context.wrap_socket(raw, server_hostname=server_hostname) if context is not None else raw
    errors: List[BaseException] = []

    def send() -> None:
        try:
            sock.sendall(payload)
        except OSError as exc:  # reported by the caller's length check
            errors.append(exc)

    with sock:
        if context is not None:  # an SSLSocket must not be read and written from two threads at once
            send()
        else:
            sender = threading.Thread(target=send, name="echo-sender", daemon=True)
            sender.start()
        received = bytearray()
        while len(received) < len(payload):
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        if context is None:
            sender.join(timeout)
    if errors and len(received) < len(payload):
        raise errors[0]
    return bytes(received)


class TLSEchoServer:
    """A loopback TLS server that echoes what it receives, with its own certificate.

    ``peers`` lists the TLS versions of the handshakes it completed, which shows the TLS session really
    ended here and not at some edge in between.
    """

    def __init__(self, cert_path: str, key_path: str) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert_path, key_path)
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self.port = int(self._listener.getsockname()[1])
        self.handshakes: List[str] = []
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()
        self._acceptor = threading.Thread(target=self._accept, name="tls-echo-accept", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), name="tls-echo", daemon=True)
            with self._lock:
                self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(15)
        try:
            with self._context.wrap_socket(conn, server_side=True) as tls:
                with self._lock:
                    self.handshakes.append(str(tls.version()))
                while True:
                    data = tls.recv(65536)
                    if not data:
                        return
                    tls.sendall(data)
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        self._acceptor.join(5)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)
