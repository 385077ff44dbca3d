"""Every shared test helper: free ports, waiting, local servers (HTTP, TCP and TLS echo), requests and echoes
through tunnels, session-event recording, processes, and the agent config that points the real ngrok 2.3.41
agent at our tunnel server.

Requests go through ``http.client`` (no environment proxy can get in the way), and an echo is read whole
before its connection closes, because the 2.3.41 agent ends a joined connection as soon as either side
half-closes.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import http.server
import json
import logging
import math
import os
import random
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple
from urllib.parse import urlsplit

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    """A free loopback port for something else to bind later, from below the kernel's ephemeral range.

    A port from ``bind(0)`` comes from that range, where any outgoing connection (of this run, or of another
    run beside it) may take it as its local port before the agent binds it. Below the range only a listener
    can take it, and the pick is random.
    """
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as port_range:
            low = int(port_range.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    candidates = list(range(max(1024, low - 12000), low))
    for port in random.sample(candidates, min(200, len(candidates))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port below the ephemeral range")


def default_sigint() -> None:
    """For ``preexec_fn``: a child that gets SIGINT must see Python's usual KeyboardInterrupt, even when the test
    run itself ignores SIGINT (as a background job of a non-interactive shell does, e.g. under CI)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


def python_child(script: str, cwd: Optional[str] = None, stdin: Any = subprocess.DEVNULL) -> "subprocess.Popen[bytes]":
    """``script`` run by this Python in a child process that imports this checkout's pyngrok, with its stdout and
    stderr piped and Python's usual SIGINT handling (see ``default_sigint``)."""
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=cwd,
        env=dict(os.environ, PYTHONPATH=REPO_ROOT),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=default_sigint,
    )


def port_refuses(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except OSError:
        return True


def process_state(pid: int) -> str:
    """The state letter of process ``pid`` in /proc (``R``, ``S``, ``Z``...), or ``""`` once it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    return process_state(pid) not in ("", "Z")


class LoopTicker:
    """Counts the turns of the running asyncio loop, one per ``interval`` at most, until ``stop()``: a call that
    blocks the loop stops the count while it runs."""

    def __init__(self, interval: float) -> None:
        self.ticks = 0
        self._task = asyncio.ensure_future(self._tick(interval))

    async def _tick(self, interval: float) -> None:
        while True:
            self.ticks += 1
            await asyncio.sleep(interval)

    def stop(self) -> int:
        self._task.cancel()
        return self.ticks


class LoopbackListener:
    """A TCP listener on a free loopback port whose thread accepts connections and hands each to ``serve``
    (in a thread of its own with ``threaded``). ``close()`` wakes the accept and joins the thread."""

    def __init__(
        self, serve: Callable[[socket.socket], None], threaded: bool = False, name: str = "loopback-listener"
    ) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = int(self.listener.getsockname()[1])
        self._handle, self._threaded, self._name = serve, threaded, name
        self.thread = threading.Thread(target=self._accept_all, name=name, daemon=True)
        self.thread.start()

    def _accept_all(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self._threaded:
                threading.Thread(target=self._handle, args=(connection,), name=self._name, daemon=True).start()
            else:
                self._handle(connection)

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        self.listener.close()
        self.thread.join(5)


class BlackHole:
    """A loopback TCP listener that never accepts: a connection completes in the kernel, then hears nothing."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.addr = f"127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> "BlackHole":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class LoopbackServer:
    """A ``socketserver`` server on a free loopback port, served from a thread until ``close()``."""

    def __init__(self, server: socketserver.TCPServer) -> None:
        self.server = server
        self.server.daemon_threads = True  # type: ignore[attr-defined]
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class LocalSite(LoopbackServer):
    """A real ``http.server`` on loopback serving a page, counting the requests it gets."""

    def __init__(self, directory: str, page: str = "hello from the local site\n") -> None:
        with open(os.path.join(directory, "index.html"), "w", encoding="utf-8") as index:
            index.write(page)
        self.page = page
        self.hits: List[str] = []
        site = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args: object, **kwargs: object) -> None:
                super().__init__(*args, directory=directory, **kwargs)  # type: ignore[arg-type]

            def do_GET(self) -> None:
                site.hits.append(self.path)
                super().do_GET()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                site.hits.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))


class EchoServer(LoopbackServer):
    """A TCP server on loopback that echoes every byte back."""

    def __init__(self) -> None:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                while True:
                    data = self.request.recv(65536)
                    if not data:
                        return
                    self.request.sendall(data)

        super().__init__(socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler))


def children_of(pid: int) -> Iterator[int]:
    """PIDs whose parent is ``pid`` (live, non-zombie)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            yield int(entry)


def loopback_up() -> None:
    """Bring up ``lo`` in this process's network namespace (a new namespace starts with it down)."""
    import fcntl
    import struct

    get_flags, set_flags, up = 0x8913, 0x8914, 0x1  # SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP (linux/sockios.h, if.h)
    with socket.socket() as control:
        request = struct.pack("16sH22x", b"lo", 0)  # struct ifreq: the name, then the flags
        flags = struct.unpack("16sH22x", fcntl.ioctl(control, get_flags, request))[1]
        fcntl.ioctl(control, set_flags, struct.pack("16sH22x", b"lo", flags | up))


def own_network_command(*argv: str) -> Optional[List[str]]:
    """``argv`` run in a network namespace of its own (``unshare``, as root or in a user namespace), where no
    other program can hold or free a port; None when this system cannot make one."""
    prefix = ["unshare", "--net", "--map-root-user"]
    try:
        works = subprocess.run([*prefix, "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    except OSError:
        works = False
    return [*prefix, *argv] if works else None


def in_forked_child(work: Callable[[], bytes]) -> bytes:
    """What ``work()`` returns when run in a forked child, which then leaves without the parent's exit handlers."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Python 3.12+ warns about a fork in a process with threads: the very case these tests are about.
        warnings.filterwarnings("ignore", "This process .* is multi-threaded", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            os.write(write_end, work())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as child:
        answer = child.read()
    os.waitpid(pid, 0)
    return answer


def read_cmdline(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


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


def real_agent_config(ngrok_path: str, config_path: str, **options: Any) -> Any:
    """A ``PyngrokConfig`` for the real ngrok 2.3.41 agent and a v2 config such as ``write_agent_config`` writes:
    the v2 agent and config, an authtoken (our tunnel server takes any), a 10 s start; ``options`` override."""
    import pyngrok  # not at the top: some programs import helpers before their network is up

    settings: Dict[str, Any] = dict(
        ngrok_path=ngrok_path,
        config_path=config_path,
        ngrok_version="2",
        config_version="2",
        auth_token="anything",
        startup_timeout=10,
    )
    settings.update(options)
    return pyngrok.PyngrokConfig(**settings)


def public_port(public_url: Optional[str]) -> int:
    """The port of a public URL such as ``https://127.0.0.1:40123`` or ``tcp://127.0.0.1:40123``."""
    assert public_url, "the tunnel has no public URL"
    port = urlsplit(public_url).port
    if port is None:
        raise ValueError(f"no port in {public_url!r}")
    return port


def http_request(
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


class TLSEchoServer(LoopbackListener):
    """A loopback TLS server that echoes what it receives, with its own certificate.

    ``peers`` lists the TLS versions of the handshakes it completed, which shows the TLS session really
    ended here and not at some edge in between.
    """

    def __init__(self, cert_path: str, key_path: str) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(cert_path, key_path)
        self.handshakes: List[str] = []
        self._threads: List[threading.Thread] = []
        self._lock = threading.Lock()
        super().__init__(self._start_serving, name="tls-echo-accept")

    def _start_serving(self, conn: socket.socket) -> None:
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
        super().close()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(5)


def counting_agent(directory: str, fake_ngrok_path: str, spawn_log: str) -> str:
    """An ``ngrok`` that notes each time it is started (a line in ``spawn_log``), then runs the fake agent."""
    path = os.path.join(directory, "counting-ngrok")
    with open(path, "w", encoding="utf-8") as script:
        script.write(f'#!/bin/sh\necho started >> "{spawn_log}"\nexec "{fake_ngrok_path}" "$@"\n')
    os.chmod(path, 0o755)
    return path


class LogHook(logging.Filter):
    """Runs ``hook(record)`` in the thread of each record the library logs on one of its loggers, debug ones too.

    A hook that waits holds that thread at that point of its work, so a test can put an event (the agent's
    death, a restart) exactly there, as a busy machine's thread scheduling may. Used as a context manager; the
    hook must not raise (it would raise from the library's call).
    """

    def __init__(self, logger_name: str, hook: Callable[[logging.LogRecord], None]) -> None:
        super().__init__()
        self.logger = logging.getLogger(logger_name)
        self.hook = hook
        self.level = self.logger.level

    def filter(self, record: logging.LogRecord) -> bool:
        self.hook(record)
        return True

    def __enter__(self) -> "LogHook":
        self.logger.setLevel(logging.DEBUG)
        self.logger.addFilter(self)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.logger.removeFilter(self)
        self.logger.setLevel(self.level)


class LogGate(LogHook):
    """Holds the first thread whose record ``holds(record)`` (at that log call) until the gate opens: by
    ``open()``, or by a record for which ``opened_by(record)``. ``reached`` is set when a thread is held."""

    def __init__(
        self,
        logger_name: str,
        holds: Callable[[logging.LogRecord], bool],
        opened_by: Callable[[logging.LogRecord], bool] = lambda record: False,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(logger_name, self._check)
        self.holds, self.opened_by, self.timeout = holds, opened_by, timeout
        self.reached, self.opened = threading.Event(), threading.Event()

    def _check(self, record: logging.LogRecord) -> None:
        if self.opened_by(record):
            self.opened.set()
        elif not self.reached.is_set() and self.holds(record):
            self.reached.set()
            self.opened.wait(self.timeout)

    def open(self) -> None:
        self.opened.set()

    def __exit__(self, *exc_info: Any) -> None:
        self.opened.set()
        super().__exit__(*exc_info)


def answer_to(name: str, record: logging.LogRecord) -> bool:
    """Whether a record is the library's log of an agent's answer about tunnel ``name`` (the one creating it)."""
    message = record.getMessage()
    return message.startswith("Response 20") and f'"name":"{name}"' in message.replace(" ", "")


def connect_across_a_crash(
    port: int, name: str, pyngrok_config: Any, while_down: Callable[[], None] = lambda: None
) -> Any:
    """``connect(port, name=name)`` whose answer the agent gives just before it is killed (SIGKILL): the
    connecting thread is held at its log of the answer, before it notes the tunnel, as a busy machine may hold
    it. ``while_down`` runs once the death is reported (the agent is down, under supervision); the thread goes
    on once supervision has restarted the agent and re-opened the tunnels it knew of. Returns the tunnel."""
    import pyngrok  # not at the top: some programs import helpers before their network is up

    first = pyngrok.get_ngrok_process(pyngrok_config)
    held = LogGate(
        "pyngrok.ngrok", lambda record: record.threadName.startswith("connecting") and answer_to(name, record)
    )
    with held, ThreadPoolExecutor(1, "connecting") as pool:
        connecting = pool.submit(pyngrok.connect, str(port), name=name, pyngrok_config=pyngrok_config)
        assert held.reached.wait(10)
        os.kill(first.proc.pid, signal.SIGKILL)
        assert wait_for(first._exited.is_set, 10)  # dead, and under supervision
        while_down()
        assert wait_for(lambda: pyngrok._supervisors == {}, 20)  # restarted, its tunnels re-opened
        held.open()
        return connecting.result(timeout=30)


class HTTPStatusError(OSError):
    """A page was asked for and something else came back: an OSError, as a refused connection is, so that
    loops that retry until a tunnel serves again treat both alike."""


def fetch(url: str, ca_path: Optional[str] = None, timeout: float = 5.0) -> str:
    """GET ``url`` and return the text of its 200 answer (HTTPS trusts only ``ca_path``)."""
    status, body = http_request(url, ca_path, timeout=timeout)
    if status != 200:
        raise HTTPStatusError(f"GET {url} answered {status}: {body[:200]!r}")
    return body.decode("utf-8")


def same_value(one: Any, two: Any) -> bool:
    """Equality that treats NaN as equal to NaN and keeps bool and int apart."""
    if isinstance(one, float) and isinstance(two, float) and math.isnan(one) and math.isnan(two):
        return True
    if type(one) is not type(two) and not (isinstance(one, (list, tuple)) and isinstance(two, (list, tuple))):
        return False
    if isinstance(one, dict):
        # Item by item, in order: a NaN key is equal to nothing, itself included.
        return len(one) == len(two) and all(
            same_value(key_one, key_two) and same_value(value_one, value_two)
            for (key_one, value_one), (key_two, value_two) in zip(one.items(), two.items())
        )
    if isinstance(one, (list, tuple)):
        return len(one) == len(two) and all(same_value(a, b) for a, b in zip(one, two))
    return bool(one == two)


def sha256_of(path: str) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_text(path: str) -> str:
    """The file's text exactly as stored (line breaks untranslated)."""
    with open(path, encoding="utf-8", newline="") as handle:
        return handle.read()


class Recorder:
    """A session_callback that keeps every event, the thread it came on and the monotonic time it arrived."""

    def __init__(self) -> None:
        self.events: List[Any] = []
        self.threads: List[str] = []
        self.arrived: List[float] = []
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self._lock:
            self.events.append(event)
            self.threads.append(threading.current_thread().name)
            self.arrived.append(time.monotonic())

    def states(self) -> List[str]:
        with self._lock:
            return [event.state for event in self.events]

    def reasons(self, state: str) -> List[str]:
        with self._lock:
            return [str(event.reason) for event in self.events if event.state == state]

    def wait_for_state(self, state: str, timeout: float = 10.0, count: int = 1) -> float:
        """Wait until ``state`` has been reported ``count`` times; return when the last of them arrived."""
        if not wait_for(lambda: self.states().count(state) >= count, timeout):
            raise AssertionError(f"state {state!r} x{count} not reported within {timeout} s: {self.states()}")
        with self._lock:
            return [at for event, at in zip(self.events, self.arrived) if event.state == state][count - 1]
