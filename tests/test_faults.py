"""Fault injection against real agents: every fault ends in success or a clear PyngrokError, within
the configured timeouts, with no agent left, no config or binary touched, and no secret disclosed.

Each test measures its time to outcome and checks for leftovers (child processes, registered agents, overlay
directories, supervisors, changes to the config file or the binary). Its row (fault, outcome, seconds,
leftovers) goes with the test's result; ``make reports`` makes .cache/fault_table.md of them.

Most faults come from the fake agent's ``FAKE_NGROK_*`` switches. A few need output no switch gives (a
pathological log line mid-session, an agent that echoes its authtoken, a record of every argv): for those
``ngrok`` is a small wrapper, written in the test's tmp_path, that does its part and then execs the fake agent.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import urllib.request
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

import pyngrok
from helpers import (
    REPO_ROOT,
    children_of,
    fetch,
    free_port,
    pid_alive,
    python_child,
    read_cmdline,
    read_text,
    sha256_of,
    wait_for,
)
from pyngrok.conf import PyngrokConfig
from pyngrok.exception import PyngrokError, PyngrokNgrokError, PyngrokNgrokHTTPError, PyngrokNgrokURLError

TOKEN = "2faultTOKEN_abcdefghijklmnop0123456789"
API_KEY = "apikeyFAULT_zyxwvutsrqponm9876543210"

REPORT_TABLE = "faults"
REPORT_ROWS: List[Dict[str, Any]] = []  # see conftest.py


def overlay_dirs() -> set:
    """pyngrok's private dirs in the temp dir (private to each test: see ``_private_tempdir``)."""
    directory = tempfile.gettempdir()
    return {name for name in os.listdir(directory) if name.startswith("pyngrok-")}


@pytest.fixture(autouse=True)
def _private_tempdir(tmp_path: Any, monkeypatch: Any) -> Iterator[str]:
    """Overlays go to a temp dir of the test's own, so that other processes' files are never counted."""
    directory = tmp_path / "tmp"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    yield str(directory)


class Scene:
    """One fault: what was there before, the clock, and the leftovers check at the end."""

    def __init__(self, configs: List[PyngrokConfig]) -> None:
        self.configs = configs
        self.overlays_before = overlay_dirs()
        self.files = {}
        for config in configs:
            for path in (str(config.config_path), config.ngrok_path):
                if os.path.exists(path):
                    self.files[path] = sha256_of(path)
        self.started = time.monotonic()
        self.seconds: Optional[float] = None

    def mark(self) -> float:
        """The time to outcome: call when the outcome is in."""
        self.seconds = time.monotonic() - self.started
        return self.seconds

    def restart_clock(self) -> None:
        self.started = time.monotonic()

    def leftovers(self) -> List[str]:
        for config in self.configs:
            pyngrok.kill(config)
        found = []
        if not wait_for(lambda: list(children_of(os.getpid())) == [], 10):
            found.append(f"child processes {list(children_of(os.getpid()))}")
        with pyngrok._current_processes_lock:
            if pyngrok._current_processes:
                found.append(f"registered agents {list(pyngrok._current_processes)}")
        if pyngrok._supervisors:
            found.append(f"supervisors {list(pyngrok._supervisors)}")
        new_overlays = overlay_dirs() - self.overlays_before
        if new_overlays:
            found.append(f"overlay dirs {sorted(new_overlays)}")
        for path, digest in self.files.items():
            if not os.path.exists(path) or sha256_of(path) != digest:
                found.append(f"{path} changed")
        for config in self.configs:
            config_path = str(config.config_path)
            if os.path.exists(config_path):
                try:
                    pyngrok._yaml_load(read_text(config_path), config_path)
                except PyngrokError as error:
                    found.append(f"config no longer parses: {error}")
                directory = os.path.dirname(config_path)
                temps = [name for name in os.listdir(directory) if name.endswith(".tmp")]
                if temps:
                    found.append(f"temp files {temps}")
        return found

    def finish(self, fault: str, outcome: str, limit: Optional[float] = None) -> None:
        seconds = self.seconds if self.seconds is not None else self.mark()
        found = self.leftovers()
        REPORT_ROWS.append(
            {
                "fault": fault,
                "outcome": outcome,
                "seconds": round(seconds, 3),
                "leftovers": "; ".join(found) if found else "none",
            }
        )
        assert not found, f"{fault}: leftovers {found}"
        if limit is not None:
            assert seconds < limit, f"{fault}: {seconds:.2f}s to outcome, limit {limit}s"


@pytest.fixture
def scene(pyngrok_config: PyngrokConfig) -> Iterator[Callable[..., Scene]]:
    made: List[Scene] = []

    def make(*configs: PyngrokConfig) -> Scene:
        made.append(Scene(list(configs) or [pyngrok_config]))
        return made[-1]

    yield make
    for each in made:
        for config in each.configs:
            pyngrok.kill(config)


WRAPPER = '''\
#!{python}
"""A wrapper around the fake agent for one test: records argv, writes extra lines, then execs the agent."""
import json, os, sys, time
argv_log = os.environ.get("WRAP_ARGV_LOG")
if argv_log:
    with open(argv_log, "a") as handle:
        handle.write(json.dumps(sys.argv) + "\\n")
extra = os.environ.get("WRAP_LINE_HEX")
extra = bytes.fromhex(extra) if extra else None
if os.environ.get("WRAP_LINE_FILE"):
    with open(os.environ["WRAP_LINE_FILE"], "rb") as handle:
        extra = handle.read()
if extra and sys.argv[1:2] == ["start"]:
    gate = os.environ.get("WRAP_LINE_GATE")  # mid-session: the line waits until the test creates this file
    if gate and os.fork() == 0:
        deadline = time.monotonic() + 60
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.write(1, extra)
        os._exit(0)
    if not gate:
        view = memoryview(extra)
        while view:
            view = view[os.write(1, view):]
os.execv({fake!r}, [{fake!r}] + sys.argv[1:])
'''


def make_wrapper(directory: str, fake_ngrok_path: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "ngrok")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(WRAPPER.format(python=sys.executable, fake=fake_ngrok_path))
    os.chmod(path, 0o755)
    return path


def config_like(pyngrok_config: PyngrokConfig, **changes: Any) -> PyngrokConfig:
    values = dict(ngrok_path=pyngrok_config.ngrok_path, config_path=pyngrok_config.config_path, startup_timeout=10)
    values.update(changes)
    return PyngrokConfig(**values)


# --- the agent fails to start ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault, timeout, expected",
    [
        ("error", 10, "ERR_NGROK_105"),
        ("stderr_error", 10, "mapping values are not allowed"),
        # The agent retries its session until startup_timeout: the error says what it retried on. Its first
        # failure comes at its start (a fraction of a second even on a loaded machine), well within 1 s.
        ("reconnect_fail", 1, "unable to start within 1 seconds. Its last error: "),
        # Hung agents: nothing they do ends the wait, so a short timeout proves it as well as a long one.
        ("silent", 0.5, "unable to start within 0.5 seconds"),
        ("hang_after_web", 0.5, "unable to start within 0.5 seconds"),
    ],
)
def test_agent_that_fails_to_start(
    pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any, fault: str, timeout: float, expected: str
) -> None:
    """Exits at once, prints nothing and hangs, hangs after its web service line, never gets a session: a
    PyngrokNgrokError within the startup timeout (plus the SIGTERM grace), with the agent's words."""
    monkeypatch.setenv("FAKE_NGROK_STARTUP", fault)
    pyngrok_config.startup_timeout = timeout
    pyngrok_config.auth_token = TOKEN
    current = scene()
    with pytest.raises(PyngrokNgrokError) as raised:
        pyngrok.connect("8000", pyngrok_config=pyngrok_config)
    current.mark()
    assert expected in str(raised.value) or expected in (raised.value.ngrok_error or "")
    if fault == "reconnect_fail":
        assert "no such host" in (raised.value.ngrok_error or "") and "no such host" in str(raised.value)
    assert TOKEN not in str(raised.value) and TOKEN not in repr(raised.value)
    assert list(children_of(os.getpid())) == []
    current.finish(
        f"agent startup: {fault} (startup_timeout={timeout})",
        f"{type(raised.value).__name__}: {str(raised.value)[:90]}",
        limit=timeout + 3.5,
    )


def test_agent_killed_while_starting(pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any) -> None:
    """The agent is killed from outside while it starts: the error comes at once, not at the timeout."""
    monkeypatch.setenv("FAKE_NGROK_STARTUP", "silent")
    pyngrok_config.startup_timeout = 20
    current = scene()
    errors: List[BaseException] = []

    def start() -> None:
        try:
            pyngrok.get_ngrok_process(pyngrok_config)
        except BaseException as error:
            errors.append(error)

    starter = threading.Thread(target=start)
    starter.start()
    assert wait_for(lambda: len(list(children_of(os.getpid()))) == 1, 10)
    time.sleep(0.3)
    current.restart_clock()
    os.kill(next(iter(children_of(os.getpid()))), signal.SIGKILL)
    starter.join(20)
    current.mark()
    assert len(errors) == 1 and isinstance(errors[0], PyngrokNgrokError), errors
    assert "code -9" in str(errors[0])
    current.finish("agent SIGKILLed during startup", f"PyngrokNgrokError: {str(errors[0])[:80]}", limit=5)


# --- the agent dies or is killed mid-session -----------------------------------------------------------------


def test_agent_killed_mid_session_next_call_restarts(
    pyngrok_config: PyngrokConfig, scene: Any, local_site: Any
) -> None:
    first = pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
    old = pyngrok.get_ngrok_process(pyngrok_config)
    os.kill(old.proc.pid, signal.SIGKILL)
    assert wait_for(lambda: old._exited.is_set(), 5)
    current = scene()
    assert pyngrok.get_tunnels(pyngrok_config) == []  # a fresh agent, with no tunnels
    tunnel = pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
    assert fetch(str(tunnel.public_url)) == local_site.page and tunnel.public_url != first.public_url
    current.mark()
    assert not pid_alive(old.proc.pid)
    current.finish(
        "agent SIGKILLed mid-session, no supervision",
        "next call started a fresh agent; new tunnel carries traffic",
        limit=10,
    )


def test_agent_killed_mid_session_supervision_restarts(
    pyngrok_config: PyngrokConfig, scene: Any, local_site: Any
) -> None:
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.05
    tunnel = pyngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    old_url, old = tunnel.public_url, pyngrok.get_ngrok_process(pyngrok_config)
    current = scene()
    os.kill(old.proc.pid, signal.SIGKILL)
    assert wait_for(lambda: tunnel.public_url != old_url, 15)
    assert fetch(str(tunnel.public_url)) == local_site.page
    current.mark()
    current.finish(
        "agent SIGKILLed mid-session, supervise=True",
        "restarted; the same tunnel object re-opened and carries traffic",
        limit=10,
    )


def test_agent_killed_while_connect_is_in_flight(
    pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any, local_site: Any
) -> None:
    monkeypatch.setenv("FAKE_NGROK_API_DELAY", "30")
    monkeypatch.setenv("FAKE_NGROK_API_DELAY_FROM", "POST")  # the API answers until the tunnel is asked for
    ngrok_process = pyngrok.get_ngrok_process(pyngrok_config)
    errors: List[BaseException] = []

    def connect() -> None:
        try:
            pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
        except BaseException as error:
            errors.append(error)

    def requests_received() -> int:  # the agent logs each API request as it comes in, before its delay
        return sum(1 for entry in list(ngrok_process.logs) if entry.msg == "start")

    before = requests_received()
    current = scene()
    caller = threading.Thread(target=connect)
    caller.start()
    assert wait_for(lambda: requests_received() > before, 10)  # the POST is waiting on the agent
    os.kill(ngrok_process.proc.pid, signal.SIGKILL)
    caller.join(15)
    current.mark()
    assert len(errors) == 1 and isinstance(errors[0], PyngrokNgrokURLError), errors
    monkeypatch.delenv("FAKE_NGROK_API_DELAY")
    monkeypatch.delenv("FAKE_NGROK_API_DELAY_FROM")
    # A call made in the instant after the death may still find the dying agent registered (its sockets close
    # before it can be reaped): it reports the refusal. Once the exit is seen, the next call starts a new agent.
    try:
        pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
        at_once = "works"
    except PyngrokNgrokURLError as error:
        at_once = f"reports {error.reason}"
    assert wait_for(lambda: ngrok_process._exited.is_set(), 5)
    tunnel = pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
    assert fetch(str(tunnel.public_url)) == local_site.page
    current.finish(
        "agent SIGKILLed while connect() is in flight",
        f"{type(errors[0]).__name__}: {str(errors[0])[:60]}; a call right after {at_once}; after the "
        "exit is seen, connect() starts a new agent",
        limit=3,
    )


def test_agent_crash_is_reported(pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_CRASH_AFTER", "0.3")
    events: List[pyngrok.NgrokSessionEvent] = []
    pyngrok_config.session_callback = events.append
    ngrok_process = pyngrok.get_ngrok_process(pyngrok_config)
    current = scene()
    assert wait_for(lambda: any(event.state == "stopped" for event in events), 10)
    current.mark()
    stopped = next(event for event in events if event.state == "stopped")
    assert stopped.reason == "ngrok exited with code 2" and ngrok_process.proc.returncode == 2
    assert not pyngrok.is_process_running(pyngrok_config.ngrok_path)
    current.finish("agent crashes by itself (exit 2)", f"session event stopped: {stopped.reason}", limit=5)


# --- the agent's output ----------------------------------------------------------------------------------------


def test_log_flood_while_the_caller_works(
    pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any, local_site: Any
) -> None:
    """100k log lines with monitoring on and a callback, while tunnels open, list and close."""
    monkeypatch.setenv("FAKE_NGROK_FLOOD", "100000")
    seen = [0]

    def count(entry: pyngrok.NgrokLog) -> None:
        if entry.msg == "flood":
            seen[0] += 1

    pyngrok_config.log_event_callback = count
    pyngrok_config.max_logs = 200
    current = scene()
    ngrok_process = pyngrok.get_ngrok_process(pyngrok_config)
    cycles = 0
    while seen[0] < 100_000 and time.monotonic() - current.started < 30:
        tunnel = pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
        assert tunnel.public_url in [t.public_url for t in pyngrok.get_tunnels(pyngrok_config)]
        pyngrok.disconnect(str(tunnel.public_url), pyngrok_config)
        cycles += 1
    # On a loaded machine the flood can outlast the cycles: what counts is that no line is lost.
    assert wait_for(lambda: seen[0] >= 100_000, timeout=120), f"{seen[0]} of 100,000 flood lines read"
    current.mark()
    assert seen[0] == 100_000 and cycles >= 1
    assert len(ngrok_process.logs) <= 200 and ngrok_process.healthy()
    current.finish(
        "agent floods its log (100k lines), monitor on",
        f"all 100,000 lines read while {cycles} connect/get_tunnels/disconnect cycles ran; logs kept <= max_logs",
    )


def test_non_utf8_and_huge_lines(pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any, local_site: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_BAD_BYTES", "1")
    current = scene()
    ngrok_process = pyngrok.get_ngrok_process(pyngrok_config)
    assert wait_for(
        lambda: any(entry.line.startswith("t=") and "big data=" in entry.line for entry in ngrok_process.logs), 10
    )
    big = next(entry for entry in ngrok_process.logs if "big data=" in entry.line)
    invalid = next(entry for entry in ngrok_process.logs if "invalid utf-8" in entry.line)
    assert len(big.line.encode("utf-8")) <= pyngrok._MAX_LOG_LINE_BYTES and "\ufffd" in invalid.line
    tunnel = pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
    assert fetch(str(tunnel.public_url)) == local_site.page and ngrok_process.healthy()
    current.mark()
    current.finish(
        "agent writes non-UTF-8 bytes and a 1 MB line", "replaced/cut to 64 KB; reading goes on; tunnel works", limit=10
    )


def test_endless_line_without_a_newline(
    fake_ngrok_path: str, config_file: str, tmp_path: Any, scene: Any, monkeypatch: Any
) -> None:
    """8 MB on one line before the agent's first line: cut, not held in memory, and startup goes on."""
    config = PyngrokConfig(
        ngrok_path=make_wrapper(str(tmp_path / "bin"), fake_ngrok_path), config_path=config_file, startup_timeout=10
    )
    line_file = tmp_path / "line.bin"
    line_file.write_bytes(b"x" * (8 * 1024 * 1024) + b"\n")
    monkeypatch.setenv("WRAP_LINE_FILE", str(line_file))
    current = scene(config)
    ngrok_process = pyngrok.get_ngrok_process(config)
    current.mark()
    assert ngrok_process.healthy() and max(len(entry.line) for entry in ngrok_process.logs) <= 64 * 1024
    current.finish("agent writes an 8 MB line", "line cut to 64 KB; the agent starts", limit=10)


def test_pathological_json_log_line_mid_session(
    fake_ngrok_path: str, config_file: str, tmp_path: Any, scene: Any, monkeypatch: Any
) -> None:
    """A JSON log line nested past the json module's recursion limit (found by the logfmt fuzzer): it used to
    kill the stdout reader, so the session was reported stopped while the agent ran and its pipe filled up."""
    config = PyngrokConfig(
        ngrok_path=make_wrapper(str(tmp_path / "bin"), fake_ngrok_path), config_path=config_file, startup_timeout=10
    )
    line = '{"lvl":"eror","msg":' + "[" * 20000 + "]" * 20000 + "}\n"  # 40 KB: under the 64 KB line cap
    monkeypatch.setenv("WRAP_LINE_HEX", line.encode("ascii").hex())
    gate = tmp_path / "write-the-line"
    monkeypatch.setenv("WRAP_LINE_GATE", str(gate))
    events: List[str] = []
    config.session_callback = lambda event: events.append(event.state)
    current = scene(config)
    ngrok_process = pyngrok.get_ngrok_process(config)
    gate.touch()  # the session is online: now the line comes
    # A reader that chokes on it never records it; one that records it and then dies never records the agent's
    # next line, which a new tunnel brings.
    assert wait_for(lambda: any(entry.line.startswith('{"lvl":"eror"') for entry in ngrok_process.logs))
    pyngrok.connect("8000", pyngrok_config=config)
    assert wait_for(lambda: any(entry.msg == "started tunnel" for entry in ngrok_process.logs))
    current.mark()
    reader_alive = ngrok_process._readers[0].is_alive()  # the stdout reader
    state = ngrok_process.session_state
    assert reader_alive and state == "online" and "stopped" not in events, (reader_alive, state, events)
    assert ngrok_process.healthy()
    current.finish(
        "agent writes a JSON log line nested 20000 deep (mid-session)",
        "line kept unparsed; the reader goes on; session stays online",
        limit=5,
    )


# --- the agent's API -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fail, status, succeeds, limit",
    [
        ("503:3", 503, True, 4),
        ("503:1000", 503, False, 4),
        ("502:1", 502, False, 1),
        ("ERR_NGROK_334:1", 502, False, 1),
        ("500:1", 500, False, 1),
    ],
)
def test_api_server_errors_on_create(
    pyngrok_config: PyngrokConfig,
    scene: Any,
    monkeypatch: Any,
    local_site: Any,
    fail: str,
    status: int,
    succeeds: bool,
    limit: float,
) -> None:
    """Only 503 with error_code 104 (the agent's session is coming up) is retried, for startup_timeout at most.

    The back-off between tries is cut to test size: no config option sets it, so the module's own first delay
    is replaced (``monkeypatch`` fails loudly should it be renamed).
    """
    monkeypatch.setattr(pyngrok, "_CREATE_RETRY_FIRST_DELAY", 0.01)
    monkeypatch.setenv("FAKE_NGROK_API_FAIL", fail)
    pyngrok.get_ngrok_process(pyngrok_config)
    pyngrok_config.startup_timeout = 0.5  # the retry budget: the 503s never end, so any budget ends it
    current = scene()
    if succeeds:
        tunnel = pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
        current.mark()
        assert fetch(str(tunnel.public_url)) == local_site.page
        outcome = "retried, then the tunnel opened"
    else:
        with pytest.raises(PyngrokNgrokHTTPError) as raised:
            pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
        current.mark()
        assert raised.value.status_code == status
        if status == 503:  # the agent's not-ready answer, still there when the budget ran out
            assert raised.value.api_error_code == 104
            assert raised.value.ngrok_error == "a successful ngrok tunnel session has not yet been established"
        outcome = f"PyngrokNgrokHTTPError {raised.value.status_code} {raised.value.ngrok_error_code or ''}" + (
            " after retrying for startup_timeout" if status == 503 else ", not retried"
        )
    current.finish(f"API answers {fail.replace(':', ' x')} on create", outcome, limit=limit)


def test_api_hangs_mid_session(pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_API_DELAY", "30")
    monkeypatch.setenv("FAKE_NGROK_API_DELAY_FROM", "POST")  # the API answers until the first tunnel is asked for
    pyngrok.get_ngrok_process(pyngrok_config)
    pyngrok_config.request_timeout = 0.3
    current = scene()
    with pytest.raises(PyngrokNgrokURLError) as raised:
        pyngrok.connect("8000", pyngrok_config=pyngrok_config)
    current.mark()
    assert raised.value.reason == "timed out"
    with pytest.raises(PyngrokNgrokURLError):
        pyngrok.get_tunnels(pyngrok_config)
    current.finish(
        "API hangs (30 s) from the first tunnel creation on, request_timeout=0.3",
        "PyngrokNgrokURLError: timed out",
        limit=1,
    )


def test_api_hangs_from_the_start(pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_API_DELAY", "30")  # longer than the whole startup_timeout, whatever the load
    pyngrok_config.startup_timeout = 0.5
    pyngrok_config.request_timeout = 0.3
    current = scene()
    with pytest.raises(PyngrokNgrokError) as raised:
        pyngrok.get_ngrok_process(pyngrok_config)
    current.mark()
    assert "unable to start within 0.5 seconds" in str(raised.value)
    current.finish(
        "API hangs from the start (startup_timeout=0.5)",
        "PyngrokNgrokError: unable to start within 0.5 seconds",
        limit=0.5 + 3.5,
    )


def test_api_answers_invalid_json(pyngrok_config: PyngrokConfig, scene: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_API_BADJSON", "1")
    tunnel = pyngrok.connect("8000", pyngrok_config=pyngrok_config)
    current = scene()
    with pytest.raises(PyngrokNgrokError, match="invalid JSON"):
        pyngrok.get_tunnels(pyngrok_config)
    current.mark()
    pyngrok.disconnect(str(tunnel.public_url), pyngrok_config)  # known tunnel: no list needed
    with pytest.raises(PyngrokNgrokError, match="invalid JSON"):
        pyngrok.disconnect("http://unknown.example", pyngrok_config)  # unknown: the list is asked for
    current.finish("API answers invalid JSON (tunnel list)", "PyngrokNgrokError: invalid JSON", limit=1)


# --- ports, side-by-side agents, parents that exit --------------------------------------------------------------


def test_web_addr_ports_in_use(
    pyngrok_config: PyngrokConfig, scene: Any, web_port: int, local_site: Any, monkeypatch: Any
) -> None:
    """The agent's default web address is taken: it moves on (an explicit one would fail), and we follow."""
    with open(str(pyngrok_config.config_path), "w", encoding="utf-8") as config:
        config.write('version: "3"\n')
    monkeypatch.setenv("FAKE_NGROK_DEFAULT_WEB_ADDR", f"127.0.0.1:{web_port}")  # stands in for 4040
    squatters = []
    for offset in range(3):
        squatter = socket.socket()
        try:
            squatter.bind(("127.0.0.1", web_port + offset))
        except OSError:
            squatter.close()
            continue
        squatter.listen()
        squatters.append(squatter)
    try:
        current = scene()
        ngrok_process = pyngrok.get_ngrok_process(pyngrok_config)
        tunnel = pyngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
        current.mark()
        moved_to = int(str(ngrok_process.api_url).rsplit(":", 1)[1])
        assert moved_to not in [s.getsockname()[1] for s in squatters]
        announced = [e.addr for e in ngrok_process.logs if e.msg == "starting web service"]
        assert announced == [f"127.0.0.1:{moved_to}"]
        assert fetch(str(tunnel.public_url)) == local_site.page
    finally:
        for squatter in squatters:
            squatter.close()
    current.finish(
        f"web_addr port in use ({len(squatters)} ports taken)",
        f"agent moved to +{moved_to - web_port}; we followed its log",
        limit=10,
    )


def test_two_agents_with_different_configs(fake_ngrok_path: str, tmp_path: Any, scene: Any, local_site: Any) -> None:
    configs = []
    for name in ("one", "two"):
        directory = tmp_path / name
        path = str(directory / "ngrok.yml")
        os.makedirs(str(directory))
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(f'version: "3"\nagent:\n  web_addr: 127.0.0.1:{free_port()}\n')
        binary = make_wrapper(str(directory / "bin"), fake_ngrok_path)  # one agent per ngrok_path
        configs.append(PyngrokConfig(ngrok_path=binary, config_path=path, startup_timeout=10))
    current = scene(*configs)
    tunnels = [pyngrok.connect(str(local_site.port), pyngrok_config=config) for config in configs]
    processes = [pyngrok.get_ngrok_process(config) for config in configs]
    current.mark()
    assert processes[0] is not processes[1] and processes[0].api_url != processes[1].api_url
    for config, tunnel in zip(configs, tunnels):
        assert [t.public_url for t in pyngrok.get_tunnels(config)] == [tunnel.public_url]
        assert fetch(str(tunnel.public_url)) == local_site.page
    pyngrok.kill(configs[0])
    assert processes[1].healthy() and pyngrok.get_tunnels(configs[1])[0].public_url == tunnels[1].public_url
    current.finish(
        "two agents side by side, different configs",
        "independent: own API, own tunnels; killing one leaves the other",
        limit=10,
    )


PARENT = """\
import os, sys, pyngrok
config = pyngrok.PyngrokConfig(ngrok_path={ngrok!r}, config_path={config!r}, start_new_session={new_session!r})
process = pyngrok.get_ngrok_process(config)
print(process.proc.pid, flush=True)
sys.stdin.readline()  # the test looks at the agent, then lets the parent go on
how = {how!r}
if how == "raise":
    raise RuntimeError("the parent fails")
if how == "exit":
    sys.exit(3)
if how == "sigkill":
    sys.stdin.read()
"""


@pytest.mark.parametrize(
    "how, new_session",
    [("return", False), ("exit", False), ("raise", False), ("return", True), ("sigkill", False)],
)
def test_parent_exits_without_kill(
    fake_ngrok_path: str, config_file: str, tmp_path: Any, how: str, new_session: bool
) -> None:
    script = PARENT.format(ngrok=fake_ngrok_path, config=config_file, new_session=new_session, how=how)
    started = time.monotonic()
    parent = python_child(script, str(tmp_path), stdin=subprocess.PIPE)
    assert parent.stdout is not None
    agent_pid = int(parent.stdout.readline())
    try:
        assert read_cmdline(agent_pid) and os.getsid(agent_pid) == (agent_pid if new_session else os.getsid(0))
        assert parent.stdin is not None
        if how == "sigkill":
            parent.kill()
        else:
            parent.stdin.write(b"\n")
            parent.stdin.close()
        parent.wait(15)
        gone = wait_for(lambda: not pid_alive(agent_pid), 1.5 if how == "sigkill" else 6)
        seconds = time.monotonic() - started
        if how == "sigkill":
            # No atexit runs. The agent's stdout is a pipe to the dead parent: the real agent dies of SIGPIPE at
            # its next log line, the fake one exits on EPIPE; an idle agent writes nothing and lives on.
            survived = not gone
            api_hit = False
            if survived:
                port = int(read_text(config_file).rsplit(":", 1)[1])
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/api/tunnels", timeout=2).read()
                    api_hit = True
                except OSError:
                    pass
                gone = wait_for(lambda: not pid_alive(agent_pid), 6)
            if survived:
                fate = f"agent outlived the parent until its next log write (API hit: {api_hit}), then exited on EPIPE"
            else:
                fate = "agent exited with the parent"
            REPORT_ROWS.append(
                {
                    "fault": "parent SIGKILLed (no atexit), start_new_session=False",
                    "outcome": f"{fate}; an idle agent has no way to notice a dead parent",
                    "seconds": round(seconds, 2),
                    "leftovers": "none" if gone else f"agent {agent_pid}",
                }
            )
            assert gone
            return
        REPORT_ROWS.append(
            {
                "fault": f"parent exits without kill ({how}), start_new_session={new_session}",
                "outcome": "atexit stopped the agent" if gone else "ORPHAN",
                "seconds": round(seconds, 2),
                "leftovers": "none" if gone else f"agent {agent_pid}",
            }
        )
        assert gone, f"agent {agent_pid} outlived its parent"
        assert parent.returncode == {"return": 0, "exit": 3, "raise": 1}[how]
    finally:
        if pid_alive(agent_pid):
            os.kill(agent_pid, signal.SIGKILL)
        parent.kill()


# --- secrets ----------------------------------------------------------------------------------------------------


class RecordCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.texts.append(f"{record.name}: {text}")


@pytest.fixture
def all_records() -> Iterator[RecordCollector]:
    collector = RecordCollector()
    root = logging.getLogger("pyngrok")
    previous = root.level
    root.addHandler(collector)
    root.setLevel(logging.DEBUG)
    try:
        yield collector
    finally:
        root.removeHandler(collector)
        root.setLevel(previous)


def secret_files(roots: List[str], since: float, secrets: List[str], skipped: List[str]) -> List[str]:
    """Real paths of the files under the roots, changed since ``since``, holding any of the secrets; the
    ``skipped`` directories are not entered (unless one is a root)."""
    found = []
    needles = [secret.encode("utf-8") for secret in secrets]
    skipped = [os.path.realpath(path) for path in skipped]
    # Real paths all along: the roots are made real, and no symbolic link below them is followed. One lstat
    # per file at most, as a shared /tmp can hold hundreds of thousands of them.
    pending = [os.path.realpath(root) for root in roots]
    while pending:
        try:
            with os.scandir(pending.pop()) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if (
                    entry.name not in (".git", "__pycache__")
                    and not entry.name.startswith(".venv")
                    and entry.path not in skipped
                ):
                    pending.append(entry.path)
            elif entry.is_file(follow_symlinks=False):
                try:
                    if entry.stat(follow_symlinks=False).st_mtime < since:
                        continue
                    with open(entry.path, "rb") as handle:
                        data = handle.read(16 * 1024 * 1024)
                except OSError:
                    continue
                if any(needle in data for needle in needles):
                    found.append(entry.path)
    return found


def test_secrets_stay_secret_through_a_whole_session(
    fake_ngrok_path: str,
    config_file: str,
    tmp_path: Any,
    monkeypatch: Any,
    all_records: RecordCollector,
    local_site: Any,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Authtoken and API key: not in any argv or agent environment, log record, exception or repr, nor in any file
    but the user's config and the 0600 overlay, which is gone when the agent stops."""
    since = time.time() - 1
    argv_log = str(tmp_path / "argv.jsonl")
    monkeypatch.setenv("WRAP_ARGV_LOG", argv_log)
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.delenv("NGROK_API_KEY", raising=False)
    config = PyngrokConfig(
        ngrok_path=make_wrapper(str(tmp_path / "bin"), fake_ngrok_path),
        config_path=config_file,
        auth_token=TOKEN,
        api_key=API_KEY,
        startup_timeout=10,
    )
    current = Scene([config])
    current.files.pop(config_file, None)  # the user's config is written on purpose below
    texts: List[str] = [repr(config), str(config)]
    monkeypatch.setenv("FAKE_NGROK_REQUIRE_AUTHTOKEN", TOKEN)

    ngrok_process = pyngrok.get_ngrok_process(config)
    pid = ngrok_process.proc.pid
    assert ngrok_process._overlay_dir is None  # the overlay is a memfd only the agent holds
    overlay = f"/proc/{pid}/fd/" + (read_cmdline(pid) or "").split("--config /dev/fd/")[1].split()[0]
    assert os.readlink(overlay).startswith("/memfd:")
    with open(f"/proc/{pid}/environ", "rb") as environ:
        # Less the fake agent's own switch, which this test sets to the token.
        agent_environment = b"\0".join(
            entry for entry in environ.read().split(b"\0") if not entry.startswith(b"FAKE_NGROK_REQUIRE_AUTHTOKEN=")
        )
    tunnel = pyngrok.connect(str(local_site.port), pyngrok_config=config)
    texts += [repr(tunnel), str(tunnel), repr(ngrok_process), str(ngrok_process)]
    texts += [repr(t) for t in pyngrok.get_tunnels(config)] + [str(entry) for entry in ngrok_process.logs]
    response = pyngrok.api("endpoints", "list", pyngrok_config=config)
    texts += [response.status, json.dumps(response.data)]
    pyngrok.disconnect(str(tunnel.public_url), config)
    pyngrok.kill(config)
    assert not os.path.exists(overlay)

    # A wrong token: the agent refuses it; the error must not quote it.
    config.auth_token = TOKEN + "-wrong"
    with pytest.raises(PyngrokNgrokError) as raised:
        pyngrok.get_ngrok_process(config)
    texts += [str(raised.value), repr(raised.value), repr(raised.value.ngrok_logs), str(raised.value.ngrok_error)]
    # An API error answered to a request that carried the API key.
    with pytest.raises(PyngrokNgrokHTTPError) as http_error:
        pyngrok.api_request(f"http://127.0.0.1:{local_site.port}/missing", auth=API_KEY, timeout=2)
    texts += [str(http_error.value), repr(http_error.value)]
    # Saving the secrets writes them to the user's config, and only there.
    pyngrok.set_auth_token(TOKEN, config)
    pyngrok.set_api_key(API_KEY, config)
    assert stat.S_IMODE(os.stat(config_file).st_mode) == 0o600
    current.mark()

    argvs = read_text(argv_log).splitlines()
    assert any('"start"' in line for line in argvs) and any('"api"' in line for line in argvs)
    places = {
        "argv": "\n".join(argvs) + (read_cmdline(pid) or ""),
        "agent environment": agent_environment.decode("utf-8", "replace"),
        "log records": "\n".join(all_records.texts),
        "exceptions and reprs": "\n".join(texts),
    }
    leaks = [where for where, text in places.items() for secret in (TOKEN, API_KEY) if secret in text]
    roots = [
        tempfile.gettempdir(),
        os.environ.get("TMPDIR") or "/tmp",
        str(tmp_path),
        REPO_ROOT,
        os.path.dirname(pyngrok.DEFAULT_NGROK_CONFIG_PATH),
    ]
    # Other test runs (other Pythons, at the same time) have their own pytest temp dirs beside this run's, with
    # files of this very test in them: this run's own (tmp_path) is a root of its own.
    pytest_temp_dirs = str(tmp_path_factory.getbasetemp())
    for parent in tmp_path_factory.getbasetemp().parents:
        if parent.name.startswith("pytest-of-"):  # where pytest puts every run's temp dir by default
            pytest_temp_dirs = str(parent)
    found = secret_files(roots, since, [TOKEN, API_KEY], [pytest_temp_dirs])
    files = [path for path in found if path != os.path.realpath(config_file)]
    REPORT_ROWS.append(
        {
            "fault": "secrets through a session (start, connect, api, wrong token, HTTP error, save)",
            "outcome": f"argv/env/logs/exceptions/reprs clean: {not leaks}; files holding a secret besides "
            f"the user's config: {files or 'none'}; overlay removed",
            "seconds": round(current.seconds or 0, 2),
            "leftovers": "; ".join(current.leftovers()) or "none",
        }
    )
    assert all_records.texts and not leaks and not files, (leaks, files)
    assert "Authorization" not in http_error.value.headers  # the API key is not kept on the error object
    assert http_error.value.headers.get("Ngrok-Version") == "2"


@pytest.mark.parametrize("echo", ["our token, by value", "the config file's token, by shape"])
def test_secret_echoed_by_the_agent_is_not_re_emitted(
    fake_ngrok_path: str, config_file: str, tmp_path: Any, monkeypatch: Any, all_records: RecordCollector, echo: str
) -> None:
    """An agent that prints the authtoken (ngrok does, "Your authtoken: ...", when it rejects one): neither our
    log records nor the error's message and logs repeat it."""
    config = PyngrokConfig(
        ngrok_path=make_wrapper(str(tmp_path / "bin"), fake_ngrok_path), config_path=config_file, startup_timeout=10
    )
    if echo.startswith("our"):
        config.auth_token = TOKEN
        line = f't=2026-01-01T00:00:00+0000 lvl=info msg="read config" obj=app authtoken={TOKEN}\n'
    else:
        with open(config_file, "a", encoding="utf-8") as handle:
            handle.write(f"  authtoken: {TOKEN}\n")
        line = (
            f't=2026-01-01T00:00:00+0000 lvl=eror msg="session closing" obj=tunnels.session '
            f'err="authentication failed: Your authtoken: {TOKEN}\\r\\n\\r\\nERR_NGROK_107\\r\\n"\n'
        )
    monkeypatch.setenv("WRAP_LINE_HEX", line.encode("ascii").hex())
    monkeypatch.setenv("FAKE_NGROK_STARTUP", "error")
    started = time.monotonic()
    with pytest.raises(PyngrokNgrokError) as raised:
        pyngrok.get_ngrok_process(config)
    shown = "\n".join(all_records.texts) + "".join(entry.line + str(entry) for entry in raised.value.ngrok_logs)
    shown += str(raised.value) + repr(raised.value) + str(raised.value.ngrok_error)
    REPORT_ROWS.append(
        {
            "fault": f"agent echoes the authtoken in its log ({echo})",
            "outcome": "masked in log records, error and error logs" if TOKEN not in shown else "LEAKED",
            "seconds": round(time.monotonic() - started, 2),
            "leftovers": "none",
        }
    )
    assert TOKEN not in shown


def test_config_edits_from_two_processes_both_land(tmp_path: Any, caplog: Any) -> None:
    config_path = str(tmp_path / "ngrok.yml")
    with open(config_path, "w", encoding="utf-8") as handle:
        handle.write('version: "3"\nagent:\n  web_addr: 127.0.0.1:4040\n')
    script = textwrap.dedent(f"""\
        import sys, pyngrok
        real = pyngrok._write_config_atomically
        def held(*args, **kwargs):  # read and merged; the write waits for the test's word
            print("read", flush=True)
            sys.stdin.readline()
            return real(*args, **kwargs)
        pyngrok._write_config_atomically = held
        pyngrok.install_default_config({config_path!r}, {{"agent": {{"authtoken": {TOKEN!r}}}}})
        """)
    writer = python_child(script, stdin=subprocess.PIPE)
    # This process's edit, made while the other process is between its read and its write.
    edit = threading.Thread(target=pyngrok.install_default_config, args=(config_path, {"agent": {"region": "eu"}}))
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"read\n"
        with caplog.at_level(logging.INFO, logger="pyngrok"):
            edit.start()
            assert wait_for(lambda: "Waiting for another process to finish writing" in caplog.text), caplog.text
        assert writer.stdin is not None
        writer.stdin.write(b"go\n")
        writer.stdin.close()
        assert writer.wait(15) == 0
        edit.join(15)
    finally:
        writer.kill()
    pyngrok._config_cache.pop(config_path, None)
    final = pyngrok._yaml_load(read_text(config_path), config_path)
    assert final["agent"].get("authtoken") == TOKEN and final["agent"].get("region") == "eu", final


def test_config_write_killed_mid_way_leaves_no_secret_behind(tmp_path: Any) -> None:
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    config_path = str(config_dir / "ngrok.yml")
    with open(config_path, "w", encoding="utf-8") as handle:
        handle.write('version: "3"\nagent:\n  web_addr: 127.0.0.1:4040\n')
    script = textwrap.dedent(f"""\
        import os, sys, time, pyngrok
        def stuck(*args):  # the process dies here, between the temp file and the rename
            print("writing", flush=True)
            time.sleep(60)
        os.replace = stuck
        pyngrok.install_default_config({config_path!r}, {{"agent": {{"authtoken": {TOKEN!r}}}}})
        """)
    writer = python_child(script)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == b"writing\n"
        writer.kill()
        writer.wait(10)
    finally:
        writer.kill()
    pyngrok._yaml_load(read_text(config_path))  # the config itself is whole
    # The next write by anyone sweeps what a dead writer left.
    pyngrok.install_default_config(config_path, {"agent": {"region": "eu"}})
    pyngrok._config_cache.pop(config_path, None)
    leftovers = [name for name in os.listdir(str(config_dir)) if name != "ngrok.yml"]
    assert leftovers == [], f"left beside the config: {leftovers}"
