"""Tests of the loopback ngrok v2 tunnel server (tests/tunnel_server.py).

The first group checks the pieces (frame codec, flow-control windows,
incremental JSON, the server driven by a tiny hand-written muxado client).
The second group runs the real ngrok 2.3.41 agent against the server and is
skipped, with the reason, when the binary cannot be fetched.
"""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import os
import socket
import ssl
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

import tunnel_server as ts
from helpers import EchoServer, LoopbackServer, echo_round_trip, free_port, http_request

# ---------------------------------------------------------------------------
# frame codec
# ---------------------------------------------------------------------------


def test_frame_header_layout() -> None:
    raw = ts.data_frame(3, b"abc", fin=True, syn=True)
    assert raw == bytes([0, 0, 3, 0x13, 0, 0, 0, 3]) + b"abc"
    assert ts.rst_frame(5, ts.ERR_FLOW_CONTROL) == bytes([0, 0, 4, 0x00, 0, 0, 0, 5, 0, 0, 0, 3])
    assert ts.wndinc_frame(7, 0x40000) == bytes([0, 0, 4, 0x20, 0, 0, 0, 7, 0, 4, 0, 0])
    goaway = ts.goaway_frame(9, ts.ERR_NO_ERROR, b"no error")
    assert goaway[:8] == bytes([0, 0, 16, 0x30, 0, 0, 0, 0])
    assert ts.parse_goaway(goaway[8:]) == (9, 0, b"no error")


def test_frame_round_trip_byte_by_byte() -> None:
    frames = [
        ts.Frame(ts.TYPE_DATA, ts.FLAG_SYN, 3, struct.pack(">I", ts.STREAM_HEARTBEAT)),
        ts.Frame(ts.TYPE_DATA, 0, 3, b"x" * 20000),
        ts.Frame(ts.TYPE_DATA, ts.FLAG_FIN, 3, b""),
        ts.Frame(ts.TYPE_WNDINC, 0, 2, struct.pack(">I", 1234)),
        ts.Frame(ts.TYPE_RST, 0, 4, struct.pack(">I", ts.ERR_STREAM_CLOSED)),
        ts.Frame(9, 0x5, 11, b"unknown type, body must still be consumed"),
        ts.Frame(ts.TYPE_GOAWAY, 0, 0, struct.pack(">II", 7, 0) + b"bye"),
    ]
    wire = b"".join(ts.encode_frame(*f) for f in frames)
    decoder = ts.FrameDecoder()
    decoded: List[ts.Frame] = []
    for i in range(len(wire)):
        decoded.extend(decoder.feed(wire[i : i + 1]))
    assert decoded == frames
    assert decoder.buffered == 0
    assert decoded[0].syn and not decoded[0].fin and decoded[2].fin
    # all at once, plus a partial frame left over
    decoder = ts.FrameDecoder()
    assert decoder.feed(wire + wire[:5]) == frames
    assert decoder.buffered == 5


def test_frame_codec_edges() -> None:
    decoder = ts.FrameDecoder()
    # the reserved top bit of the stream id is masked off
    (frame,) = decoder.feed(struct.pack(">II", (0 << 8) | 0x11, 0x80000003))
    assert frame == ts.Frame(ts.TYPE_DATA, ts.FLAG_FIN, 3, b"")
    with pytest.raises(ValueError):
        ts.encode_frame(ts.TYPE_DATA, 0, 1, b"x" * (ts.MAX_FRAME_PAYLOAD + 1))
    with pytest.raises(ValueError):
        ts.wndinc_frame(1, 0)
    with pytest.raises(ValueError):
        ts.parse_u32(b"\x00\x01")


# ---------------------------------------------------------------------------
# flow control
# ---------------------------------------------------------------------------


class FakeSession:
    """Stands in for Session: records the frames a Stream sends."""

    def __init__(self) -> None:
        self.sent: List[ts.Frame] = []
        self.forgotten: List[int] = []
        self._lock = threading.Lock()

    def _send_frame(self, raw: bytes, block: bool = True) -> None:
        with self._lock:
            self.sent.extend(ts.FrameDecoder().feed(raw))

    def _forget(self, stream: ts.Stream) -> None:
        self.forgotten.append(stream.id)

    def take(self) -> List[ts.Frame]:
        with self._lock:
            sent, self.sent = self.sent, []
        return sent


def test_receive_window_accounting() -> None:
    session = FakeSession()
    stream = ts.Stream(session, 3)
    assert stream.recv_window == ts.DEFAULT_WINDOW == 256 * 1024
    stream._on_data(b"a" * 100000, fin=False)
    stream._on_data(b"b" * 100000, fin=False)
    assert stream.recv_window == ts.DEFAULT_WINDOW - 200000
    assert session.take() == []  # nothing credited before the application reads
    data = stream.recv(150000)
    assert data == b"a" * 100000 + b"b" * 50000
    assert stream.recv_window == ts.DEFAULT_WINDOW - 50000
    assert session.take() == [ts.Frame(ts.TYPE_WNDINC, 0, 3, struct.pack(">I", 150000))]
    # going over the window is a flow-control violation: RST FLOW_CONTROL
    stream._on_data(b"c" * (stream.recv_window + 1), fin=False)
    assert session.take() == [ts.Frame(ts.TYPE_RST, 0, 3, struct.pack(">I", ts.ERR_FLOW_CONTROL))]
    assert session.forgotten == [3]
    assert stream.recv(10) == b"b" * 10  # buffered data is still readable...
    stream.recv(100000)
    with pytest.raises(ts.StreamReset) as info:  # ...then the reset shows
        stream.recv(10)
    assert info.value.code == ts.ERR_FLOW_CONTROL and not info.value.by_peer


def test_fin_ends_reads_and_stops_credit() -> None:
    session = FakeSession()
    stream = ts.Stream(session, 5)
    stream._on_data(b"last words", fin=True)
    assert stream.recv(100) == b"last words"
    assert stream.recv(100) == b""
    assert session.take() == []  # no WNDINC for a stream the peer finished
    stream.close_write()
    assert session.take() == [ts.Frame(ts.TYPE_DATA, ts.FLAG_FIN, 5, b"")]
    assert session.forgotten == [5]  # both halves closed


def test_send_window_blocks_until_wndinc() -> None:
    session = FakeSession()
    stream = ts.Stream(session, 2)
    payload = bytes(range(256)) * 1200  # 307200 bytes > 256 KiB window
    done = threading.Event()
    errors: List[BaseException] = []

    def writer() -> None:
        try:
            stream.sendall(payload, timeout=5)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    deadline = time.monotonic() + 5
    while stream.send_window and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not done.wait(0.2), "sendall must block once the window is used up"
    first = session.take()
    assert sum(len(f.payload) for f in first) == ts.DEFAULT_WINDOW
    assert all(0 < len(f.payload) <= ts.MAX_SEND_PAYLOAD for f in first)
    stream._on_wndinc(len(payload) - ts.DEFAULT_WINDOW)
    assert done.wait(5)
    thread.join(5)
    assert not errors
    rest = session.take()
    assert b"".join(f.payload for f in first + rest) == payload
    assert stream.send_window == 0
    # a peer reset wakes a blocked writer
    blocked: List[BaseException] = []
    thread = threading.Thread(target=lambda: _capture(blocked, stream.sendall, b"more", 5))
    thread.start()
    time.sleep(0.05)
    stream._on_rst(ts.ERR_STREAM_CANCELLED)
    thread.join(5)
    assert isinstance(blocked[0], ts.StreamReset) and blocked[0].by_peer


def _capture(sink: List[BaseException], fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except BaseException as exc:
        sink.append(exc)


def test_stream_read_timeout_and_session_close() -> None:
    stream = ts.Stream(FakeSession(), 7)
    started = time.monotonic()
    with pytest.raises(socket.timeout):
        stream.recv(10, timeout=0.1)
    assert time.monotonic() - started < 2
    stream._on_session_closed()
    with pytest.raises(ts.StreamError):
        stream.recv(10)


# ---------------------------------------------------------------------------
# incremental JSON
# ---------------------------------------------------------------------------


def test_json_parser_completes_without_eof() -> None:
    message = {"Version": ["2"], "Extra": {"Authtoken": 'to"k{en}\\', "Nested": [1, {"a": "]"}]}}
    wire = ts.encode_json_message(message)
    assert wire.endswith(b"\n")
    parser = ts.JSONStreamParser()
    results: List[Any] = []
    for i in range(len(wire) - 1):  # everything but the trailing newline
        results.extend(parser.feed(wire[i : i + 1]))
        if i < len(wire) - 2:
            assert results == []
    assert results == [message]  # complete at the closing brace, before "\n" or EOF
    assert parser.feed(b'\n  {"b": 2}[1,') == [{"b": 2}]
    assert parser.feed(b" 2]") == [[1, 2]]


def test_json_parser_rejects_garbage_and_oversize() -> None:
    with pytest.raises(ValueError):
        ts.JSONStreamParser().feed(b'"a bare string"')
    parser = ts.JSONStreamParser(limit=64)
    with pytest.raises(ValueError):
        parser.feed(b'{"k": "' + b"x" * 100)


# ---------------------------------------------------------------------------
# the server, driven by a minimal muxado client written here
# ---------------------------------------------------------------------------


class MiniClient:
    """Just enough of a muxado client (odd stream ids) to poke the server."""

    def __init__(self, tunnel_server: ts.TunnelServer) -> None:
        context = ssl.create_default_context(cafile=tunnel_server.ca_path)
        raw = socket.create_connection((tunnel_server.host, tunnel_server.port), timeout=5)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.decoder = ts.FrameDecoder()
        self.pending: List[ts.Frame] = []
        self.buffers: Dict[int, bytearray] = {}
        self.next_id = 3

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def frame(self, stream_id: int, timeout: float = 5.0) -> ts.Frame:
        """The next frame of ``stream_id``; frames of other streams stay queued."""
        deadline = time.monotonic() + timeout
        while True:
            for index, frame in enumerate(self.pending):
                if frame.stream_id == stream_id:
                    return self.pending.pop(index)
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sock.recv(65536)
            assert data, "server closed the session"
            self.pending.extend(self.decoder.feed(data))

    def data_on(self, stream_id: int, size: int) -> bytes:
        """Exactly ``size`` DATA bytes of one stream (the rest stays buffered)."""
        buffered = self.buffers.setdefault(stream_id, bytearray())
        while len(buffered) < size:
            frame = self.frame(stream_id)
            if frame.ftype == ts.TYPE_DATA:
                buffered += frame.payload
        data = bytes(buffered[:size])
        del buffered[:size]
        return data

    def rpc(self, stream_type: int, request: Dict[str, Any]) -> Dict[str, Any]:
        sid, self.next_id = self.next_id, self.next_id + 2
        self.send(ts.data_frame(sid, struct.pack(">I", stream_type), syn=True))
        self.send(ts.data_frame(sid, ts.encode_json_message(request)))  # no FIN: like the agent
        parser = ts.JSONStreamParser()
        while True:
            frame = self.frame(sid)
            if frame.ftype == ts.TYPE_DATA:
                values = parser.feed(frame.payload)
                if values:
                    self.send(ts.data_frame(sid, fin=True))
                    return values[0]

    def close(self) -> None:
        self.sock.close()


def test_certificate_is_accepted_for_ip_and_name(tunnel_server: ts.TunnelServer) -> None:
    for name in ("127.0.0.1", "localhost"):
        context = ssl.create_default_context(cafile=tunnel_server.ca_path)
        with socket.create_connection((tunnel_server.host, tunnel_server.port), timeout=5) as raw, context.wrap_socket(
            raw, server_hostname=name
        ) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_server_protocol_with_mini_client(tunnel_server: ts.TunnelServer) -> None:
    client = MiniClient(tunnel_server)
    try:
        auth = client.rpc(ts.STREAM_AUTH, {"Version": ["2"], "ClientId": "", "Extra": {"Authtoken": "tok"}})
        assert auth["Error"] == "" and auth["Version"] == "2" and len(auth["ClientId"]) == 32
        assert tunnel_server.auth_requests[0]["Extra"]["Authtoken"] == "tok"
        assert tunnel_server.wait_for_session(5).client_id == auth["ClientId"]

        # heartbeat: every 4-byte nonce is echoed on the same stream
        client.send(ts.data_frame(5, struct.pack(">I", ts.STREAM_HEARTBEAT), syn=True))
        client.next_id = 7
        client.send(ts.data_frame(5, b"\x01\x02\x03\x04"))
        echoed = client.data_on(5, 4)
        assert echoed == b"\x01\x02\x03\x04"

        bind = client.rpc(ts.STREAM_BIND, {"Id": "", "Proto": "tcp", "Opts": {"Addr": ""}, "Extra": {}})
        assert bind["Error"] == "" and bind["Proto"] == "tcp" and bind["Id"].startswith("bind_")
        port = int(bind["URL"].rsplit(":", 1)[1])
        assert bind["URL"] == f"tcp://127.0.0.1:{port}" and bind["Opts"]["Addr"] == f"127.0.0.1:{port}"
        assert [b.url for b in tunnel_server.binds] == [bind["URL"]]
        clash = client.rpc(
            ts.STREAM_BIND, {"Id": "", "Proto": "tcp", "Opts": {"Addr": f"127.0.0.1:{port}"}, "Extra": {}}
        )
        assert (
            clash["Error"]
            == f"The tunnel 127.0.0.1:{port} is already bound to another tunnel session\n\nERR_NGROK_334\n"
        )

        public = socket.create_connection(("127.0.0.1", port), timeout=5)
        public.sendall(b"hello agent")
        syn = client.frame(2)
        assert (syn.ftype, syn.flags, syn.payload) == (ts.TYPE_DATA, ts.FLAG_SYN, b"\0\0\0\3")
        (length,) = struct.unpack("<q", client.data_on(2, 8))
        header = json.loads(client.data_on(2, length))
        assert header == {
            "Id": bind["Id"],
            "ClientAddr": f"127.0.0.1:{public.getsockname()[1]}",
            "Proto": "tcp",
            "EdgeType": "",
            "PassthroughTLS": False,
        }
        assert client.data_on(2, 11) == b"hello agent"
        # reply: the relay reads it, the public client gets it, the server credits the window
        client.send(ts.data_frame(2, b"hello client"))
        public.settimeout(5)
        assert public.recv(100) == b"hello client"
        frame = client.frame(2)
        assert (frame.ftype, ts.parse_u32(frame.payload)) == (ts.TYPE_WNDINC, len(b"hello client"))
        # half-close both ways
        public.shutdown(socket.SHUT_WR)
        frame = client.frame(2)
        assert (frame.ftype, frame.flags, frame.payload) == (ts.TYPE_DATA, ts.FLAG_FIN, b"")
        client.send(ts.data_frame(2, b"bye", fin=True))
        assert public.recv(100) == b"bye"
        assert public.recv(100) == b""
        public.close()

        unbind = client.rpc(ts.STREAM_UNBIND, {"Id": bind["Id"], "Extra": None})
        assert unbind == {"Error": "", "Extra": None}
        assert tunnel_server.binds == []
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        client.close()


def test_server_rejects_auth_and_refuses_connections(tunnel_server: ts.TunnelServer) -> None:
    tunnel_server.required_authtoken = "right"
    client = MiniClient(tunnel_server)
    try:
        answer = client.rpc(ts.STREAM_AUTH, {"Version": ["2"], "ClientId": "", "Extra": {"Authtoken": "wrong"}})
        assert answer["Error"].startswith("The authtoken you specified does not look like a proper ngrok")
        assert answer["Error"].endswith("\n\nERR_NGROK_105\n")
        bind = client.rpc(ts.STREAM_BIND, {"Id": "", "Proto": "tcp", "Opts": {}, "Extra": {}})
        assert "ERR_NGROK_4018" in bind["Error"]
    finally:
        client.close()
    tunnel_server.reject_auth_error = "forced\n\nERR_NGROK_108\n"
    client = MiniClient(tunnel_server)
    try:
        answer = client.rpc(ts.STREAM_AUTH, {"Version": ["2"], "ClientId": "", "Extra": {"Authtoken": "right"}})
        assert answer["Error"] == "forced\n\nERR_NGROK_108\n"
    finally:
        client.close()
    tunnel_server.refuse_connections(True)
    with pytest.raises((OSError, ssl.SSLError)):
        MiniClient(tunnel_server)
    tunnel_server.refuse_connections(False)
    MiniClient(tunnel_server).close()


# ---------------------------------------------------------------------------
# with the real ngrok 2.3.41 agent
# ---------------------------------------------------------------------------


class Agent:
    """The real agent as a subprocess, with its log collected by a reader thread."""

    def __init__(
        self, binary: str, directory: Path, tunnel_server: ts.TunnelServer, authtoken: str = "x", extra_config: str = ""
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        user = directory / "user.yml"
        user.write_text(
            f"authtoken: {json.dumps(authtoken)}\nweb_addr: 127.0.0.1:{free_port()}\nconsole_ui: false\n{extra_config}"
        )
        overlay = ts.agent_overlay_config(tunnel_server, str(directory))
        command = [binary, "start", "--none", "--log", "stdout", "--config", str(user), "--config", overlay]
        env = dict(os.environ, HOME=str(directory))
        self.proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env
        )
        self._lines: List[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, name="agent-log", daemon=True)
        self._reader.start()
        self.api_base = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            with self._cond:
                self._lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._lines.append("<EOF>")
            self._cond.notify_all()

    @property
    def log(self) -> str:
        with self._cond:
            return "\n".join(self._lines)

    def wait_for_log(self, text: str, timeout: float = 10.0, after: int = 0) -> int:
        """Index of the first log line (from ``after`` on) containing ``text``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index in range(after, len(self._lines)):
                    if text in self._lines[index]:
                        return index
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self._lines and self._lines[-1] == "<EOF>"):
                    raise AssertionError("agent never logged {!r}; log:\n{}".format(text, "\n".join(self._lines)))
                self._cond.wait(remaining)

    @property
    def line_count(self) -> int:
        with self._cond:
            return len(self._lines)

    def wait_ready(self) -> None:
        index = self.wait_for_log('msg="starting web service"')
        with self._cond:
            line = self._lines[index]
        self.api_base = "http://" + line.split(" addr=", 1)[1].split()[0]
        self.wait_for_log('msg="client session established"', after=index)

    def api(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.api_base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw, status = response.read(), response.status
        except urllib.error.HTTPError as exc:
            raw, status = exc.read(), exc.code
        return status, (json.loads(raw) if raw.strip() else None)

    def wait_exit(self, timeout: float = 10.0) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def start_agent(real_agent: str, tmp_path: Path) -> Any:
    agents: List[Agent] = []

    def start(
        tunnel_server: ts.TunnelServer, authtoken: str = "x", ready: bool = True, extra_config: str = ""
    ) -> Agent:
        agent = Agent(real_agent, tmp_path / (f"agent{len(agents)}"), tunnel_server, authtoken, extra_config)
        agents.append(agent)
        if ready:
            agent.wait_ready()
        return agent

    try:
        yield start
    finally:
        for agent in agents:
            agent.kill()


class LocalHTTP(LoopbackServer):
    """The service behind the tunnel: records requests, answers JSON."""

    def __init__(self) -> None:
        self.requests: List[Dict[str, Any]] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._answer(b"")

            def do_POST(self) -> None:
                if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
                    body = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass  # trailers
                            break
                        body += self.rfile.read(size + 2)[:size]
                else:
                    body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(body)

            def _answer(self, body: bytes) -> None:
                outer.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                if self.path.startswith("/big"):
                    payload = b"0123456789abcdef" * (int(self.path.split("=")[1]) // 16)
                else:
                    payload = json.dumps({"path": self.path, "body": body.decode("latin-1")}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))


@pytest.fixture
def local_http() -> Any:
    service = LocalHTTP()
    try:
        yield service
    finally:
        service.close()


def _tunnel(agent: Agent, body: Dict[str, Any]) -> Dict[str, Any]:
    status, answer = agent.api("POST", "/api/tunnels", body)
    assert status == 201, (status, answer, agent.log)
    return answer


def _http_twin(tunnel_server: ts.TunnelServer, https_url: str) -> str:
    urls = [b.url for b in tunnel_server.binds]
    assert https_url in urls
    (twin,) = [u for u in urls if u.startswith("http://")]
    return twin


def test_agent_http_tunnel_https_twin_and_replay(
    tunnel_server: ts.TunnelServer, start_agent: Any, local_http: LocalHTTP
) -> None:
    agent = start_agent(tunnel_server)
    assert agent.api("GET", "/api/tunnels") == (200, {"tunnels": [], "uri": "/api/tunnels"})
    tunnel = _tunnel(agent, {"addr": str(local_http.port), "proto": "http", "name": "t1"})
    assert tunnel["proto"] == "https" and tunnel["public_url"].startswith("https://127.0.0.1:")
    https_url = tunnel["public_url"]
    http_url = _http_twin(tunnel_server, https_url)
    status, listing = agent.api("GET", "/api/tunnels")
    assert sorted((t["name"], t["public_url"]) for t in listing["tunnels"]) == [
        ("t1", https_url),
        ("t1 (http)", http_url),
    ]

    status, body = http_request(https_url + "/hello?via=https", tunnel_server.ca_path)
    assert status == 200 and json.loads(body) == {"path": "/hello?via=https", "body": ""}
    status, body = http_request(http_url + "/plain", tunnel_server.ca_path)
    assert status == 200 and json.loads(body)["path"] == "/plain"
    first, second = local_http.requests[:2]
    assert first["headers"]["X-Forwarded-Proto"] == "https" and first["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert second["headers"]["X-Forwarded-Proto"] == "http"

    # a larger response (several windows) and a POST body through the https edge
    status, body = http_request(https_url + "/big?n=1048576", tunnel_server.ca_path)
    assert status == 200 and len(body) == 1048576
    conn = http.client.HTTPSConnection(
        "127.0.0.1",
        int(https_url.rsplit(":", 1)[1]),
        timeout=10,
        context=ssl.create_default_context(cafile=tunnel_server.ca_path),
    )
    try:
        conn.request("POST", "/post", body=b"x=1&y=2")
        assert json.loads(conn.getresponse().read()) == {"path": "/post", "body": "x=1&y=2"}
        conn.request(
            "POST",
            "/chunked",
            body=iter([b"part one, ", b"part two"]),
            encode_chunked=True,
            headers={"Expect": "100-continue"},
        )
        assert json.loads(conn.getresponse().read()) == {"path": "/chunked", "body": "part one, part two"}
    finally:
        conn.close()
    assert "Expect" not in local_http.requests[-1]["headers"]

    # the agent recorded the requests; replay one and the local service sees it again
    deadline = time.monotonic() + 5
    while True:
        status, captured = agent.api("GET", "/api/requests/http?tunnel_name=t1")
        hits = [r for r in captured["requests"] if r["request"]["uri"] == "/hello?via=https"]
        if hits or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert hits, captured
    assert hits[0]["request"]["headers"]["X-Forwarded-Proto"] == ["https"]
    assert hits[0]["response"]["status_code"] == 200
    before = len(local_http.requests)
    assert agent.api("POST", "/api/requests/http", {"id": hits[0]["id"]})[0] == 204
    deadline = time.monotonic() + 5
    while len(local_http.requests) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert local_http.requests[-1]["path"] == "/hello?via=https"

    # DELETE unbinds both edges
    assert agent.api("DELETE", "/api/tunnels/t1")[0] == 204
    tunnel_server.wait_for(lambda: all(b.url != https_url for b in tunnel_server.binds), 5)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", int(https_url.rsplit(":", 1)[1])), timeout=2).close()


def test_agent_basic_auth_on_every_request(
    tunnel_server: ts.TunnelServer, start_agent: Any, local_http: LocalHTTP
) -> None:
    agent = start_agent(tunnel_server)
    tunnel = _tunnel(agent, {"addr": str(local_http.port), "proto": "http", "name": "secure", "auth": "user:pa ss"})
    assert {b.auth for b in tunnel_server.binds} == {"user:pa ss"}
    port = int(tunnel["public_url"].rsplit(":", 1)[1])
    good = {"Authorization": "Basic " + base64.b64encode(b"user:pa ss").decode()}
    bad = {"Authorization": "Basic " + base64.b64encode(b"user:wrong").decode()}
    conn = http.client.HTTPSConnection(
        "127.0.0.1", port, timeout=10, context=ssl.create_default_context(cafile=tunnel_server.ca_path)
    )
    try:
        outcomes = []
        sockets = []
        for headers in ({}, good, bad, good, {}):
            conn.request("GET", "/secret", headers=headers)
            response = conn.getresponse()
            response.read()
            outcomes.append((response.status, response.getheader("WWW-Authenticate")))
            sockets.append(conn.sock)
        assert outcomes == [
            (401, 'Basic realm="ngrok"'),
            (200, None),
            (401, 'Basic realm="ngrok"'),
            (200, None),
            (401, 'Basic realm="ngrok"'),
        ]
        assert len(set(map(id, sockets))) == 1, "all requests must share one keep-alive connection"
    finally:
        conn.close()
    assert [r["path"] for r in local_http.requests] == ["/secret", "/secret"]
    status, _ = http_request(_http_twin(tunnel_server, tunnel["public_url"]) + "/x", tunnel_server.ca_path)
    assert status == 401


def test_agent_tcp_and_tls_tunnels(tunnel_server: ts.TunnelServer, start_agent: Any, echo_server: EchoServer) -> None:
    agent = start_agent(tunnel_server)
    tunnel = _tunnel(agent, {"addr": str(echo_server.port), "proto": "tcp", "name": "echo"})
    assert tunnel["proto"] == "tcp" and tunnel["public_url"].startswith("tcp://127.0.0.1:")
    port = int(tunnel["public_url"].rsplit(":", 1)[1])
    assert echo_round_trip(port, b"ping") == b"ping"
    big = os.urandom(1 << 20)  # 4 windows each way
    assert echo_round_trip(port, big) == big
    results: List[bool] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(echo_round_trip(port, b"%d" % i * 5000) == b"%d" % i * 5000))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results == [True] * 8

    # remote_addr pins the public port
    wanted = free_port()
    pinned = _tunnel(
        agent, {"addr": str(echo_server.port), "proto": "tcp", "name": "pinned", "remote_addr": f"127.0.0.1:{wanted}"}
    )
    assert pinned["public_url"] == f"tcp://127.0.0.1:{wanted}"
    assert echo_round_trip(wanted, b"pinned") == b"pinned"

    # tls is passthrough on the requested hostname's port
    wanted = free_port()
    tls = _tunnel(
        agent, {"addr": str(echo_server.port), "proto": "tls", "name": "pass", "hostname": f"127.0.0.1:{wanted}"}
    )
    assert tls["public_url"] == f"tls://127.0.0.1:{wanted}"
    assert echo_round_trip(wanted, b"\x16\x03\x01 not really tls") == b"\x16\x03\x01 not really tls"


def test_agent_reconnects_after_drop(tunnel_server: ts.TunnelServer, start_agent: Any, local_http: LocalHTTP) -> None:
    agent = start_agent(tunnel_server)
    first = tunnel_server.wait_for_session(5)
    tunnel = _tunnel(agent, {"addr": str(local_http.port), "proto": "http", "name": "t1"})
    urls_before = sorted(b.url for b in tunnel_server.binds)
    assert http_request(tunnel["public_url"] + "/before", tunnel_server.ca_path)[0] == 200

    tunnel_server.refuse_connections(True)
    mark = agent.line_count
    assert tunnel_server.drop_sessions() == 1
    agent.wait_for_log("session closed, starting reconnect loop", after=mark)
    agent.wait_for_log('msg="failed to reconnect session"', after=mark)
    assert tunnel_server.sessions == [] and tunnel_server.binds == []
    tunnel_server.refuse_connections(False)
    second = tunnel_server.wait_for_session(10, newer_than=first.serial)
    agent.wait_for_log('msg="client session established"', after=mark)
    assert second.client_id == first.client_id  # re-authenticated with its old ClientId
    binds = tunnel_server.wait_for_binds(2, 10)
    assert sorted(b.url for b in binds) == urls_before  # same ports: public URLs unchanged
    assert http_request(tunnel["public_url"] + "/after", tunnel_server.ca_path)[0] == 200
    assert [r["path"] for r in local_http.requests] == ["/before", "/after"]
    _, listing = agent.api("GET", "/api/tunnels")
    assert sorted(t["public_url"] for t in listing["tunnels"]) == urls_before


def test_agent_heartbeats_and_heartbeat_timeout(tunnel_server: ts.TunnelServer, start_agent: Any) -> None:
    agent = start_agent(
        tunnel_server, extra_config="heartbeat_interval: 100ms\nheartbeat_tolerance: 300ms\nlog_level: debug\n"
    )
    first = tunnel_server.wait_for_session(5)
    extra = tunnel_server.auth_requests[0]["Extra"]
    assert (extra["HeartbeatInterval"], extra["HeartbeatTolerance"]) == (100000000, 300000000)
    index = agent.wait_for_log('msg="heartbeat received"', timeout=5)
    agent.wait_for_log('msg="heartbeat received"', timeout=5, after=index + 1)
    tunnel_server.echo_heartbeats = False  # the agent gives up on the session and reconnects
    mark = agent.line_count
    agent.wait_for_log('msg="heartbeat timeout, terminating session"', timeout=5, after=mark)
    agent.wait_for_log("session closed, starting reconnect loop", timeout=5, after=mark)
    tunnel_server.echo_heartbeats = True
    tunnel_server.wait_for_session(10, newer_than=first.serial)
    mark = agent.line_count
    agent.wait_for_log('msg="heartbeat received"', timeout=5, after=mark)


def test_agent_obeys_stop_and_restart(tunnel_server: ts.TunnelServer, start_agent: Any) -> None:
    agent = start_agent(tunnel_server)
    first = tunnel_server.wait_for_session(5)
    mark = agent.line_count
    assert tunnel_server.send_restart() == [{"Error": ""}]
    agent.wait_for_log('msg="received stop request"', after=mark)
    second = tunnel_server.wait_for_session(10, newer_than=first.serial)
    assert second.client_id != first.client_id  # a restarted agent is a new client
    assert agent.proc.poll() is None
    assert tunnel_server.send_update() == [{"Error": "updates disabled"}]
    mark = agent.line_count
    assert tunnel_server.send_stop() == [{"Error": ""}]
    assert agent.wait_exit(10) == 0
    agent.wait_for_log("received remote stop", after=mark)
    tunnel_server.wait_for(lambda: not tunnel_server.sessions, 5)


def test_agent_rejected_authtoken_exits(tunnel_server: ts.TunnelServer, start_agent: Any) -> None:
    tunnel_server.required_authtoken = "the-right-token"
    agent = start_agent(tunnel_server, authtoken="x", ready=False)
    assert agent.wait_exit(15) == 1
    assert "ERR_NGROK_105" in agent.log
    assert "does not look like a proper ngrok tunnel authtoken" in agent.log
    assert [r["Extra"]["Authtoken"] for r in tunnel_server.auth_requests] == ["x"]
    request = tunnel_server.auth_requests[0]
    assert request["Version"] == ["2"] and request["Extra"]["Version"] == "2.3.41"

    tunnel_server.required_authtoken = None
    tunnel_server.reject_auth_error = (
        "Your account is limited to 1 simultaneous ngrok agent session.\n\nERR_NGROK_108\n"
    )
    agent = start_agent(tunnel_server, authtoken="anything", ready=False)
    assert agent.wait_exit(15) == 1
    assert "ERR_NGROK_108" in agent.log
