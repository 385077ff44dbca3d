"""A loopback ngrok v2 tunnel server for tests, speaking the protocol of the real 2.3.41 agent.

The protocol is described in shared/docs/ngrok-v2-tunnel-protocol.md.  In short:
TLS, then a muxado session (the agent is the muxado client), typed streams,
JSON RPCs for Auth/Bind/Unbind, and one type-3 stream per public connection.

Typical use::

    ca, cert, key = make_ca_and_cert(tmp)
    with TunnelServer(tmp, certs=(ca, cert, key)) as server:
        overlay = agent_overlay_config(server, tmp)
        # ngrok start --none --log stdout --config user.yml --config <overlay>
        server.wait_for_session(10)

Edges: tcp/tls binds relay raw bytes (one stream per public connection, with
half-close; note that the 2.3.41 agent itself ends the whole joined connection
as soon as either side sends EOF).  http/https binds parse HTTP/1.x so that
basic auth and X-Forwarded-* apply to every request of a keep-alive
connection; each request travels on its own type-3 stream (https is
TLS-terminated with the server's certificate).

Design: plain threads.  Every socket read has a timeout or is woken by
``close()``; every thread is registered in a ``_ThreadGroup`` and joined (with
a deadline) by ``TunnelServer.close()``.  TLS uses ``ssl.MemoryBIO`` with a
writer thread per connection, because an ``SSLSocket`` must not be read and
written from two threads at once.
"""

from __future__ import annotations

import base64
import collections
import copy
import hmac
import json
import os
import secrets
import socket
import ssl
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Deque, Dict, List, NamedTuple, Optional, Tuple

# --------------------------------------------------------------------------
# muxado framing
# --------------------------------------------------------------------------

TYPE_RST = 0
TYPE_DATA = 1
TYPE_WNDINC = 2
TYPE_GOAWAY = 3

FLAG_FIN = 0x1
FLAG_SYN = 0x2

HEADER_SIZE = 8
MAX_FRAME_PAYLOAD = 0xFFFFFF  # 24-bit length field
MAX_SEND_PAYLOAD = 16 * 1024  # what we put in one DATA frame
DEFAULT_WINDOW = 256 * 1024  # muxado's default per-stream receive window
MAX_WINDOW = 0x7FFFFFFF
STREAM_ID_MASK = 0x7FFFFFFF

# muxado error codes
ERR_NO_ERROR = 0
ERR_PROTOCOL = 1
ERR_INTERNAL = 2
ERR_FLOW_CONTROL = 3
ERR_STREAM_CLOSED = 4
ERR_STREAM_REFUSED = 5
ERR_STREAM_CANCELLED = 6
ERR_STREAM_RESET = 7
ERR_FRAME_SIZE = 8
ERR_ACCEPT_QUEUE_FULL = 9
ERR_ENHANCE_YOUR_CALM = 10
ERR_REMOTE_GONE_AWAY = 11
ERR_STREAMS_EXHAUSTED = 12
ERR_WRITE_TIMEOUT = 13
ERR_SESSION_CLOSED = 14
ERR_PEER_EOF = 15

# typed-stream types (first 4 bytes of a stream, big endian)
STREAM_AUTH = 0
STREAM_BIND = 1
STREAM_UNBIND = 2
STREAM_PROXY = 3
STREAM_RESTART = 4
STREAM_STOP = 5
STREAM_UPDATE = 6
STREAM_HEARTBEAT = 0xFFFFFFFF

_U32 = struct.Struct(">I")
_HEADER = struct.Struct(">II")
_I64_LE = struct.Struct("<q")


class Frame(NamedTuple):
    """One muxado frame."""

    ftype: int
    flags: int
    stream_id: int
    payload: bytes = b""

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)

    @property
    def syn(self) -> bool:
        return bool(self.flags & FLAG_SYN)


def encode_frame(ftype: int, flags: int, stream_id: int, payload: bytes = b"") -> bytes:
    """Serialise one frame: 24-bit length, type<<4|flags, 31-bit stream id, payload."""
    length = len(payload)
    if length > MAX_FRAME_PAYLOAD:
        raise ValueError(f"frame payload too large: {length}")
    if not (0 <= ftype <= 0xF and 0 <= flags <= 0xF):
        raise ValueError(f"bad frame type/flags {ftype!r}/{flags!r}")
    if not 0 <= stream_id <= STREAM_ID_MASK:
        raise ValueError(f"bad stream id {stream_id!r}")
    return _HEADER.pack((length << 8) | (ftype << 4) | flags, stream_id) + bytes(payload)


def data_frame(stream_id: int, payload: bytes = b"", *, fin: bool = False, syn: bool = False) -> bytes:
    flags = (FLAG_FIN if fin else 0) | (FLAG_SYN if syn else 0)
    return encode_frame(TYPE_DATA, flags, stream_id, payload)


def rst_frame(stream_id: int, code: int) -> bytes:
    return encode_frame(TYPE_RST, 0, stream_id, _U32.pack(code))


def wndinc_frame(stream_id: int, increment: int) -> bytes:
    if not 0 < increment <= MAX_WINDOW:
        raise ValueError(f"bad window increment {increment!r}")
    return encode_frame(TYPE_WNDINC, 0, stream_id, _U32.pack(increment))


def goaway_frame(last_stream_id: int, code: int, debug: bytes = b"") -> bytes:
    return encode_frame(TYPE_GOAWAY, 0, 0, _HEADER.pack(last_stream_id & STREAM_ID_MASK, code) + debug)


def parse_u32(payload: bytes) -> int:
    """The leading big-endian uint32 of an RST/WNDINC body."""
    if len(payload) < 4:
        raise ValueError(f"frame body too short: {len(payload)} bytes")
    return _U32.unpack_from(payload)[0]


def parse_goaway(payload: bytes) -> Tuple[int, int, bytes]:
    """(last stream id, error code, debug bytes) of a GOAWAY body."""
    if len(payload) < 8:
        raise ValueError(f"GOAWAY body too short: {len(payload)} bytes")
    last, code = _HEADER.unpack_from(payload)
    return last & STREAM_ID_MASK, code, bytes(payload[8:])


class FrameDecoder:
    """Incremental frame parser: ``feed(bytes)`` returns the frames completed so far."""

    def __init__(self) -> None:
        self._buf = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> List[Frame]:
        buf = self._buf
        buf += data
        frames: List[Frame] = []
        pos = 0
        while len(buf) - pos >= HEADER_SIZE:
            word, sid = _HEADER.unpack_from(buf, pos)
            length = word >> 8
            end = pos + HEADER_SIZE + length
            if end > len(buf):
                break
            frames.append(
                Frame((word >> 4) & 0xF, word & 0xF, sid & STREAM_ID_MASK, bytes(buf[pos + HEADER_SIZE : end]))
            )
            pos = end
        if pos:
            del buf[:pos]
        return frames


# --------------------------------------------------------------------------
# incremental JSON (the agent never closes an RPC stream before our answer)
# --------------------------------------------------------------------------


class JSONStreamParser:
    """Finds complete top-level JSON objects/arrays in bytes fed piecewise.

    It tracks nesting depth and string/escape state, so it knows where a value
    ends without waiting for EOF; each complete value is then ``json.loads``-ed.
    """

    def __init__(self, limit: int = 1 << 20) -> None:
        self._limit = limit
        self._buf = bytearray()
        self._pos = 0  # next byte to scan
        self._start: Optional[int] = None  # start of the current value
        self._depth = 0
        self._in_string = False
        self._escaped = False

    def feed(self, data: bytes) -> List[Any]:
        buf = self._buf
        buf += data
        values: List[Any] = []
        i = self._pos
        while i < len(buf):
            c = buf[i]
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif c == 0x5C:  # backslash
                    self._escaped = True
                elif c == 0x22:  # quote
                    self._in_string = False
            elif self._start is None:
                if c in b" \t\r\n":
                    pass
                elif c in b"{[":
                    self._start = i
                    self._depth = 1
                else:
                    raise ValueError(f"expected a JSON object or array, got {bytes(buf[i : i + 16])!r}")
            elif c == 0x22:
                self._in_string = True
            elif c in b"{[":
                self._depth += 1
            elif c in b"}]":
                self._depth -= 1
                if self._depth == 0:
                    text = bytes(buf[self._start : i + 1])
                    del buf[: i + 1]
                    self._start = None
                    i = 0
                    values.append(json.loads(text.decode("utf-8")))
                    continue
            i += 1
        if self._start is None:
            del buf[:i]  # only whitespace was scanned
            i = 0
        self._pos = i
        if len(buf) > self._limit:
            raise ValueError(f"JSON message larger than {self._limit} bytes")
        return values


def encode_json_message(value: Any) -> bytes:
    """What Go's json.Encoder writes: compact JSON and a newline."""
    return json.dumps(value, separators=(",", ":")).encode("utf-8") + b"\n"


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------


class _ThreadGroup:
    """Spawns daemon threads, remembers the live ones, and joins them with a deadline."""

    def __init__(self, name: str, on_error: Optional[Callable[[str], None]] = None) -> None:
        self._name = name
        self._on_error = on_error
        self._lock = threading.Lock()
        self._threads: "set[threading.Thread]" = set()
        self._closed = False

    def spawn(self, label: str, target: Callable[..., None], *args: Any) -> bool:
        """Start ``target(*args)`` in a thread; False (nothing started) once closed."""

        def run() -> None:
            try:
                target(*args)
            except Exception as exc:  # a bug in a handler: record it, don't print from a thread
                if self._on_error is not None:
                    self._on_error(f"thread {label} crashed: {exc!r}")
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name=f"{self._name}:{label}", daemon=True)
        with self._lock:
            if self._closed:
                return False
            self._threads.add(thread)
            thread.start()
        return True

    def close(self) -> None:
        with self._lock:
            self._closed = True

    def join(self, timeout: float) -> List[threading.Thread]:
        """Join every live thread within ``timeout`` seconds; return those still alive."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                live = [t for t in self._threads if t is not threading.current_thread()]
            if not live:
                return []
            for thread in live:
                thread.join(max(0.0, deadline - time.monotonic()))
            if time.monotonic() >= deadline:
                return [t for t in live if t.is_alive()]

    @property
    def live(self) -> int:
        with self._lock:
            return len(self._threads)


def _join_thread(thread: Optional[threading.Thread], timeout: float) -> None:
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)


# --------------------------------------------------------------------------
# byte connections: plain TCP and TLS (MemoryBIO, safe for one reader + writers)
# --------------------------------------------------------------------------


def _close_socket(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv/accept
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class PlainConnection:
    """A TCP socket with the small interface the relays use."""

    def __init__(self, sock: socket.socket, io_timeout: Optional[float] = None) -> None:
        self._sock = sock
        self._closed = False
        sock.settimeout(io_timeout)
        try:
            self.peer: Tuple[str, int] = sock.getpeername()[:2]
        except OSError:
            self.peer = ("0.0.0.0", 0)

    def recv(self, size: int = 65536) -> bytes:
        try:
            return self._sock.recv(size)
        except OSError:
            if self._closed:
                return b""
            raise

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)

    def shutdown_write(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _close_socket(self._sock)

    abort = close


class TLSConnection:
    """Server-side TLS over a socket via ``ssl.MemoryBIO``.

    An ``SSLSocket`` must not be read and written from two threads at once;
    here one lock guards the ``SSLObject``, ciphertext is queued in order and a
    dedicated writer thread sends it.  Readers never wait for the network
    writer, so no cross-direction deadlock is possible.  ``sendall`` blocks
    while more than ``high_water`` bytes are queued (back-pressure).
    """

    def __init__(
        self,
        sock: socket.socket,
        context: ssl.SSLContext,
        io_timeout: Optional[float] = None,
        high_water: int = 1 << 20,
    ) -> None:
        self._sock = sock
        self._io_timeout = io_timeout
        self._high_water = high_water
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._cond = threading.Condition(threading.Lock())
        self._outbox: Deque[bytes] = collections.deque()
        self._queued = 0
        self._eof = False
        self._closed = False
        self._write_shut = False  # close_notify queued; socket SHUT_WR after the flush
        self._broken: Optional[BaseException] = None
        self._writer: Optional[threading.Thread] = None
        try:
            self.peer: Tuple[str, int] = sock.getpeername()[:2]
        except OSError:
            self.peer = ("0.0.0.0", 0)

    # -- setup ------------------------------------------------------------
    def handshake(self, timeout: float) -> None:
        """Complete the TLS handshake in the calling thread, then start the writer."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            pending = self._outgoing.read()
            if pending:
                self._sock.settimeout(max(0.01, deadline - time.monotonic()))
                self._sock.sendall(pending)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise socket.timeout("TLS handshake timed out")
            self._sock.settimeout(remaining)
            data = self._sock.recv(65536)
            if not data:
                raise ConnectionError("EOF during TLS handshake")
            self._incoming.write(data)
        pending = self._outgoing.read()
        if pending:
            self._sock.sendall(pending)
        self._sock.settimeout(self._io_timeout)
        with self._cond:  # abort() joins _writer: only publish a started thread
            if self._closed:
                raise ConnectionError("closed during the TLS handshake")
            writer = threading.Thread(target=self._write_loop, name="tls-writer", daemon=True)
            writer.start()
            self._writer = writer

    @property
    def version(self) -> Optional[str]:
        return self._tls.version()

    # -- reading ----------------------------------------------------------
    def recv(self, size: int = 65536) -> bytes:
        """Up to ``size`` plaintext bytes; b"" at EOF (close_notify, TCP EOF or close())."""
        while True:
            with self._cond:
                if self._eof or self._closed:
                    return b""
                try:
                    data: Optional[bytes] = self._tls.read(size)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    self._eof = True
                    data = b""
                self._queue_outgoing_locked()  # e.g. session tickets, key updates
            if data is not None:
                return data
            try:
                raw = self._sock.recv(65536)
            except OSError:
                if self._closed:
                    return b""
                raise
            with self._cond:
                if not raw:
                    self._eof = True  # a ragged EOF counts as EOF
                    return b""
                self._incoming.write(raw)

    # -- writing ----------------------------------------------------------
    def _queue_outgoing_locked(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self._outbox.append(pending)
            self._queued += len(pending)
            self._cond.notify_all()

    def sendall(self, data: bytes, block: bool = True) -> None:
        """Encrypt and queue ``data``; with ``block``, wait for the queue to drain below the mark."""
        deadline = None if self._io_timeout is None else time.monotonic() + self._io_timeout
        with self._cond:
            self._check_writable_locked()
            view = memoryview(data)
            while view:
                written = self._tls.write(view)
                view = view[written:]
            self._queue_outgoing_locked()
            while block and self._queued > self._high_water:
                self._check_writable_locked()
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise socket.timeout("TLS write timed out")
                self._cond.wait(remaining)

    def _check_writable_locked(self) -> None:
        if self._broken is not None:
            raise ConnectionError(f"TLS connection broken: {self._broken!r}")
        if self._closed or self._write_shut:
            raise BrokenPipeError("TLS connection closed for writing")

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                while not self._outbox and not self._closed and not self._write_shut:
                    self._cond.wait()
                if self._closed:
                    return
                if not self._outbox:  # write side shut and everything flushed
                    try:
                        self._sock.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                chunk = b"".join(self._outbox)
                self._outbox.clear()
            try:
                self._sock.sendall(chunk)
            except OSError as exc:
                with self._cond:
                    self._broken = exc
                    self._queued = 0
                    self._cond.notify_all()
                return
            with self._cond:
                self._queued -= len(chunk)
                self._cond.notify_all()

    def _send_close_notify_locked(self) -> None:
        try:
            self._tls.unwrap()
        except (ssl.SSLError, ValueError):
            pass  # WantRead: our close_notify is queued, the peer's is not awaited
        self._queue_outgoing_locked()

    def shutdown_write(self) -> None:
        """Half-close: send close_notify, then shut the socket's write side after the flush."""
        with self._cond:
            if self._closed or self._write_shut or self._writer is None:
                return
            self._send_close_notify_locked()
            self._write_shut = True
            self._cond.notify_all()

    def close(self, flush_timeout: float = 1.0) -> None:
        """Send close_notify, flush queued data for up to ``flush_timeout`` s, and close."""
        with self._cond:
            if self._closed:
                return
            if self._writer is not None and not self._write_shut and self._broken is None:
                self._send_close_notify_locked()
            deadline = time.monotonic() + flush_timeout
            while self._queued > 0 and self._broken is None and self._writer is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
        self.abort()

    def abort(self) -> None:
        """Close at once, without close_notify (the peer sees a bare TCP close)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        _close_socket(self._sock)
        _join_thread(self._writer, 5.0)


# --------------------------------------------------------------------------
# muxado streams and sessions
# --------------------------------------------------------------------------


class StreamError(ConnectionError):
    """A muxado stream can no longer be used."""


class StreamReset(StreamError):
    def __init__(self, code: int, by_peer: bool) -> None:
        super().__init__(f"stream reset {'by peer' if by_peer else 'locally'} (code {code})")
        self.code = code
        self.by_peer = by_peer


class Stream:
    """One muxado stream with per-direction flow-control windows.

    ``session`` needs ``_send_frame(bytes, block=True)`` and ``_forget(stream)``.
    Incoming frames are applied by the session's reader via the ``_on_*``
    methods; applications use ``recv``/``sendall``/``close_write``/``close``/``reset``.
    """

    def __init__(self, session: Any, stream_id: int, window: int = DEFAULT_WINDOW) -> None:
        self.session = session
        self.id = stream_id
        self._cond = threading.Condition(threading.Lock())
        self._buf = bytearray()
        self.recv_window = window  # bytes the peer may still send us
        self.send_window = window  # bytes we may still send the peer
        self._remote_fin = False
        self._local_fin = False
        self._read_closed = False
        self._reset: Optional[StreamReset] = None
        self._session_closed = False

    def __repr__(self) -> str:
        return f"<Stream {self.id} recv_window={self.recv_window} send_window={self.send_window}>"

    # -- frames from the peer (session reader thread) ---------------------
    def _on_data(self, payload: bytes, fin: bool) -> None:
        reply: Optional[bytes] = None
        forget = False
        with self._cond:
            if self._reset is not None:
                return
            size = len(payload)
            if size and self._remote_fin:
                self._reset = StreamReset(ERR_STREAM_CLOSED, by_peer=False)
                reply, forget = rst_frame(self.id, ERR_STREAM_CLOSED), True
            elif size > self.recv_window:
                self._reset = StreamReset(ERR_FLOW_CONTROL, by_peer=False)
                reply, forget = rst_frame(self.id, ERR_FLOW_CONTROL), True
            else:
                if size and self._read_closed:
                    if not fin:
                        reply = wndinc_frame(self.id, size)  # discard, but keep the peer moving
                elif size:
                    self.recv_window -= size
                    self._buf += payload
                if fin:
                    self._remote_fin = True
                    forget = self._local_fin
            self._cond.notify_all()
        if reply is not None:
            self._send_quietly(reply)
        if forget:
            self.session._forget(self)

    def _on_wndinc(self, increment: int) -> None:
        with self._cond:
            self.send_window = min(MAX_WINDOW, self.send_window + increment)
            self._cond.notify_all()

    def _on_rst(self, code: int) -> None:
        with self._cond:
            if self._reset is None:
                self._reset = StreamReset(code, by_peer=True)
            self._cond.notify_all()

    def _on_session_closed(self) -> None:
        with self._cond:
            self._session_closed = True
            self._cond.notify_all()

    def _send_quietly(self, frame: bytes) -> None:
        try:
            self.session._send_frame(frame, block=False)
        except OSError:
            pass

    # -- application side -------------------------------------------------
    @property
    def remote_closed(self) -> bool:
        return self._remote_fin

    def recv(self, size: int = 65536, timeout: Optional[float] = None) -> bytes:
        """Up to ``size`` bytes; b"" after the peer's FIN. Raises StreamError/socket.timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._buf:
                if self._reset is not None:
                    raise self._reset
                if self._remote_fin:
                    return b""
                if self._session_closed:
                    raise StreamError("session closed")
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise socket.timeout(f"stream {self.id} read timed out")
                self._cond.wait(remaining)
            data = bytes(self._buf[:size])
            del self._buf[:size]
            self.recv_window += len(data)
            credit = not self._remote_fin and self._reset is None and not self._session_closed
        if credit:
            self._send_quietly(wndinc_frame(self.id, len(data)))
        return data

    def recv_exact(self, size: int, timeout: Optional[float] = None) -> bytes:
        deadline = None if timeout is None else time.monotonic() + timeout
        chunks = bytearray()
        while len(chunks) < size:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            chunk = self.recv(size - len(chunks), remaining)
            if not chunk:
                raise StreamError(f"stream {self.id} ended after {len(chunks)} of {size} bytes")
            chunks += chunk
        return bytes(chunks)

    def sendall(self, data: bytes, timeout: Optional[float] = None) -> None:
        """Send ``data`` in frames of at most 16 KiB, waiting for window credit."""
        view = memoryview(data)
        deadline = None if timeout is None else time.monotonic() + timeout
        while view:
            with self._cond:
                while True:
                    self._check_writable_locked()
                    if self.send_window > 0:
                        break
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise socket.timeout(f"stream {self.id} write timed out (window closed)")
                    self._cond.wait(remaining)
                size = min(self.send_window, MAX_SEND_PAYLOAD, len(view))
                self.send_window -= size
            self.session._send_frame(data_frame(self.id, bytes(view[:size])))
            view = view[size:]

    def _check_writable_locked(self) -> None:
        if self._reset is not None:
            raise self._reset
        if self._session_closed:
            raise StreamError("session closed")
        if self._local_fin:
            raise StreamError(f"stream {self.id} already closed for writing")

    def close_write(self) -> None:
        """Send FIN (half-close); reading stays possible."""
        with self._cond:
            if self._local_fin or self._reset is not None or self._session_closed:
                return
            self._local_fin = True
            forget = self._remote_fin
        self._send_quietly(data_frame(self.id, b"", fin=True))
        if forget:
            self.session._forget(self)

    def close(self) -> None:
        """Half-close and stop reading: later data is discarded (and credited back)."""
        with self._cond:
            self._read_closed = True
            unread = len(self._buf)
            self._buf.clear()
            credit = unread > 0 and not self._remote_fin and self._reset is None and not self._session_closed
            self.recv_window += unread
        if credit:
            self._send_quietly(wndinc_frame(self.id, unread))
        self.close_write()

    def reset(self, code: int = ERR_STREAM_CANCELLED) -> None:
        with self._cond:
            if self._reset is not None or self._session_closed:
                return
            self._reset = StreamReset(code, by_peer=False)
            self._cond.notify_all()
        self._send_quietly(rst_frame(self.id, code))
        self.session._forget(self)


class _ProtocolError(Exception):
    pass


class Session:
    """The server side of one agent's muxado session (the agent is the client)."""

    def __init__(self, server: "TunnelServer", conn: TLSConnection, serial: int) -> None:
        self.server = server
        self.conn = conn
        self.serial = serial
        self.peer = "{}:{}".format(*conn.peer)
        self.client_id = ""
        self.authenticated = False
        self.auth_request: Optional[Dict[str, Any]] = None
        self.remote_goaway: Optional[Tuple[int, int, bytes]] = None
        self.close_reason = ""
        self._lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._streams: Dict[int, Stream] = {}
        self._next_id = 2  # the server opens even ids
        self._last_remote_id = 0
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    # -- writing ----------------------------------------------------------
    def _send_frame(self, frame: bytes, block: bool = True) -> None:
        try:
            self.conn.sendall(frame, block=block)
        except OSError as exc:
            raise StreamError(f"session {self.serial} cannot send: {exc}") from exc

    def _forget(self, stream: Stream) -> None:
        with self._lock:
            if self._streams.get(stream.id) is stream:
                del self._streams[stream.id]

    @property
    def stream_count(self) -> int:
        with self._lock:
            return len(self._streams)

    def open_stream(self, stream_type: int) -> Stream:
        """Open a server stream (even id); its SYN frame carries the 4-byte type alone."""
        with self._open_lock:
            with self._lock:
                if self._closed:
                    raise StreamError(f"session {self.serial} is closed")
                if self.remote_goaway is not None:
                    raise StreamError(f"session {self.serial}: peer sent GOAWAY")
                stream_id = self._next_id
                if stream_id > STREAM_ID_MASK:
                    raise StreamError("stream ids exhausted")
                self._next_id += 2
                stream = Stream(self, stream_id)
                stream.send_window -= 4
                self._streams[stream_id] = stream
            self._send_frame(data_frame(stream_id, _U32.pack(stream_type), syn=True))
        return stream

    def rpc(self, stream_type: int, request: Any, timeout: float = 5.0) -> Any:
        """Server-initiated RPC (Restart/Stop/Update): send JSON, read one JSON answer."""
        stream = self.open_stream(stream_type)
        try:
            stream.sendall(encode_json_message(request), timeout)
            return read_json_message(stream, timeout)
        finally:
            stream.close()

    # -- reading ----------------------------------------------------------
    def run(self) -> None:
        """The reader loop; returns when the connection ends (then the session is closed)."""
        decoder = FrameDecoder()
        reason = "EOF from agent"
        try:
            while True:
                data = self.conn.recv(65536)
                if not data:
                    break
                for frame in decoder.feed(data):
                    self._dispatch(frame)
        except _ProtocolError as exc:
            reason = f"protocol error: {exc}"
            self._send_goaway(ERR_PROTOCOL, str(exc))
        except (OSError, ValueError) as exc:
            reason = f"read error: {exc!r}"
        finally:
            self.close(reason)

    def _dispatch(self, frame: Frame) -> None:
        sid = frame.stream_id
        if frame.ftype == TYPE_DATA:
            if frame.syn:
                self._on_syn(frame)
                return
            with self._lock:
                stream = self._streams.get(sid)
            if stream is not None:
                stream._on_data(frame.payload, frame.fin)
            elif frame.payload or not frame.fin:
                self._send_frame(rst_frame(sid, ERR_STREAM_CLOSED), block=False)
        elif frame.ftype == TYPE_RST:
            with self._lock:
                stream = self._streams.pop(sid, None)
            if stream is not None:
                stream._on_rst(parse_u32(frame.payload))
        elif frame.ftype == TYPE_WNDINC:
            increment = parse_u32(frame.payload)
            with self._lock:
                stream = self._streams.get(sid)
            if stream is not None and increment > 0:
                stream._on_wndinc(increment)
        elif frame.ftype == TYPE_GOAWAY:
            self.remote_goaway = parse_goaway(frame.payload)
            self.server._event(f"session {self.serial}: GOAWAY from agent {self.remote_goaway!r}")
        # other types: body already consumed by the decoder, ignored

    def _on_syn(self, frame: Frame) -> None:
        sid = frame.stream_id
        if sid == 0 or sid % 2 == 0:
            raise _ProtocolError(f"agent opened stream {sid} with the server's parity")
        with self._lock:
            # No "ids must increase" check: the agent's auth and heartbeat goroutines race,
            # and the SYN of stream 5 regularly arrives before the SYN of stream 3.
            if sid in self._streams:
                raise _ProtocolError(f"agent reopened live stream {sid}")
            self._last_remote_id = max(self._last_remote_id, sid)
            stream = Stream(self, sid)
            self._streams[sid] = stream
        stream._on_data(frame.payload, frame.fin)
        label = f"stream-{self.serial}-{sid}"
        if not self.server._threads.spawn(label, self.server._serve_agent_stream, self, stream):
            stream.reset(ERR_STREAM_REFUSED)

    def _send_goaway(self, code: int, debug: str) -> None:
        try:
            self._send_frame(goaway_frame(self._last_remote_id, code, debug.encode("utf-8")), block=False)
        except StreamError:
            pass

    # -- ending -----------------------------------------------------------
    def close(self, reason: str = "closed", graceful: bool = False) -> None:
        """End the session; ``graceful`` sends GOAWAY and close_notify first."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.close_reason = reason
            streams = list(self._streams.values())
            self._streams.clear()
        if graceful:
            self._send_goaway(ERR_NO_ERROR, "server closing")
            self.conn.close()
        else:
            self.conn.abort()
        for stream in streams:
            stream._on_session_closed()
        self.server._session_ended(self)


def read_json_message(stream: Stream, timeout: Optional[float] = 10.0, limit: int = 1 << 20) -> Any:
    """Read one JSON value from ``stream`` as soon as it is complete (no need for FIN)."""
    parser = JSONStreamParser(limit)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        chunk = stream.recv(65536, remaining)
        if not chunk:
            raise StreamError(f"stream {stream.id} ended before a complete JSON message")
        values = parser.feed(chunk)
        if values:
            return values[0]


def proxy_header(bind_id: str, client_addr: str, proto: str) -> bytes:
    """The type-3 stream preamble after the type: int64 LE length + JSON."""
    body = json.dumps(
        {"Id": bind_id, "ClientAddr": client_addr, "Proto": proto, "EdgeType": "", "PassthroughTLS": False},
        separators=(",", ":"),
    ).encode("utf-8")
    return _I64_LE.pack(len(body)) + body


# --------------------------------------------------------------------------
# HTTP/1.x helpers for the http/https edges
# --------------------------------------------------------------------------

MAX_HEAD = 64 * 1024


class _Reader:
    """A pushback buffer over a ``recv(n) -> bytes`` callable."""

    def __init__(self, recv: Callable[[int], bytes]) -> None:
        self._recv = recv
        self._buf = bytearray()

    def _fill(self) -> bool:
        chunk = self._recv(65536)
        if not chunk:
            return False
        self._buf += chunk
        return True

    def read_head(self) -> Optional[bytes]:
        """The bytes up to and including CRLFCRLF; None on EOF before any byte."""
        while True:
            while self._buf[:2] == b"\r\n":  # stray CRLFs between messages
                del self._buf[:2]
            end = self._buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self._buf[: end + 4])
                del self._buf[: end + 4]
                return head
            if len(self._buf) > MAX_HEAD:
                raise ValueError(f"HTTP head larger than {MAX_HEAD} bytes")
            if not self._fill():
                if self._buf:
                    raise ValueError("connection closed inside an HTTP head")
                return None

    def readline(self, limit: int = 8192) -> bytes:
        while True:
            end = self._buf.find(b"\n")
            if end >= 0:
                line = bytes(self._buf[: end + 1])
                del self._buf[: end + 1]
                return line
            if len(self._buf) > limit:
                raise ValueError("line too long")
            if not self._fill():
                raise ValueError("connection closed inside a line")

    def read_some(self, size: int) -> bytes:
        if not self._buf and not self._fill():
            return b""
        data = bytes(self._buf[:size])
        del self._buf[:size]
        return data

    def take_buffered(self) -> bytes:
        data = bytes(self._buf)
        self._buf.clear()
        return data

    def copy_exact(self, size: int, write: Optional[Callable[[bytes], None]]) -> None:
        while size > 0:
            data = self.read_some(min(size, 65536))
            if not data:
                raise ValueError(f"connection closed inside a body ({size} bytes missing)")
            size -= len(data)
            if write is not None:
                write(data)

    def copy_to_eof(self, write: Callable[[bytes], None]) -> None:
        while True:
            data = self.read_some(65536)
            if not data:
                return
            write(data)

    def copy_chunked(self, write: Optional[Callable[[bytes], None]]) -> None:
        while True:
            line = self.readline()
            if write is not None:
                write(line)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise ValueError(f"bad chunk size line {line[:40]!r}") from None
            if size < 0:
                raise ValueError("negative chunk size")
            if size == 0:
                while True:  # trailers, ended by an empty line
                    trailer = self.readline()
                    if write is not None:
                        write(trailer)
                    if trailer in (b"\r\n", b"\n"):
                        return
            self.copy_exact(size + 2, write)  # data + CRLF


class _Head:
    """A parsed HTTP/1.x request or response head."""

    def __init__(self, raw: bytes) -> None:
        lines = raw.decode("latin-1").split("\r\n")
        self.start_line = lines[0]
        parts = self.start_line.split(" ", 2)
        if len(parts) < 2:
            raise ValueError(f"malformed start line {self.start_line!r}")
        self.parts = parts
        self.headers: List[Tuple[str, str]] = []
        for line in lines[1:]:
            if not line:
                continue
            if line[0] in " \t":
                raise ValueError("obsolete header folding")
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ValueError(f"malformed header line {line!r}")
            self.headers.append((name, value.strip()))

    def get(self, name: str) -> Optional[str]:
        lowered = name.lower()
        values = [v for k, v in self.headers if k.lower() == lowered]
        return ", ".join(values) if values else None

    def tokens(self, name: str) -> List[str]:
        value = self.get(name) or ""
        return [t.strip().lower() for t in value.split(",") if t.strip()]

    def remove(self, name: str) -> None:
        lowered = name.lower()
        self.headers = [(k, v) for k, v in self.headers if k.lower() != lowered]

    def serialize(self) -> bytes:
        lines = [self.start_line] + [f"{k}: {v}" for k, v in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")

    def content_length(self) -> Optional[int]:
        values = {v.strip() for k, v in self.headers if k.lower() == "content-length"}
        if not values:
            return None
        if len(values) != 1:
            raise ValueError("conflicting Content-Length headers")
        value = values.pop()
        if not value.isdigit():
            raise ValueError(f"bad Content-Length {value!r}")
        return int(value)

    def chunked(self) -> bool:
        codings = self.tokens("Transfer-Encoding")
        return bool(codings) and codings[-1] == "chunked"


def _request_keep_alive(request: _Head) -> bool:
    version = request.parts[2] if len(request.parts) > 2 else "HTTP/1.0"
    connection = request.tokens("Connection")
    if version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


def _basic_auth_ok(request: _Head, expected: str) -> bool:
    value = request.get("Authorization") or ""
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(credentials.strip(), validate=True)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(decoded, expected.encode("utf-8"))


def _simple_response(status: str, body: str, keep_alive: bool, extra: Tuple[Tuple[str, str], ...] = ()) -> bytes:
    payload = body.encode("utf-8")
    lines = ["HTTP/1.1 " + status]
    lines += ["{}: {}".format(*pair) for pair in extra]
    lines += ["Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(payload)}"]
    if not keep_alive:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload


# --------------------------------------------------------------------------
# public edges
# --------------------------------------------------------------------------


@dataclass
class _BindRecord:
    id: str
    proto: str
    port: int
    opts: Dict[str, Any]
    auth: str
    token: str
    tunnel_id: str
    session: Optional[Session] = None
    edge: Optional["_Edge"] = None

    @property
    def url(self) -> str:
        return f"{self.proto}://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class BindInfo:
    """A live bind (tunnel) as the server sees it."""

    id: str
    proto: str
    url: str
    port: int
    auth: str
    opts: Dict[str, Any] = field(hash=False, compare=False)
    session_serial: int = 0
    client_id: str = ""


@dataclass(frozen=True)
class SessionInfo:
    """A live agent session as the server sees it."""

    serial: int
    peer: str
    client_id: str
    authenticated: bool
    authtoken: str
    agent_version: str


class _Relay:
    """Bidirectional byte copy between a public connection and a stream, with half-close."""

    def __init__(self, conn: Any, stream: Stream, idle_timeout: Optional[float]) -> None:
        self.conn = conn
        self.stream = stream
        self.idle_timeout = idle_timeout
        self._lock = threading.Lock()
        self._running = 2
        self.finished = threading.Event()

    def client_to_agent(self) -> None:
        try:
            while True:
                data = self.conn.recv(65536)
                if not data:
                    self.stream.close_write()
                    break
                self.stream.sendall(data, self.idle_timeout)
        except OSError:
            self._abort()
        finally:
            self._done()

    def agent_to_client(self) -> None:
        try:
            while True:
                data = self.stream.recv(65536, self.idle_timeout)
                if not data:
                    self.conn.shutdown_write()
                    break
                self.conn.sendall(data)
        except OSError:
            self._abort()
        finally:
            self._done()

    def _abort(self) -> None:
        self.stream.reset(ERR_STREAM_CANCELLED)
        self.conn.abort()

    def _done(self) -> None:
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            self.stream.close()
            self.conn.close()
            self.finished.set()


class _Edge:
    """A public listener for one bind; each accepted connection becomes a type-3 stream."""

    def __init__(self, server: "TunnelServer", record: _BindRecord, listener: socket.socket) -> None:
        self.server = server
        self.record = record
        self.listener = listener
        self.port = listener.getsockname()[1]
        self._closed = False
        self._lock = threading.Lock()
        self._conns: "set[Any]" = set()
        self._slots = threading.BoundedSemaphore(server.max_edge_connections)

    def start(self) -> None:
        if not self.server._threads.spawn(f"edge-{self.port}", self._accept_loop):
            self.close()

    def _accept_loop(self) -> None:
        while not self._closed:
            try:
                sock, _ = self.listener.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            if self._closed or not self._slots.acquire(blocking=False):
                _close_socket(sock)
                continue
            if not self.server._threads.spawn(f"edge-{self.port}-conn", self._serve, sock):
                self._slots.release()
                _close_socket(sock)

    def _serve(self, sock: socket.socket) -> None:
        conn = self._wrap(sock)
        try:
            with self._lock:
                if self._closed:
                    return
                self._conns.add(conn)  # from here on, close() can abort it
            self._prepare(conn)
            self._handle(conn)
        except (OSError, ValueError) as exc:
            self.server._event(f"edge {self.record.url}: connection error {exc!r}")
        finally:
            conn.close()
            with self._lock:
                self._conns.discard(conn)
            self._slots.release()

    def _wrap(self, sock: socket.socket) -> Any:
        return PlainConnection(sock, self.server.idle_timeout)

    def _prepare(self, conn: Any) -> None:
        """Per-connection setup before any byte is relayed (the TLS handshake for https)."""

    def _open_stream(self, conn: Any) -> Stream:
        session = self.record.session
        if session is None:
            raise StreamError(f"tunnel {self.record.url} has no session")
        stream = session.open_stream(STREAM_PROXY)
        try:
            stream.sendall(proxy_header(self.record.id, "{}:{}".format(*conn.peer), self.record.proto), 10.0)
        except OSError:
            stream.reset()
            raise
        return stream

    def _relay(self, conn: Any, stream: Stream) -> None:
        """Copy both ways; returns when both directions are done (or aborted)."""
        relay = _Relay(conn, stream, self.server.idle_timeout)
        if not self.server._threads.spawn(f"relay-{stream.id}", relay.agent_to_client):
            relay._abort()
            relay._done()
        relay.client_to_agent()
        relay.finished.wait()  # the other direction is woken by close()/abort() of either end

    def _handle(self, conn: Any) -> None:
        self._relay(conn, self._open_stream(conn))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            conns = list(self._conns)
        _close_socket(self.listener)
        for conn in conns:
            conn.abort()


class _HttpEdge(_Edge):
    """http/https edge: basic auth and X-Forwarded-* on every request; one stream per request."""

    def __init__(self, server: "TunnelServer", record: _BindRecord, listener: socket.socket, tls: bool) -> None:
        super().__init__(server, record, listener)
        self.tls = tls

    def _wrap(self, sock: socket.socket) -> Any:
        if not self.tls:
            return super()._wrap(sock)
        return TLSConnection(sock, self.server._tls_context, self.server.idle_timeout)

    def _prepare(self, conn: Any) -> None:
        if self.tls:
            conn.handshake(10.0)

    def _handle(self, conn: Any) -> None:
        reader = _Reader(conn.recv)
        while self._exchange(conn, reader):
            pass

    def _exchange(self, conn: Any, reader: _Reader) -> bool:
        """Serve one request; True if the client connection stays open for another."""
        raw = reader.read_head()
        if raw is None:
            return False
        try:
            request = _Head(raw)
            if len(request.parts) != 3 or not request.parts[2].startswith("HTTP/1."):
                raise ValueError("not an HTTP/1.x request line")
            body_length = request.content_length()
        except ValueError as exc:
            conn.sendall(_simple_response("400 Bad Request", f"bad request: {exc}\n", False))
            return False
        keep_alive = _request_keep_alive(request)
        has_body = request.chunked() or bool(body_length)
        expects_continue = has_body and "100-continue" in request.tokens("Expect")
        if self.record.auth and not _basic_auth_ok(request, self.record.auth):
            if expects_continue:
                keep_alive = False  # the body was never sent: answer and close
            elif request.chunked():
                reader.copy_chunked(None)
            elif body_length:
                reader.copy_exact(body_length, None)
            conn.sendall(
                _simple_response(
                    "401 Unauthorized",
                    "Authentication failed\n",
                    keep_alive,
                    (("WWW-Authenticate", 'Basic realm="ngrok"'),),
                )
            )
            return keep_alive
        client_ip = conn.peer[0]
        forwarded = request.get("X-Forwarded-For")
        request.remove("X-Forwarded-For")
        request.remove("X-Forwarded-Proto")
        request.headers.append(("X-Forwarded-For", forwarded + ", " + client_ip if forwarded else client_ip))
        request.headers.append(("X-Forwarded-Proto", "https" if self.tls else "http"))
        if expects_continue:  # the edge reads the whole body first, so it says "go on" itself
            request.remove("Expect")
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            stream = self._open_stream(conn)
        except OSError:
            text = f"Tunnel {self.record.url} not found\n\nERR_NGROK_3200\n"
            conn.sendall(_simple_response("502 Bad Gateway", text, False))
            return False
        timeout = self.server.idle_timeout
        try:
            stream.sendall(request.serialize(), timeout)
            write_up = lambda data: stream.sendall(data, timeout)  # noqa: E731
            if request.chunked():
                reader.copy_chunked(write_up)
            elif body_length:
                reader.copy_exact(body_length, write_up)
            upstream = _Reader(lambda size: stream.recv(size, timeout))
            while True:
                raw_response = upstream.read_head()
                if raw_response is None:
                    raise StreamError("agent closed the stream without a response")
                response = _Head(raw_response)
                conn.sendall(raw_response)
                try:
                    status = int(response.parts[1])
                except ValueError:
                    raise ValueError(f"bad status line {response.start_line!r}") from None
                if status == 101:  # protocol switch: raw bytes both ways from now on
                    leftover_up, leftover_down = reader.take_buffered(), upstream.take_buffered()
                    if leftover_up:
                        stream.sendall(leftover_up, timeout)
                    if leftover_down:
                        conn.sendall(leftover_down)
                    self._relay(conn, stream)
                    return False
                if status >= 200:
                    break
            method = request.parts[0].upper()
            if method == "HEAD" or status in (204, 304):
                close_delimited = False
            elif response.chunked():
                upstream.copy_chunked(conn.sendall)
                close_delimited = False
            elif response.get("Transfer-Encoding") is None and response.content_length() is not None:
                upstream.copy_exact(response.content_length() or 0, conn.sendall)
                close_delimited = False
            else:
                upstream.copy_to_eof(conn.sendall)
                close_delimited = True
        except (OSError, ValueError):
            stream.reset()
            raise
        stream.close()
        response_keep_alive = "close" not in response.tokens("Connection") and (
            response.parts[0] != "HTTP/1.0" or "keep-alive" in response.tokens("Connection")
        )
        return keep_alive and response_keep_alive and not close_delimited


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------

ERR_NGROK_105_TEXT = (
    "The authtoken you specified does not look like a proper ngrok tunnel authtoken.\n"
    "Your authtoken: %s\n"
    "Instructions to install your authtoken are on your ngrok dashboard:\n"
    "https://dashboard.ngrok.com/get-started/your-authtoken\n\n"
    "ERR_NGROK_105\n"
)
ERR_NGROK_334_TEXT = "The tunnel %s is already bound to another tunnel session\n\nERR_NGROK_334\n"

SUPPORTED_PROTOS = ("http", "https", "tcp", "tls")


def _parse_loopback_port(value: Any) -> Optional[int]:
    """The port of ``127.0.0.1:PORT`` / ``localhost:PORT`` (or ``:PORT``); None otherwise."""
    if not isinstance(value, str) or ":" not in value:
        return None
    host, _, port = value.rpartition(":")
    if host not in ("", "127.0.0.1", "localhost") or not port.isdigit():
        return None
    number = int(port)
    return number if 0 < number < 65536 else None


class TunnelServer:
    """A loopback ngrok v2 tunnel server for the real agent (context manager).

    ``required_authtoken``: when not None, Auth with another token is rejected
    with an ERR_NGROK_105 error.  ``reject_auth_error``: when set, every Auth is
    rejected with exactly this text.  Both may be changed at any time.
    """

    def __init__(
        self,
        directory: str,
        *,
        certs: Optional[Tuple[str, str, str]] = None,
        required_authtoken: Optional[str] = None,
        reject_auth_error: Optional[str] = None,
        idle_timeout: Optional[float] = 300.0,
        max_edge_connections: int = 128,
    ) -> None:
        self.directory = str(directory)
        if certs is None:
            certs = make_ca_and_cert(self.directory)
        self.ca_path, self.cert_path, self.key_path = (str(p) for p in certs)
        self.required_authtoken = required_authtoken
        self.reject_auth_error = reject_auth_error
        self.echo_heartbeats = True  # False: swallow heartbeats, so the agent's heartbeat check fails
        self.idle_timeout = idle_timeout
        self.max_edge_connections = max_edge_connections
        self.host = "127.0.0.1"
        self.port = 0
        self._tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._tls_context.load_cert_chain(self.cert_path, self.key_path)
        self._cond = threading.Condition(threading.RLock())
        self._threads = _ThreadGroup("tunnel-server", self._event)
        self._listener: Optional[socket.socket] = None
        self._refusing = False
        self._closed = False
        self._serial = 0
        self._sessions: Dict[int, Session] = {}
        self._handshaking: "set[TLSConnection]" = set()
        self._records: Dict[str, _BindRecord] = {}
        self._auth_requests: List[Dict[str, Any]] = []
        self._events: Deque[str] = collections.deque(maxlen=500)
        self.stuck_threads: List[str] = []

    # -- lifecycle --------------------------------------------------------
    def start(self) -> "TunnelServer":
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._threads.spawn("accept", self._accept_loop, listener)
        self._event(f"listening on {self.addr}")
        return self

    def __enter__(self) -> "TunnelServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def addr(self) -> str:
        return f"{self.host}:{self.port}"

    def close(self, timeout: float = 10.0) -> None:
        """Stop listening, end sessions (GOAWAY), close edges, join all threads."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            listener, self._listener = self._listener, None
            sessions = list(self._sessions.values())
            handshaking = list(self._handshaking)
            self._cond.notify_all()
        self._threads.close()
        if listener is not None:
            _close_socket(listener)
        for conn in handshaking:
            conn.abort()
        for session in sessions:
            session.close("server closed", graceful=True)
        with self._cond:
            edges = [r.edge for r in self._records.values() if r.edge is not None]
        for edge in edges:
            edge.close()
        stuck = self._threads.join(timeout)
        self.stuck_threads = [t.name for t in stuck]
        self._event(f"closed ({len(stuck)} stuck threads)")

    # -- introspection ----------------------------------------------------
    def _event(self, text: str) -> None:
        self._events.append(f"{time.monotonic():.3f} {text}")

    @property
    def events(self) -> List[str]:
        """A bounded debug log of what the server did."""
        return list(self._events)

    @property
    def sessions(self) -> List[SessionInfo]:
        with self._cond:
            return [self._session_info(s) for s in self._sessions.values()]

    @staticmethod
    def _session_info(session: Session) -> SessionInfo:
        extra = (session.auth_request or {}).get("Extra") or {}
        return SessionInfo(
            serial=session.serial,
            peer=session.peer,
            client_id=session.client_id,
            authenticated=session.authenticated,
            authtoken=str(extra.get("Authtoken", "")),
            agent_version=str(extra.get("Version", "")),
        )

    @property
    def binds(self) -> List[BindInfo]:
        """Live binds (with public URL, auth and the Opts returned to the agent)."""
        with self._cond:
            return [
                BindInfo(
                    id=r.id,
                    proto=r.proto,
                    url=r.url,
                    port=r.port,
                    auth=r.auth,
                    opts=copy.deepcopy(r.opts),
                    session_serial=r.session.serial if r.session else 0,
                    client_id=r.session.client_id if r.session else "",
                )
                for r in self._records.values()
                if r.edge is not None
            ]

    @property
    def auth_requests(self) -> List[Dict[str, Any]]:
        """Every Auth request received, as decoded JSON (token included)."""
        with self._cond:
            return copy.deepcopy(self._auth_requests)

    def wait_for(self, predicate: Callable[[], Any], timeout: float) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every server state change)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = predicate()
                if result:
                    return result
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    raise TimeoutError(
                        "condition not met within {:.1f} s; recent events:\n{}".format(
                            timeout, "\n".join(self.events[-15:])
                        )
                    )
                self._cond.wait(min(remaining, 0.5))

    def wait_for_session(self, timeout: float = 10.0, newer_than: int = 0) -> SessionInfo:
        """The newest authenticated live session with serial > ``newer_than``."""

        def find() -> Optional[SessionInfo]:
            live = [s for s in self._sessions.values() if s.authenticated and s.serial > newer_than]
            return self._session_info(max(live, key=lambda s: s.serial)) if live else None

        return self.wait_for(find, timeout)

    def wait_for_binds(self, count: int, timeout: float = 10.0) -> List[BindInfo]:
        """Wait until at least ``count`` binds are live; return them."""
        return self.wait_for(lambda: (len(self.binds) >= count) and self.binds, timeout)

    # -- test controls ----------------------------------------------------
    def drop_sessions(self) -> int:
        """Close every agent connection abruptly (no GOAWAY, no close_notify); return how many."""
        with self._cond:
            sessions = list(self._sessions.values())
        for session in sessions:
            session.close("dropped by test")
        self._event(f"dropped {len(sessions)} sessions")
        return len(sessions)

    def refuse_connections(self, flag: bool = True) -> None:
        """While set, new TCP connections to the tunnel port are closed at once."""
        with self._cond:
            self._refusing = bool(flag)

    def _server_rpc(self, stream_type: int, request: Any, timeout: float) -> List[Any]:
        with self._cond:
            sessions = [s for s in self._sessions.values() if s.authenticated]
        answers = []
        for session in sessions:
            try:
                answers.append(session.rpc(stream_type, request, timeout))
            except (OSError, ValueError) as exc:
                answers.append({"Error": f"rpc failed: {exc!r}"})
        return answers

    def send_stop(self, timeout: float = 5.0) -> List[Any]:
        """Ask every authenticated agent to stop; return their answers."""
        return self._server_rpc(STREAM_STOP, {}, timeout)

    def send_restart(self, timeout: float = 5.0) -> List[Any]:
        """Ask every authenticated agent to restart itself; return their answers."""
        return self._server_rpc(STREAM_RESTART, {}, timeout)

    def send_update(self, timeout: float = 5.0) -> List[Any]:
        """Ask every authenticated agent to update; return their answers."""
        return self._server_rpc(STREAM_UPDATE, {"Version": "", "PermitMajorVersion": False}, timeout)

    # -- agent connections ------------------------------------------------
    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                sock, _ = listener.accept()
            except OSError:
                return  # closed (shutdown wakes accept)
            with self._cond:
                refuse = self._refusing or self._closed
            if refuse:
                _close_socket(sock)
                self._event("refused a connection")
                continue
            if not self._threads.spawn("agent-conn", self._serve_agent, sock):
                _close_socket(sock)

    def _serve_agent(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # the agent heartbeats every 10 s, so a read idle for 60 s means it is gone
        conn = TLSConnection(sock, self._tls_context, io_timeout=60.0)
        with self._cond:
            if self._closed:
                _close_socket(sock)
                return
            self._handshaking.add(conn)
        try:
            conn.handshake(10.0)
        except (OSError, ValueError) as exc:
            self._event(f"TLS handshake failed: {exc!r}")
            conn.abort()
            return
        finally:
            with self._cond:
                self._handshaking.discard(conn)
        with self._cond:
            if self._closed:
                conn.abort()
                return
            self._serial += 1
            session = Session(self, conn, self._serial)
            self._sessions[session.serial] = session
            self._cond.notify_all()
        self._event(f"session {session.serial}: connected from {session.peer} ({conn.version})")
        session.run()

    def _session_ended(self, session: Session) -> None:
        with self._cond:
            if self._sessions.get(session.serial) is not session:
                return
            del self._sessions[session.serial]
            edges = []
            for record in self._records.values():
                if record.session is session:
                    record.session = None
                    if record.edge is not None:
                        edges.append(record.edge)
                        record.edge = None
            self._cond.notify_all()
        for edge in edges:
            edge.close()
        self._event(f"session {session.serial}: ended ({session.close_reason})")

    def _serve_agent_stream(self, session: Session, stream: Stream) -> None:
        try:
            stream_type = _U32.unpack(stream.recv_exact(4, 10.0))[0]
            if stream_type == STREAM_HEARTBEAT:
                self._heartbeat(stream)
                return
            handlers = {STREAM_AUTH: self._on_auth, STREAM_BIND: self._on_bind, STREAM_UNBIND: self._on_unbind}
            handler = handlers.get(stream_type)
            if handler is None:
                self._event(f"session {session.serial}: refused stream type {stream_type}")
                stream.reset(ERR_STREAM_REFUSED)
                return
            request = read_json_message(stream, 10.0)
            response = handler(session, request)
            stream.sendall(encode_json_message(response), 10.0)
            stream.close()
        except (OSError, ValueError) as exc:
            self._event(f"session {session.serial}: stream {stream.id} failed: {exc!r}")
            stream.reset(ERR_STREAM_CANCELLED)

    def _heartbeat(self, stream: Stream) -> None:
        """Echo every 4-byte nonce (unless ``echo_heartbeats`` is off); ends with the stream."""
        while True:
            try:
                nonce = stream.recv_exact(4, None)
            except StreamError:
                return
            if self.echo_heartbeats:
                stream.sendall(nonce, 10.0)

    # -- RPC handlers -----------------------------------------------------
    def _on_auth(self, session: Session, request: Dict[str, Any]) -> Dict[str, Any]:
        extra = request.get("Extra") or {}
        token = str(extra.get("Authtoken", ""))
        with self._cond:
            self._auth_requests.append(copy.deepcopy(request))
        error = ""
        if self.reject_auth_error:
            error = self.reject_auth_error
        elif "2" not in (request.get("Version") or []):
            error = "unsupported protocol versions {!r}\n\nERR_NGROK_120\n".format(request.get("Version"))
        elif self.required_authtoken is not None and token != self.required_authtoken:
            error = ERR_NGROK_105_TEXT % token
        if error:
            self._event(f"session {session.serial}: auth rejected")
            return {"Version": "", "ClientId": "", "Error": error, "Extra": {}}
        client_id = str(request.get("ClientId") or "") or secrets.token_hex(16)
        with self._cond:
            session.client_id = client_id
            session.auth_request = request
            session.authenticated = True
            self._cond.notify_all()
        self._event(f"session {session.serial}: authenticated client {client_id}")
        return {
            "Version": "2",
            "ClientId": client_id,
            "Error": "",
            "Extra": {
                "Version": "pyngrok-test-server",
                "Region": "us",
                "Cookie": secrets.token_hex(16),
                "AccountName": "Test Account",
                "SessionDuration": 0,
                "PlanName": "Free",
                "Banner": "",
            },
        }

    def _bind_error(self, request: Dict[str, Any], text: str) -> Dict[str, Any]:
        return {
            "Id": "",
            "URL": "",
            "Proto": request.get("Proto", ""),
            "Opts": request.get("Opts"),
            "Error": text,
            "Extra": {"Token": "", "TunnelID": ""},
        }

    def _on_bind(self, session: Session, request: Dict[str, Any]) -> Dict[str, Any]:
        if not session.authenticated:
            return self._bind_error(request, "session not authenticated\n\nERR_NGROK_4018\n")
        proto = request.get("Proto")
        if proto not in SUPPORTED_PROTOS:
            return self._bind_error(request, f"unsupported tunnel protocol {proto!r}")
        opts = dict(request.get("Opts") or {})
        extra = request.get("Extra") or {}
        bind_id = str(request.get("Id") or "")
        wanted: Optional[int] = None
        stale_edge: Optional[_Edge] = None
        with self._cond:
            previous = self._records.get(bind_id) if bind_id else None
            if previous is not None and previous.proto != proto:
                previous = None
            live_ports = {r.port: r for r in self._records.values() if r.edge is not None and r is not previous}
            if previous is not None:
                wanted, strict = previous.port, False  # a re-bind after reconnect: same port if free
                stale_edge, previous.edge, previous.session = previous.edge, None, None
            else:
                wanted = _parse_loopback_port(opts.get("Addr" if proto == "tcp" else "Hostname"))
                strict = wanted is not None
                twin_of = live_ports.get(wanted) if proto == "http" and wanted is not None else None
                if twin_of is not None and twin_of.proto == "https":
                    wanted, strict = None, False  # the http twin of an https bind gets its own port
            if wanted is not None and wanted in live_ports:
                if strict:
                    return self._bind_error(request, ERR_NGROK_334_TEXT % (f"127.0.0.1:{wanted}"))
                wanted = None
        if stale_edge is not None:
            stale_edge.close()  # the old session still held it: the new one takes over
        listener = self._listen(wanted)
        if listener is None and strict:
            return self._bind_error(request, ERR_NGROK_334_TEXT % (f"127.0.0.1:{wanted}"))
        if listener is None:
            listener = self._listen(None)
        if listener is None:
            return self._bind_error(request, "cannot open a public listener")
        port = listener.getsockname()[1]
        if proto == "tcp":
            opts["Addr"] = f"127.0.0.1:{port}"
        else:
            opts["Hostname"] = f"127.0.0.1:{port}"
        with self._cond:
            if previous is not None:
                record = previous
                record.port, record.opts = port, opts
                record.token = str(extra.get("Token") or record.token)
            else:
                record = _BindRecord(
                    id="bind_" + secrets.token_hex(8),
                    proto=proto,
                    port=port,
                    opts=opts,
                    auth=str(opts.get("Auth") or ""),
                    token=secrets.token_hex(16),
                    tunnel_id=secrets.token_hex(12),
                )
                self._records[record.id] = record
            if proto in ("http", "https"):
                edge: _Edge = _HttpEdge(self, record, listener, tls=(proto == "https"))
            else:
                edge = _Edge(self, record, listener)
            if session.closed or self._closed:
                _close_socket(listener)
                return self._bind_error(request, "session closed")
            record.session, record.edge = session, edge
            self._cond.notify_all()
        edge.start()
        self._event(f"session {session.serial}: bound {record.url} ({record.id}){' auth' if record.auth else ''}")
        return {
            "Id": record.id,
            "URL": record.url,
            "Proto": proto,
            "Opts": opts,
            "Error": "",
            "Extra": {"Token": record.token, "TunnelID": record.tunnel_id},
        }

    def _listen(self, port: Optional[int]) -> Optional[socket.socket]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port or 0))
            sock.listen(64)
        except OSError:
            sock.close()
            return None
        return sock

    def _on_unbind(self, session: Session, request: Dict[str, Any]) -> Dict[str, Any]:
        bind_id = str(request.get("Id") or "")
        with self._cond:
            record = self._records.get(bind_id)
            if record is None or record.session is not session:
                return {"Error": f"tunnel {bind_id} not found", "Extra": None}
            del self._records[bind_id]
            edge, record.edge, record.session = record.edge, None, None
            self._cond.notify_all()
        if edge is not None:
            edge.close()
        self._event(f"session {session.serial}: unbound {record.url}")
        return {"Error": "", "Extra": None}


# --------------------------------------------------------------------------
# certificates and agent config
# --------------------------------------------------------------------------


def _openssl(args: List[str], cwd: str) -> None:
    result = subprocess.run(
        ["openssl", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
    )
    if result.returncode != 0:
        raise RuntimeError("openssl {} failed: {}".format(args[0], result.stdout.decode("utf-8", "replace")))


def make_ca_and_cert(directory: str) -> Tuple[str, str, str]:
    """Create a fresh CA and a server cert (SAN IP:127.0.0.1, DNS:localhost) with the openssl CLI.

    Returns (ca_pem_path, cert_path, key_path).  ECDSA P-256, valid for 30 days.
    """
    directory = os.path.abspath(str(directory))
    os.makedirs(directory, exist_ok=True)
    ca_key, ca_pem = "tunnel-ca.key", "tunnel-ca.pem"
    key, csr, cert, ext = "tunnel-server.key", "tunnel-server.csr", "tunnel-server.pem", "tunnel-server.ext"
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        [
            "req",
            "-x509",
            *ec,
            "-keyout",
            ca_key,
            "-out",
            ca_pem,
            "-days",
            "30",
            "-subj",
            "/CN=pyngrok test tunnel CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        directory,
    )
    _openssl(["req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"], directory)
    with open(os.path.join(directory, ext), "w") as handle:
        handle.write(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid:always\n"
        )
    _openssl(
        [
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca_pem,
            "-CAkey",
            ca_key,
            "-set_serial",
            str(int.from_bytes(os.urandom(8), "big") >> 1),
            "-days",
            "30",
            "-sha256",
            "-extfile",
            ext,
            "-out",
            cert,
        ],
        directory,
    )
    for name in (csr, ext):
        os.remove(os.path.join(directory, name))
    return tuple(os.path.join(directory, n) for n in (ca_pem, cert, key))  # type: ignore[return-value]


def agent_overlay_config(server: TunnelServer, directory: str, name: str = "tunnel-overlay.yml") -> str:
    """Write the second agent config (server_addr, root_cas, ...) and return its path.

    Use as ``ngrok start ... --config user.yml --config <this file>``.
    """
    path = os.path.join(os.path.abspath(str(directory)), name)
    lines = [
        f"server_addr: {json.dumps(server.addr)}",
        f"root_cas: {json.dumps(os.path.abspath(server.ca_path))}",
        "update_check: false",
        "console_ui: false",
    ]
    with open(path, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    return path
