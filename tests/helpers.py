"""Shared test helpers: free ports, a local HTTP server that counts hits, a TCP echo server, processes."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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


class LocalSite:
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

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class EchoServer:
    """A TCP server on loopback that echoes every byte back."""

    def __init__(self) -> None:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                while True:
                    data = self.request.recv(65536)
                    if not data:
                        return
                    self.request.sendall(data)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def echo_through(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(payload)
        received = b""
        while len(received) < len(payload):
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


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


def read_cmdline(pid: int) -> Optional[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return None


def publish_fault_rows(section: str, rows: List[Dict[str, Any]]) -> None:
    """Store a module's rows and rebuild .cache/fault_table.md from every module's rows."""
    directory = os.path.join(REPO_ROOT, ".cache", "fault_rows")
    os.makedirs(directory, exist_ok=True)
    python = ".".join(map(str, sys.version_info[:3]))
    stored_path = os.path.join(directory, f"{section}.json")
    staging = f"{stored_path}.{os.getpid()}.tmp"  # runs on several Pythons at once: readers see whole files
    with open(staging, "w", encoding="utf-8") as handle:
        json.dump({"python": python, "when": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, handle, indent=1)
    os.replace(staging, stored_path)
    lines = ["| fault | outcome | seconds | leftovers |", "| --- | --- | ---: | --- |"]
    notes = []
    for name in ("faults", "soak", "fuzz"):
        path = os.path.join(directory, f"{name}.json")
        if not os.path.exists(path):
            continue
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
        notes.append(f"{name}: Python {stored['python']}, {stored['when']}")
        for row in stored["rows"]:
            outcome = str(row["outcome"]).replace("|", "\\|").replace("\n", " ")
            lines.append(f"| {row['fault']} | {outcome} | {row['seconds']} | {row['leftovers']} |")
    table = os.path.join(REPO_ROOT, ".cache", "fault_table.md")
    with open(f"{table}.{os.getpid()}.tmp", "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n\nRuns: " + "; ".join(notes) + "\n")
    os.replace(f"{table}.{os.getpid()}.tmp", table)
