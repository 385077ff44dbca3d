"""Long-running programs against the REAL ngrok 2.3.41 agent and our tunnel server.

Every scenario runs the real agent through ``pyngrok`` against ``tests/tunnel_server.py`` and checks real
traffic: a page of a local ``http.server`` fetched through the public URL, or bytes echoed through a tcp
tunnel. The faults are real too: the server drops or refuses the agent's session, rejects its auth or asks it
to stop; the agent is killed with SIGKILL; a script in a child process gets SIGINT.

For each scenario the time from the fault to recovered traffic (or to the outcome that ends it) is measured on
the monotonic clock, printed (visible with ``-s``) and kept with the test's result; ``make reports`` writes
them to ``.cache/long_running_timings.json``.

The same features against the fake agent are in tests/test_supervision.py. The whole module is skipped, with
the reason, when the real agent cannot be had, or fails under REQUIRE_REAL_AGENT (see tests/realagent.py).
"""

from __future__ import annotations

import asyncio
import http.client
import os
import queue
import signal
import threading
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import pyngrok
import tunnel_server as ts
from helpers import (
    BlackHole,
    Recorder,
    children_of,
    connect_across_a_crash,
    echo_round_trip,
    fetch,
    free_port,
    pid_alive,
    port_refuses,
    public_port,
    python_child,
    real_agent_config,
    wait_for,
    write_agent_config,
)
from pyngrok import aio, ngrok  # type: ignore[attr-defined]  # facades registered by pyngrok.py at import

# ---------------------------------------------------------------------------------------------------------
# timings: printed as they come, and kept with each test's result (``make reports``)
# ---------------------------------------------------------------------------------------------------------

REPORT_TABLE = "timings"
REPORT_ROWS: List[Dict[str, Any]] = []  # see conftest.py


def record_timing(scenario: str, measured: str, seconds: float) -> None:
    REPORT_ROWS.append({"scenario": scenario, "measured": measured, "seconds": round(seconds, 3)})
    print(f"\n[long-running] {scenario}: {measured} = {seconds:.3f} s", flush=True)


# ---------------------------------------------------------------------------------------------------------
# fixtures: the real agent, the tunnel server, a pyngrok config pointing one at the other
# ---------------------------------------------------------------------------------------------------------


class Setup:
    """What a test gets: the server, the config (with its recorder) and the config file's path."""

    def __init__(self, server: ts.TunnelServer, config: pyngrok.PyngrokConfig, recorder: Recorder, path: str):
        self.server = server
        self.config = config
        self.recorder = recorder
        self.config_path = path


@pytest.fixture
def setup(tunnel_server: ts.TunnelServer, real_agent: str, tmp_path: Any) -> Iterator[Setup]:
    config_path = os.path.join(str(tmp_path), "ngrok.yml")
    write_agent_config(config_path, tunnel_server.addr, tunnel_server.ca_path, free_port())
    recorder = Recorder()
    config = real_agent_config(real_agent, config_path, session_callback=recorder)
    try:
        yield Setup(tunnel_server, config, recorder, config_path)
    finally:
        pyngrok.kill(config)


# ---------------------------------------------------------------------------------------------------------
# traffic helpers
# ---------------------------------------------------------------------------------------------------------


def serves_again(url_of: Callable[[], Optional[str]], ca_path: str, page: str, timeout: float = 20.0) -> float:
    """Fetch until the public URL serves ``page``; return the monotonic time it first did."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        url = url_of()
        try:
            if url and fetch(url, ca_path, timeout=2.0) == page:
                return time.monotonic()
        except (OSError, http.client.HTTPException) as error:
            last = error
        time.sleep(0.05)
    raise AssertionError(f"{url_of()} did not serve the local page within {timeout} s (last error: {last!r})")


def echoes_again(url_of: Callable[[], Optional[str]], payload: bytes, timeout: float = 20.0) -> float:
    """Echo ``payload`` through a tcp public URL until it comes back whole; return when it first did."""
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while time.monotonic() < deadline:
        url = url_of()
        try:
            if url and echo_round_trip(public_port(url), payload, timeout=2.0) == payload:
                return time.monotonic()
        except OSError as error:
            last = error
        time.sleep(0.05)
    raise AssertionError(f"{url_of()} did not echo within {timeout} s (last error: {last!r})")


def tunnel_names(config: pyngrok.PyngrokConfig) -> List[str]:
    return sorted(str(tunnel.name) for tunnel in ngrok.get_tunnels(config))


def agent_children() -> List[int]:
    return list(children_of(os.getpid()))


def count_logs(ngrok_process: pyngrok.NgrokProcess, message: str) -> int:
    return sum(1 for log in list(ngrok_process.logs) if log.msg == message)


# ---------------------------------------------------------------------------------------------------------
# the tunnel server drops or refuses the session
# ---------------------------------------------------------------------------------------------------------


def test_dropped_session_goes_reconnecting_then_online_and_serves_again(setup: Setup, local_site: Any) -> None:
    server, config, recorder = setup.server, setup.config, setup.recorder
    port = free_port()
    tunnel = ngrok.connect(
        str(local_site.port), name="web", bind_tls=True, hostname=f"127.0.0.1:{port}", pyngrok_config=config
    )
    assert tunnel.public_url == f"https://127.0.0.1:{port}"
    assert fetch(str(tunnel.public_url), server.ca_path) == local_site.page
    agent = ngrok.get_ngrok_process(config)
    assert agent.session_state == "online"
    first_session = server.wait_for_session(5)
    urls_before = sorted(bind.url for bind in server.binds)
    assert urls_before == [tunnel.public_url]

    fault = time.monotonic()
    assert server.drop_sessions() == 1
    recorder.wait_for_state("reconnecting")
    recovered = serves_again(lambda: tunnel.public_url, server.ca_path, local_site.page)
    record_timing("session dropped by the server", "drop -> page served again", recovered - fault)
    online_again = recorder.wait_for_state("online", count=2)
    record_timing("session dropped by the server", "drop -> 'online' reported", online_again - fault)

    assert wait_for(lambda: recorder.states() == ["online", "reconnecting", "online"], 5), recorder.states()
    changes = [(event.previous, event.state) for event in recorder.events]
    assert changes == [("starting", "online"), ("online", "reconnecting"), ("reconnecting", "online")]
    # The reason is the agent's own error ("read EOF from remote peer", or a broken pipe if it was writing).
    closed = [log for log in list(agent.logs) if log.msg == "session closed, starting reconnect loop"]
    assert len(closed) == 1 and closed[0].err and recorder.reasons("reconnecting") == [closed[0].err]
    assert all(event.ngrok_process is agent for event in recorder.events)
    assert agent.session_state == "online"
    # The same agent re-authenticated with its old ClientId and got its ports back: the URLs did not move.
    second_session = server.wait_for_session(5, newer_than=first_session.serial)
    assert second_session.client_id == first_session.client_id
    assert sorted(bind.url for bind in server.wait_for_binds(1, 5)) == urls_before
    assert ngrok.get_ngrok_process(config) is agent and agent.proc.poll() is None
    assert sorted(str(t.public_url) for t in ngrok.get_tunnels(config)) == urls_before
    assert local_site.hits == ["/", "/"]


def test_refused_reconnection_stays_reconnecting_then_recovers(setup: Setup, local_site: Any) -> None:
    server, config, recorder = setup.server, setup.config, setup.recorder
    port = free_port()
    tunnel = ngrok.connect(
        str(local_site.port), name="web", bind_tls=True, hostname=f"127.0.0.1:{port}", pyngrok_config=config
    )
    assert fetch(str(tunnel.public_url), server.ca_path) == local_site.page
    agent = ngrok.get_ngrok_process(config)
    url_before = tunnel.public_url

    server.refuse_connections(True)
    fault = time.monotonic()
    assert server.drop_sessions() == 1
    recorder.wait_for_state("reconnecting")
    # The agent keeps trying (0.5 s back-off, doubling) and keeps failing while the server refuses.
    assert wait_for(lambda: count_logs(agent, "failed to reconnect session") >= 2, 10)
    assert agent.session_state == "reconnecting"
    assert recorder.states() == ["online", "reconnecting"]  # one event, however many failed attempts
    assert server.sessions == [] and server.binds == []
    assert port_refuses(public_port(url_before))

    server.refuse_connections(False)
    released = time.monotonic()
    recovered = serves_again(lambda: tunnel.public_url, server.ca_path, local_site.page)
    record_timing("reconnection refused twice", "drop -> page served again", recovered - fault)
    record_timing("reconnection refused twice", "server accepts again -> page served", recovered - released)
    assert wait_for(lambda: recorder.states() == ["online", "reconnecting", "online"], 5), recorder.states()
    assert tunnel.public_url == url_before and agent.proc.poll() is None
    assert ngrok.get_ngrok_process(config) is agent
    assert [str(t.public_url) for t in ngrok.get_tunnels(config)] == [url_before]


# ---------------------------------------------------------------------------------------------------------
# kill -9 of the agent, with and without supervision
# ---------------------------------------------------------------------------------------------------------


def test_supervision_restarts_a_killed_agent_with_its_named_tunnels(
    setup: Setup, local_site: Any, echo_server: Any
) -> None:
    server, config, recorder = setup.server, setup.config, setup.recorder
    config.supervise = True
    config.restart_backoff = 0.1
    web = ngrok.connect(str(local_site.port), name="web", pyngrok_config=config)
    echo = ngrok.connect(str(echo_server.port), "tcp", name="echo", pyngrok_config=config)
    assert fetch(str(web.public_url), server.ca_path) == local_site.page
    assert echo_round_trip(public_port(echo.public_url), b"before") == b"before"
    first = ngrok.get_ngrok_process(config)
    old_urls = {str(web.public_url), str(echo.public_url)}
    first_session = server.wait_for_session(5)

    fault = time.monotonic()
    os.kill(first.proc.pid, signal.SIGKILL)
    recorder.wait_for_state("starting", timeout=10)
    web_back = serves_again(
        lambda: None if web.public_url in old_urls else web.public_url, server.ca_path, local_site.page
    )
    echo_back = echoes_again(lambda: None if echo.public_url in old_urls else echo.public_url, b"after")
    record_timing("kill -9, supervised", "kill -> https page served again", web_back - fault)
    record_timing("kill -9, supervised", "kill -> tcp echo again", echo_back - fault)

    second = ngrok.get_ngrok_process(config)
    assert second is not first and second.proc.pid != first.proc.pid
    assert wait_for(lambda: not pid_alive(first.proc.pid), 5)
    assert agent_children() == [second.proc.pid]
    assert tunnel_names(config) == ["echo", "web", "web (http)"]
    assert str(echo.public_url).startswith("tcp://127.0.0.1:") and str(web.public_url).startswith("https://")
    for url in old_urls:
        assert port_refuses(public_port(url)), f"{url} of the dead agent still accepts connections"
    new_session = server.wait_for_session(5, newer_than=first_session.serial)
    assert new_session.client_id != first_session.client_id  # a new agent is a new client
    assert len(server.sessions) == 1

    assert wait_for(lambda: recorder.states() == ["online", "stopped", "starting", "online"], 5), recorder.states()
    assert recorder.reasons("stopped") == ["ngrok exited with code -9"]
    assert recorder.reasons("starting") == ["restart 1 of 3"]
    assert recorder.events[-1].ngrok_process is second


def test_supervision_keeps_a_connect_answered_before_the_kill_and_not_a_disconnect_made_while_down(
    setup: Setup, local_site: Any
) -> None:
    """The real agent answers connect("late") and is killed before connect() has noted the tunnel (its thread is
    held at its log of the answer, as a busy machine may hold it); while it is down, "gone" is disconnected.
    After the restart, "late" is open on the new agent and "gone" is not."""
    server, config = setup.server, setup.config
    config.supervise = True
    config.restart_backoff = 0.1
    ngrok.connect(str(local_site.port), name="kept", pyngrok_config=config)
    gone = ngrok.connect(str(local_site.port), name="gone", pyngrok_config=config)
    late = connect_across_a_crash(
        local_site.port, "late", config, while_down=lambda: ngrok.disconnect(str(gone.public_url), config)
    )
    assert tunnel_names(config) == ["kept", "kept (http)", "late", "late (http)"]
    assert late.api_url == ngrok.get_ngrok_process(config).api_url
    assert fetch(str(late.public_url), server.ca_path) == local_site.page


def test_without_supervision_a_killed_agent_is_reported_and_not_restarted(setup: Setup, local_site: Any) -> None:
    server, config, recorder = setup.server, setup.config, setup.recorder
    config.restart_backoff = 0.01  # what a (wrong) restart would wait: it would show at once
    tunnel = ngrok.connect(str(local_site.port), name="web", pyngrok_config=config)
    assert fetch(str(tunnel.public_url), server.ca_path) == local_site.page
    first = ngrok.get_ngrok_process(config)

    fault = time.monotonic()
    os.kill(first.proc.pid, signal.SIGKILL)
    reported = recorder.wait_for_state("stopped", timeout=10)
    record_timing("kill -9, not supervised", "kill -> 'stopped' reported", reported - fault)
    assert recorder.reasons("stopped") == ["ngrok exited with code -9"]
    assert first.session_state == "stopped"

    gone = wait_for(lambda: server.sessions == [] and server.binds == [], 10)
    assert gone, server.events[-5:]
    record_timing("kill -9, not supervised", "kill -> server sees the session gone", time.monotonic() - fault)
    # Supervision is decided as the exit is reported, before it is visible: a (wrong) restart is under way by
    # now, in the registry below, or done, and then the agent runs and the recorder saw it start.
    assert first._exited.wait(10)
    assert recorder.states() == ["online", "stopped"]
    assert not pyngrok.is_process_running(config.ngrok_path)
    assert agent_children() == []
    assert pyngrok._supervisors == {}
    assert server.sessions == []
    assert port_refuses(public_port(tunnel.public_url))


# ---------------------------------------------------------------------------------------------------------
# supervision gives up; kill() during a restart
# ---------------------------------------------------------------------------------------------------------


# A refused connection fails a restart only at its startup_timeout (the agent retries until then), so that case
# makes one restart; the count of several is the same code, shown by the rejected authtoken's quick failures.
@pytest.mark.parametrize("refusal, restarts", [("auth rejected", 2), ("connections refused", 1)])
def test_supervision_gives_up_after_its_limit(setup: Setup, refusal: str, restarts: int) -> None:
    server, config, recorder = setup.server, setup.config, setup.recorder
    config.supervise = True
    config.max_restarts = restarts
    config.restart_backoff = 0.05
    first = ngrok.get_ngrok_process(config)
    config.startup_timeout = 1  # what each restart gets: the agent's first try fails within a fraction of it
    if refusal == "auth rejected":
        server.reject_auth_error = "Your account is limited to 1 simultaneous ngrok agent session.\n\nERR_NGROK_108\n"
    else:
        server.refuse_connections(True)

    fault = time.monotonic()
    os.kill(first.proc.pid, signal.SIGKILL)
    gave_up = f"gave up after {restarts} restarts"
    assert wait_for(lambda: any(gave_up in reason for reason in recorder.reasons("stopped")), 20)
    record_timing(f"supervision gives up ({refusal})", "kill -> 'gave up' reported", time.monotonic() - fault)

    failures = [reason for reason in recorder.reasons("stopped") if "failed" in reason]
    expected = [f"restart {n} of {restarts}" for n in range(1, restarts + 1)]
    assert [reason.split(" failed")[0] for reason in failures] == expected
    if refusal == "auth rejected":
        assert all("ERR_NGROK_108" in reason for reason in failures), failures
        assert len(server.auth_requests) == 1 + restarts  # the first agent, then one per restart
    else:  # the agent retried on its own until startup_timeout: each attempt reports what it retried on
        assert all("unable to start within 1 seconds. Its last error:" in reason for reason in failures), failures
    # The supervisor's account, on the process object the program had. (Each failed attempt's own short-lived
    # agent also reports "starting -> stopped (ngrok exited with code N)", on its own process object.)
    narrative = [event for event in recorder.events if event.ngrok_process is first]
    states = [event.state for event in narrative]
    assert states == ["online", "stopped", *["starting", "stopped"] * restarts, "stopped"], narrative
    assert narrative[-1].reason == gave_up
    assert wait_for(lambda: pyngrok._supervisors == {}, 5)
    assert not pyngrok.is_process_running(config.ngrok_path)
    assert agent_children() == []
    assert server.sessions == []


def test_kill_while_a_restart_waits_its_backoff_ends_everything(setup: Setup) -> None:
    config, recorder = setup.config, setup.recorder
    config.supervise = True
    config.restart_backoff = 5.0
    first = ngrok.get_ngrok_process(config)
    os.kill(first.proc.pid, signal.SIGKILL)
    recorder.wait_for_state("stopped")
    assert config.ngrok_path in pyngrok._supervisors  # the restart is pending

    started = time.monotonic()
    ngrok.kill(config)
    took = time.monotonic() - started
    record_timing("kill() during a restart's back-off", "kill() returned", took)
    assert took < 2.0, f"kill() took {took:.1f} s"
    assert pyngrok._supervisors == {}
    # The supervisor's thread has ended (kill() joined it): no restart can come any more.
    assert [thread for thread in threading.enumerate() if thread.name == "pyngrok-supervisor"] == []
    assert agent_children() == [] and not pyngrok.is_process_running(config.ngrok_path)
    assert "starting" not in recorder.states()


def test_kill_while_a_restarted_agent_is_starting_ends_everything_at_once(setup: Setup) -> None:
    server, config, recorder = setup.server, setup.config, setup.recorder
    config.supervise = True
    config.restart_backoff = 0.05
    config.startup_timeout = 6
    first = ngrok.get_ngrok_process(config)
    black_hole = BlackHole()  # the restarted agent connects, and its TLS handshake is never answered
    try:
        write_agent_config(setup.config_path, black_hole.addr, server.ca_path, free_port())
        os.kill(first.proc.pid, signal.SIGKILL)
        recorder.wait_for_state("starting")

        # The restarted agent is up (its web service started) and waits for a session that never comes.
        def restarted_agent_waits() -> bool:
            with pyngrok._current_processes_lock:  # a peek at the restart's start, still in progress
                start = pyngrok._agent_starts.get(config.ngrok_path)
            fresh = start.agent if start is not None else None
            return fresh is not None and fresh is not first and fresh.api_url is not None

        assert wait_for(restarted_agent_waits, 10)
        assert [pid for pid in agent_children() if pid != first.proc.pid]

        started = time.monotonic()
        ngrok.kill(config)
        took = time.monotonic() - started
        record_timing("kill() while a restarted agent starts", "kill() returned", took)
        assert wait_for(lambda: agent_children() == [], 5)
        assert pyngrok._supervisors == {} and not pyngrok.is_process_running(config.ngrok_path)
        assert took < 3.0, f"kill() took {took:.1f} s: it waited for the restart's startup_timeout"
    finally:
        black_hole.close()


# ---------------------------------------------------------------------------------------------------------
# tunnels as context managers
# ---------------------------------------------------------------------------------------------------------


def test_context_manager_closes_its_tunnel_on_exit_and_on_exception(setup: Setup, local_site: Any) -> None:
    server, config = setup.server, setup.config
    with ngrok.connect(str(local_site.port), name="cm", bind_tls=True, pyngrok_config=config) as tunnel:
        assert fetch(str(tunnel.public_url), server.ca_path) == local_site.page
        assert tunnel_names(config) == ["cm"]
        port = public_port(tunnel.public_url)
        left = time.monotonic()
    assert wait_for(lambda: port_refuses(port), 5)
    record_timing("with-block exits", "exit -> public port closed", time.monotonic() - left)
    assert tunnel_names(config) == [] and server.binds == []

    with pytest.raises(RuntimeError, match="inside the block"), ngrok.connect(
        str(local_site.port), name="cm-raise", bind_tls=True, pyngrok_config=config
    ) as tunnel:
        assert fetch(str(tunnel.public_url), server.ca_path) == local_site.page
        port = public_port(tunnel.public_url)
        left = time.monotonic()
        raise RuntimeError("inside the block")
    assert wait_for(lambda: port_refuses(port), 5)
    record_timing("with-block raises", "exception -> public port closed", time.monotonic() - left)
    assert tunnel_names(config) == [] and server.binds == []
    assert ngrok.get_ngrok_process(config).session_state == "online"  # the agent itself stays up


def test_async_context_manager_closes_its_tunnel(setup: Setup, local_site: Any) -> None:
    server, config = setup.server, setup.config

    async def scenario() -> Tuple[List[int], List[float], List[str]]:
        loop = asyncio.get_running_loop()
        ports: List[int] = []
        left: List[float] = []
        async with await aio.connect(str(local_site.port), name="acm", bind_tls=True, pyngrok_config=config) as t:
            page = await loop.run_in_executor(None, fetch, str(t.public_url), server.ca_path)
            assert page == local_site.page
            ports.append(public_port(t.public_url))
            left.append(time.monotonic())
        with pytest.raises(KeyError):
            async with await aio.connect(
                str(local_site.port), "http", "acm-raise", bind_tls=True, pyngrok_config=config
            ) as t:
                ports.append(public_port(t.public_url))
                left.append(time.monotonic())
                raise KeyError("inside the async block")
        names = sorted(str(tunnel.name) for tunnel in await aio.get_tunnels(config))
        return ports, left, names

    ports, left, names = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert names == []
    for port in ports:
        assert wait_for(lambda port=port: port_refuses(port), 5)
    record_timing(
        "async with-block exits and raises", "first exit -> both public ports closed", time.monotonic() - left[0]
    )
    assert server.binds == []


def test_context_manager_also_closes_the_http_twin_of_a_v2_tunnel(setup: Setup, local_site: Any) -> None:
    server, config = setup.server, setup.config
    with ngrok.connect(str(local_site.port), name="both", pyngrok_config=config) as tunnel:
        assert tunnel_names(config) == ["both", "both (http)"]
        ports = [bind.port for bind in server.binds]
        assert len(ports) == 2 and fetch(str(tunnel.public_url), server.ca_path) == local_site.page
    assert wait_for(lambda: server.binds == [], 3), [bind.url for bind in server.binds]
    assert all(port_refuses(port) for port in ports)
    assert tunnel_names(config) == []


# ---------------------------------------------------------------------------------------------------------
# ngrok.wait: the blocking helper for scripts
# ---------------------------------------------------------------------------------------------------------


def _read_lines(pipe: Any, lines: "queue.Queue[Optional[bytes]]") -> None:
    for line in iter(pipe.readline, b""):
        lines.put(line)
    lines.put(None)


def test_wait_in_a_script_returns_on_sigint_without_traceback(setup: Setup, local_site: Any, tmp_path: Any) -> None:
    server, config = setup.server, setup.config
    script = (
        "import pyngrok\n"
        f"config = pyngrok.PyngrokConfig(ngrok_path={config.ngrok_path!r}, config_path={config.config_path!r},\n"
        "                                auth_token='anything', ngrok_version='2', config_version='2',\n"
        "                                startup_timeout=10)\n"
        f"tunnel = pyngrok.connect({str(local_site.port)!r}, name='script', pyngrok_config=config)\n"
        "print(pyngrok.get_ngrok_process(config).proc.pid, tunnel.public_url, flush=True)\n"
        "print('exit code', pyngrok.wait(config), flush=True)\n"
    )
    child = python_child(script, str(tmp_path))
    lines: "queue.Queue[Optional[bytes]]" = queue.Queue()
    assert child.stdout is not None and child.stderr is not None
    reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
    reader.start()
    agent_pid = 0
    try:
        first_line = lines.get(timeout=30)
        assert first_line, child.stderr.read().decode("utf-8", "replace") if child.poll() is not None else "no output"
        pid_text, public_url = first_line.decode().split()
        agent_pid = int(pid_text)
        assert fetch(public_url, server.ca_path) == local_site.page  # the script's tunnel carries traffic

        interrupted = time.monotonic()
        child.send_signal(signal.SIGINT)
        child.wait(15)
        exited = time.monotonic()
        err = child.stderr.read()
        reader.join(5)
        out = b""
        while True:
            line = lines.get(timeout=5)
            if line is None:
                break
            out += line
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(5)
        if agent_pid and pid_alive(agent_pid):
            os.kill(agent_pid, signal.SIGKILL)
    record_timing("ngrok.wait in a script, SIGINT", "SIGINT -> script exited", exited - interrupted)
    assert child.returncode == 0, err.decode("utf-8", "replace")
    assert b"Traceback" not in err, err.decode("utf-8", "replace")
    assert out == b"exit code None\n"
    assert wait_for(lambda: not pid_alive(agent_pid), 5)
    assert wait_for(lambda: server.sessions == [] and server.binds == [], 10)
    assert port_refuses(public_port(public_url))


def test_wait_returns_the_agents_exit_code_when_the_server_stops_it(setup: Setup, local_site: Any) -> None:
    server, config, recorder = setup.server, setup.config, setup.recorder
    tunnel = ngrok.connect(str(local_site.port), name="web", pyngrok_config=config)
    assert fetch(str(tunnel.public_url), server.ca_path) == local_site.page
    agent = ngrok.get_ngrok_process(config)
    stop_sent: List[float] = []
    answers: List[Any] = []

    def stop() -> None:
        stop_sent.append(time.monotonic())
        answers.extend(server.send_stop())

    timer = threading.Timer(0.2, stop)  # while wait() blocks
    timer.start()
    try:
        exit_code = ngrok.wait(config, timeout=20)
    finally:
        timer.cancel()
        timer.join(10)
    returned = time.monotonic()
    assert stop_sent, "wait() returned before the server asked the agent to stop"
    record_timing("agent stopped by the server", "stop request -> ngrok.wait returned", returned - stop_sent[0])
    assert answers == [{"Error": ""}]
    assert exit_code == 0
    assert agent.proc.returncode == 0
    assert any("received remote stop" in log.line for log in list(agent.logs)), [log.line for log in agent.logs]
    assert wait_for(lambda: recorder.states() == ["online", "stopped"], 5), recorder.states()
    assert recorder.reasons("stopped") == ["ngrok exited with code 0"]
    assert agent_children() == [] and not pyngrok.is_process_running(config.ngrok_path)
    assert port_refuses(public_port(tunnel.public_url))
