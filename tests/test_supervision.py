"""Long-running programs against the fake agent: session states, supervision, ngrok.wait.

The scenarios with the real ngrok 2.3.41 agent and a dropped tunnel-server session are in
tests/test_real_agent.py; here the fake agent dies for real (SIGKILL, or its crash fault) and real
traffic checks that re-opened tunnels work.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Iterator, List

import pytest

import pyngrok
from helpers import (
    LogGate,
    LogHook,
    Recorder,
    answer_to,
    children_of,
    connect_across_a_crash,
    counting_agent,
    fetch,
    pid_alive,
    python_child,
    wait_for,
)
from pyngrok import ngrok, process
from pyngrok.conf import PyngrokConfig
from pyngrok.exception import PyngrokNgrokError


def test_session_states_follow_the_agent(pyngrok_config: PyngrokConfig) -> None:
    recorder = Recorder()
    pyngrok_config.session_callback = recorder
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    assert ngrok_process.session_state == "online"
    assert wait_for(lambda: recorder.states() == ["online"])
    ngrok.kill(pyngrok_config)
    assert ngrok_process.session_state == "stopped"
    assert wait_for(lambda: recorder.states() == ["online", "stopped"])
    assert set(recorder.threads) == {"pyngrok-events"}


def test_a_raising_session_callback_is_logged_and_ignored(pyngrok_config: PyngrokConfig, caplog: Any) -> None:
    calls: List[str] = []

    def callback(event: pyngrok.NgrokSessionEvent) -> None:
        calls.append(event.state)
        raise RuntimeError("user bug")

    pyngrok_config.session_callback = callback
    ngrok.get_ngrok_process(pyngrok_config)
    ngrok.kill(pyngrok_config)
    assert wait_for(lambda: calls == ["online", "stopped"])
    assert wait_for(lambda: "session_callback raised" in caplog.text)


def test_without_supervision_a_death_is_reported_and_nothing_restarts(
    pyngrok_config: PyngrokConfig, local_site: Any
) -> None:
    recorder = Recorder()
    pyngrok_config.session_callback = recorder
    tunnel = ngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
    first = ngrok.get_ngrok_process(pyngrok_config)
    os.kill(first.proc.pid, signal.SIGKILL)
    assert wait_for(lambda: "stopped" in recorder.states())
    stopped = next(event for event in recorder.events if event.state == "stopped")
    assert stopped.reason == "ngrok exited with code -9"
    # A supervisor would be registered before the exit is made visible: once it is, none must be there.
    assert wait_for(first._exited.is_set)
    assert pyngrok_config.ngrok_path not in pyngrok._supervisors
    assert not process.is_process_running(pyngrok_config.ngrok_path)
    assert list(children_of(os.getpid())) == []
    # The next call starts a fresh agent.
    fresh = ngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
    assert fetch(str(fresh.public_url)) == local_site.page and fresh.public_url != tunnel.public_url


def test_supervision_restarts_the_agent_and_reopens_its_tunnels(pyngrok_config: PyngrokConfig, local_site: Any) -> None:
    recorder = Recorder()
    pyngrok_config.session_callback = recorder
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.1
    tunnel = ngrok.connect(str(local_site.port), name="keep", pyngrok_config=pyngrok_config)
    tcp = ngrok.connect("9", "tcp", name="keep-tcp", pyngrok_config=pyngrok_config)
    first = ngrok.get_ngrok_process(pyngrok_config)
    old_url = tunnel.public_url

    killed_at = time.monotonic()
    os.kill(first.proc.pid, signal.SIGKILL)
    assert wait_for(lambda: tunnel.public_url != old_url, 15)
    assert fetch(str(tunnel.public_url)) == local_site.page
    recovered_after = time.monotonic() - killed_at
    assert recovered_after < 15
    second = ngrok.get_ngrok_process(pyngrok_config)
    assert second is not first and not pid_alive(first.proc.pid)
    names = sorted(str(t.name) for t in ngrok.get_tunnels(pyngrok_config))
    assert names == ["keep", "keep-tcp"] and tcp.public_url and tcp.public_url.startswith("tcp://")
    assert wait_for(lambda: recorder.states()[-3:] == ["stopped", "starting", "online"])
    starting = [event for event in recorder.events if event.state == "starting"]
    assert starting and starting[0].reason == "restart 1 of 3"


@pytest.mark.parametrize("agent_version", ["3.30.0", "2.3.41"])
def test_a_restart_in_place_reopens_the_tunnels(
    pyngrok_config: PyngrokConfig, local_site: Any, monkeypatch: Any, agent_version: str
) -> None:
    """A Restart from ngrok's dashboard: the agent logs it (v3 and v2 forms), keeps its PID, loses its tunnels."""
    monkeypatch.setenv("FAKE_NGROK_VERSION", agent_version)
    pyngrok_config.supervise = True
    if agent_version.startswith("2"):
        pyngrok_config.config_version = "2"
    recorder = Recorder()
    pyngrok_config.session_callback = recorder
    tunnel = ngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    os.kill(ngrok_process.proc.pid, signal.SIGUSR1)  # the fake's Restart button, pressed once the tunnel is open
    restart_line = "INFO received stop request" if agent_version.startswith("3") else "received stop request"
    assert wait_for(lambda: any(entry.msg.startswith(restart_line) for entry in ngrok_process.logs), 10)
    assert wait_for(lambda: "kept" in [t.name for t in ngrok.get_tunnels(pyngrok_config)], 10)
    reopened = next(t for t in ngrok.get_tunnels(pyngrok_config) if t.name == "kept")
    assert fetch(str(reopened.public_url)) == local_site.page
    assert tunnel.public_url == reopened.public_url  # the user's tunnel object was reloaded in place
    assert "reconnecting" in recorder.states() and ngrok.get_ngrok_process(pyngrok_config) is ngrok_process


def held_at_gate(gate: str) -> List[str]:
    """The names of the tunnel requests the fake agent held at its gate (FAKE_NGROK_HOLD), in order."""
    try:
        with open(gate + ".held", encoding="utf-8") as held:
            return held.read().split()
    except FileNotFoundError:
        return []


@contextlib.contextmanager
def connect_held_at(gate: str, port: int, name: str, pyngrok_config: PyngrokConfig) -> Iterator[Future[Any]]:
    """A connect() in another thread whose request the fake agent holds at its gate (made here): the block runs
    while it is held, with the connect()'s future."""
    open(gate, "w").close()
    with ThreadPoolExecutor(1) as pool:
        connecting = pool.submit(ngrok.connect, str(port), name=name, pyngrok_config=pyngrok_config)
        assert wait_for(lambda: held_at_gate(gate) == [name], 10)
        yield connecting


def gated_agent(pyngrok_config: PyngrokConfig, monkeypatch: Any, tmp_path: Any, agent_version: str, hold: str) -> str:
    """Supervision of the fake agent as ``agent_version``, with its tunnel requests held at a gate file while
    it exists (FAKE_NGROK_HOLD; ``hold`` is "before" or "after" the agent handles one). Returns the gate's path;
    the gate is not made yet."""
    gate = str(tmp_path / "gate")
    monkeypatch.setenv("FAKE_NGROK_VERSION", agent_version)
    monkeypatch.setenv("FAKE_NGROK_HOLD", f"{hold}:{gate}")
    pyngrok_config.supervise = True
    if agent_version.startswith("2"):
        pyngrok_config.config_version = "2"
    return gate


def no_reopen_running() -> bool:
    return not any(thread.name == "pyngrok-reopen" for thread in threading.enumerate())


@pytest.mark.parametrize("agent_version, hold", [("3.30.0", "after"), ("2.3.41", "after"), ("3.30.0", "before")])
def test_a_connect_in_flight_during_a_restart_in_place_ends_with_the_tunnel_open(
    pyngrok_config: PyngrokConfig, local_site: Any, monkeypatch: Any, tmp_path: Any, agent_version: str, hold: str
) -> None:
    """The agent restarts in place while a connect() has its request out, and the re-open that follows the
    restart does not know of that tunnel yet. "after": the agent made the tunnel before the restart (and so
    lost it); "before": it makes it after the restart, and it must not be made twice."""
    gate = gated_agent(pyngrok_config, monkeypatch, tmp_path, agent_version, hold)
    ngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    with connect_held_at(gate, local_site.port, "late", pyngrok_config) as connecting:
        os.kill(ngrok_process.proc.pid, signal.SIGUSR1)  # the fake's Restart button
        # The re-open's request for "kept" is out too: it took its list of tunnels before "late" was known.
        assert wait_for(lambda: held_at_gate(gate) == ["late", "kept"], 10)
        os.remove(gate)
        late = connecting.result(timeout=30)
    assert wait_for(no_reopen_running, 10)
    on_agent = {str(t.name): t.public_url for t in ngrok.get_tunnels(pyngrok_config) if "(http)" not in str(t.name)}
    assert sorted(on_agent) == ["kept", "late"] and on_agent["late"] == late.public_url
    assert fetch(str(late.public_url)) == local_site.page


@pytest.mark.parametrize("agent_version", ["3.30.0", "2.3.41"])
def test_a_disconnect_during_the_re_open_after_a_restart_in_place_stays_closed(
    pyngrok_config: PyngrokConfig, local_site: Any, monkeypatch: Any, tmp_path: Any, agent_version: str
) -> None:
    """disconnect() while the re-open after a restart in place has the tunnel's request out at the agent."""
    gate = gated_agent(pyngrok_config, monkeypatch, tmp_path, agent_version, "before")
    tunnel = ngrok.connect(str(local_site.port), name="gone", pyngrok_config=pyngrok_config)
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    open(gate, "w").close()
    os.kill(ngrok_process.proc.pid, signal.SIGUSR1)  # the fake's Restart button
    assert wait_for(lambda: held_at_gate(gate) == ["gone"], 10)  # the re-open's request waits at the agent
    ngrok.disconnect(str(tunnel.public_url), pyngrok_config)
    os.remove(gate)
    assert wait_for(no_reopen_running, 10)
    assert ngrok.get_tunnels(pyngrok_config) == []
    assert ngrok_process._remembered_tunnels() == []  # a later restart does not bring it back either


def restarting(record: Any) -> bool:
    """Whether a record is the supervisor's log that it is about to restart the agent that died."""
    return bool(record.getMessage().startswith("ngrok process died; restart 1"))


def tunnel_names(pyngrok_config: PyngrokConfig) -> List[str]:
    return sorted(str(t.name) for t in ngrok.get_tunnels(pyngrok_config) if "(http)" not in str(t.name))


def test_a_connect_answered_just_before_the_agent_died_opens_its_tunnel_on_the_restarted_agent(
    pyngrok_config: PyngrokConfig, local_site: Any
) -> None:
    """The agent answers connect() and dies before connect() has noted the tunnel (its thread is held at its log
    of the answer, as a busy machine may hold it); supervision restarts the agent and re-opens the tunnels it
    knew of. The tunnel must end up on the restarted agent, not noted on the dead one and lost."""
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.05
    ngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    first = ngrok.get_ngrok_process(pyngrok_config)
    late = connect_across_a_crash(local_site.port, "late", pyngrok_config)
    second = ngrok.get_ngrok_process(pyngrok_config)
    assert second is not first and late.api_url == second.api_url
    assert tunnel_names(pyngrok_config) == ["kept", "late"]
    assert fetch(str(late.public_url)) == local_site.page


def test_a_connect_whose_request_is_out_when_the_agent_dies_opens_its_tunnel_on_the_restarted_agent(
    pyngrok_config: PyngrokConfig, local_site: Any, monkeypatch: Any, tmp_path: Any
) -> None:
    gate = str(tmp_path / "gate")
    monkeypatch.setenv("FAKE_NGROK_HOLD", f"after:{gate}")  # the agent makes the tunnel, and holds its answer
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.05
    ngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    first = ngrok.get_ngrok_process(pyngrok_config)
    with connect_held_at(gate, local_site.port, "late", pyngrok_config) as connecting:
        monkeypatch.delenv("FAKE_NGROK_HOLD")  # the restarted agent holds nothing
        os.kill(first.proc.pid, signal.SIGKILL)  # the request is cut off
        late = connecting.result(timeout=30)
    second = ngrok.get_ngrok_process(pyngrok_config)
    assert second is not first and late.api_url == second.api_url
    assert wait_for(lambda: pyngrok._supervisors == {}, 20)
    assert tunnel_names(pyngrok_config) == ["kept", "late"]
    assert fetch(str(late.public_url)) == local_site.page


@pytest.mark.parametrize("restart", ["succeeds", "fails"])
def test_a_connect_while_the_agent_is_down_waits_for_supervision_to_restart_it(
    pyngrok_config: PyngrokConfig, local_site: Any, monkeypatch: Any, tmp_path: Any, restart: str
) -> None:
    """Called between the agent's death and its restart, connect() waits for the restart (it starts no agent of its
    own, which would ignore the back-off and the limit); when supervision gives up, connect() says so."""
    spawn_log = str(tmp_path / "spawns.log")
    pyngrok_config.ngrok_path = counting_agent(str(tmp_path), pyngrok_config.ngrok_path, spawn_log)
    pyngrok_config.supervise = True
    pyngrok_config.max_restarts = 1
    pyngrok_config.restart_backoff = 0.05
    ngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    first = ngrok.get_ngrok_process(pyngrok_config)
    if restart == "fails":
        monkeypatch.setenv("FAKE_NGROK_STARTUP", "error")  # the restarted agent's session is refused
    # The supervisor is held as it is about to restart the agent, until the caller waits for the restart.
    held_restart = LogGate(
        "pyngrok.process", restarting, lambda record: "waiting for the restart" in record.getMessage()
    )
    with held_restart:
        os.kill(first.proc.pid, signal.SIGKILL)
        assert wait_for(first._exited.is_set, 10)  # dead, and under supervision
        if restart == "succeeds":
            tunnel = ngrok.connect(str(local_site.port), name="new", pyngrok_config=pyngrok_config)
        else:
            with pytest.raises(PyngrokNgrokError) as caught:
                ngrok.connect(str(local_site.port), name="new", pyngrok_config=pyngrok_config)
    assert held_restart.reached.is_set() and held_restart.opened.is_set()
    if restart == "succeeds":
        assert wait_for(lambda: pyngrok._supervisors == {}, 20)
        assert tunnel.api_url == ngrok.get_ngrok_process(pyngrok_config).api_url
        assert tunnel_names(pyngrok_config) == ["kept", "new"]
        assert fetch(str(tunnel.public_url)) == local_site.page
    else:
        message = str(caught.value)
        assert "supervision gave up after 1 restart" in message and "ERR_NGROK_105" in message, message
        assert not process.is_process_running(pyngrok_config.ngrok_path)
    with open(spawn_log, encoding="utf-8") as spawns:
        assert len(spawns.readlines()) == 2  # the first agent, and supervision's one restart


@pytest.mark.parametrize("when", ["agent down", "re-open out"])
def test_a_disconnect_while_supervision_restarts_the_agent_stays_closed(
    pyngrok_config: PyngrokConfig, local_site: Any, monkeypatch: Any, tmp_path: Any, when: str
) -> None:
    """disconnect() between the agent's death and its restart ("agent down"), or while the restarted agent has
    the re-open's request for that tunnel ("re-open out"): the restart must not bring the tunnel back."""
    gate = str(tmp_path / "gate")
    monkeypatch.setenv("FAKE_NGROK_HOLD", f"before:{gate}")
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.05
    gone = ngrok.connect(str(local_site.port), name="gone", pyngrok_config=pyngrok_config)
    ngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    first = ngrok.get_ngrok_process(pyngrok_config)
    held_restart = LogGate("pyngrok.process", lambda record: when == "agent down" and restarting(record))
    with held_restart:
        if when == "re-open out":
            open(gate, "w").close()
        os.kill(first.proc.pid, signal.SIGKILL)
        assert wait_for(first._exited.is_set, 10)  # dead, and under supervision
        if when == "re-open out":
            assert wait_for(lambda: held_at_gate(gate) == ["gone"], 10)  # the re-open's request, at the agent
        ngrok.disconnect(str(gone.public_url), pyngrok_config)
        held_restart.open()
        if when == "re-open out":
            os.remove(gate)
        assert wait_for(lambda: pyngrok._supervisors == {}, 20)
    assert wait_for(no_reopen_running, 10)
    assert tunnel_names(pyngrok_config) == ["kept"]
    second = ngrok.get_ngrok_process(pyngrok_config)
    assert second is not first
    assert [str(t.name) for _, _, t in second._remembered_tunnels()] == ["kept"]  # a later restart skips it too


def test_a_connect_gives_up_naming_the_tunnel_when_the_agent_keeps_restarting_in_place(
    pyngrok_config: PyngrokConfig, local_site: Any
) -> None:
    """Each time the agent answers connect(), it restarts in place (and loses the tunnel) before connect() has
    noted it: connect() looks again, at most max_restarts times, then gives up with an error naming the tunnel,
    leaving no tunnel of that name on the agent."""
    pyngrok_config.supervise = True
    pyngrok_config.max_restarts = 2
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    restarts: List[int] = []

    def restart_on_each_answer(record: Any) -> None:
        if record.threadName.startswith("connecting") and answer_to("late", record) and len(restarts) < 10:
            reopens = ngrok_process._reopens
            os.kill(ngrok_process.proc.pid, signal.SIGUSR1)  # the fake's Restart button
            restarts.append(reopens)
            wait_for(lambda: ngrok_process._reopens > reopens, 10)  # the agent is back, its re-open begun

    with LogHook("pyngrok.ngrok", restart_on_each_answer), ThreadPoolExecutor(1, "connecting") as pool:
        connecting = pool.submit(ngrok.connect, str(local_site.port), name="late", pyngrok_config=pyngrok_config)
        with pytest.raises(PyngrokNgrokError) as caught:
            connecting.result(timeout=60)
    assert 'tunnel "late"' in str(caught.value) and "3 times" in str(caught.value), caught.value
    assert len(restarts) == pyngrok_config.max_restarts + 1
    assert wait_for(no_reopen_running, 10)
    assert tunnel_names(pyngrok_config) == []
    assert ngrok.get_ngrok_process(pyngrok_config) is ngrok_process


def test_an_agent_that_dies_as_supervision_finishes_its_restart_is_restarted_too(
    pyngrok_config: PyngrokConfig, local_site: Any
) -> None:
    """The restarted agent dies just as its supervisor is done (held at its last log line, as a busy machine
    may): that death must be supervised too, not lost because a supervisor was still registered."""
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.05
    tunnel = ngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    first = ngrok.get_ngrok_process(pyngrok_config)
    second: List[Any] = []
    killed = threading.Event()

    def kill_the_restarted_agent(record: Any) -> None:
        if record.getMessage().startswith("ngrok restarted (restart 1") and not second:
            second.append(pyngrok._current_processes[pyngrok_config.ngrok_path])
            os.kill(second[0].proc.pid, signal.SIGKILL)
            wait_for(second[0]._exited.is_set, 10)  # its death is reported while the supervisor is still there
            killed.set()

    with LogHook("pyngrok.process", kill_the_restarted_agent):
        os.kill(first.proc.pid, signal.SIGKILL)
        assert killed.wait(20)
        assert wait_for(lambda: pyngrok._supervisors == {}, 20)
    third = ngrok.get_ngrok_process(pyngrok_config)
    assert third is not second[0] and third is not first
    assert tunnel_names(pyngrok_config) == ["kept"]  # re-opened by supervision, not a fresh agent's start
    assert fetch(str(tunnel.public_url)) == local_site.page


def test_a_call_that_finds_the_agent_dead_before_its_exit_is_reported_leaves_it_to_supervision(
    pyngrok_config: PyngrokConfig, local_site: Any
) -> None:
    """A program that polls is_process_running() sees the crash at once, often before the agent's reader has
    reported the exit: forgetting the dead agent then must not make its death look like a kill()."""
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.05
    tunnel = ngrok.connect(str(local_site.port), name="kept", pyngrok_config=pyngrok_config)
    first = ngrok.get_ngrok_process(pyngrok_config)
    os.kill(first.proc.pid, signal.SIGKILL)
    while pyngrok._current_processes.get(pyngrok_config.ngrok_path) is first:
        process.is_process_running(pyngrok_config.ngrok_path)  # the call that forgets the dead agent
    assert wait_for(lambda: process.is_process_running(pyngrok_config.ngrok_path), 10)
    assert ngrok.get_ngrok_process(pyngrok_config) is not first
    assert wait_for(lambda: pyngrok._supervisors == {}, 10)
    assert tunnel_names(pyngrok_config) == ["kept"]
    assert fetch(str(tunnel.public_url)) == local_site.page


def test_supervision_gives_up_after_its_limit(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    recorder = Recorder()
    pyngrok_config.session_callback = recorder
    pyngrok_config.supervise = True
    pyngrok_config.max_restarts = 2
    pyngrok_config.restart_backoff = 0.05
    pyngrok_config.startup_timeout = 3
    first = ngrok.get_ngrok_process(pyngrok_config)
    monkeypatch.setenv("FAKE_NGROK_STARTUP", "error")  # every restart now fails
    os.kill(first.proc.pid, signal.SIGKILL)
    assert wait_for(lambda: any("gave up after 2 restarts" in str(e.reason) for e in recorder.events), 20)
    failures = [e.reason for e in recorder.events if e.state == "stopped" and "failed" in str(e.reason)]
    assert len(failures) == 2 and "ERR_NGROK_105" in str(failures[0])
    assert not process.is_process_running(pyngrok_config.ngrok_path)
    assert list(children_of(os.getpid())) == []


def test_kill_during_a_restart_ends_everything(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.05
    first = ngrok.get_ngrok_process(pyngrok_config)
    monkeypatch.setenv("FAKE_NGROK_STARTUP", "silent")  # the restart hangs in startup
    pyngrok_config.startup_timeout = 30
    os.kill(first.proc.pid, signal.SIGKILL)
    # The restart is under way once an agent other than the killed one runs (the killed one may still be
    # dying when os.kill returns).
    assert wait_for(lambda: set(children_of(os.getpid())) - {first.proc.pid}, 10)
    ngrok.kill(pyngrok_config)
    assert wait_for(lambda: list(children_of(os.getpid())) == [], 10)
    assert not process.is_process_running(pyngrok_config.ngrok_path)
    assert pyngrok._supervisors == {}


def test_a_kill_while_a_death_is_being_reported_ends_supervision(pyngrok_config: PyngrokConfig) -> None:
    """The agent dies by itself, and kill() runs before its death is reported: it is not restarted after."""
    pyngrok_config.supervise = True
    pyngrok_config.restart_backoff = 0.05
    first = ngrok.get_ngrok_process(pyngrok_config)
    # Holds the thread that reports the death between seeing it and starting supervision, until kill() has
    # taken what it stops (it then logs the agent it kills).
    reporting = LogGate(
        "pyngrok.process",
        holds=lambda record: "exited unexpectedly" in record.getMessage(),
        opened_by=lambda record: record.getMessage().startswith("Killing ngrok process"),
    )
    with reporting:
        os.kill(first.proc.pid, signal.SIGKILL)
        assert reporting.reached.wait(10)
        ngrok.kill(pyngrok_config)
        assert reporting.opened.is_set()
    assert wait_for(lambda: first._exited.is_set(), 10)  # the report has run its course
    assert pyngrok._supervisors == {}
    assert [thread for thread in threading.enumerate() if thread.name == "pyngrok-supervisor"] == []
    assert list(children_of(os.getpid())) == []


def test_crash_of_the_agent_is_seen_by_wait(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_CRASH_AFTER", "0.5")
    ngrok.get_ngrok_process(pyngrok_config)
    assert ngrok.wait(pyngrok_config, timeout=10) == 2
    assert list(children_of(os.getpid())) == []


def test_wait_returns_on_timeout_and_stops_the_agent(pyngrok_config: PyngrokConfig) -> None:
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    assert ngrok.wait(pyngrok_config, timeout=0.3) is None
    assert not pid_alive(ngrok_process.proc.pid)


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_wait_in_a_script_ends_on_a_signal_without_traceback(
    fake_ngrok_path: str, config_file: str, tmp_path: Any, signal_number: int
) -> None:
    script = (
        "import pyngrok, signal, threading, time\n"
        f"config = pyngrok.PyngrokConfig(ngrok_path={fake_ngrok_path!r}, config_path={config_file!r})\n"
        "tunnel = pyngrok.connect('8000', pyngrok_config=config)\n"
        "print(pyngrok.get_ngrok_process(config).proc.pid, flush=True)\n"
        "def announce():\n"  # says when wait() has put its SIGTERM handler in place
        "    while signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:\n"
        "        time.sleep(0.01)\n"
        "    print('waiting', flush=True)\n"
        "threading.Thread(target=announce, daemon=True).start()\n"
        "print('exit code', pyngrok.wait(config), flush=True)\n"
    )
    child = python_child(script, str(tmp_path))
    try:
        assert child.stdout is not None
        agent_pid = int(child.stdout.readline())
        assert child.stdout.readline() == b"waiting\n"  # the script is inside pyngrok.wait()
        child.send_signal(signal_number)
        out, err = child.communicate(timeout=15)
    finally:
        child.kill()
    assert child.returncode == 0, err
    assert b"exit code None" in out and b"Traceback" not in err
    assert wait_for(lambda: not pid_alive(agent_pid), 5)
