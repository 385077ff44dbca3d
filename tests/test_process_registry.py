"""The registry of agents: a start in progress blocks no other path, is shared by its waiters, and kill() ends it.

Each test runs real fake-agent processes. The agent that must stay "starting" is the fake with its
``hang_after_web`` fault behind a binary path of its own (a wrapper script), so the other paths run the plain
fake; its start can only end by ``kill()`` or by its ``startup_timeout``, which is far beyond the test.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Dict, Iterator, List, Optional

import pytest

import pyngrok
from fakeagent import install_wrapped_fake_agent
from helpers import children_of, free_port, in_forked_child, pid_alive, wait_for
from pyngrok import PyngrokConfig, PyngrokNgrokError

pytestmark = pytest.mark.skipif(os.name != "posix", reason="the wrapper agents are shell scripts")

KILLED_WHILE_STARTING = "stopped by kill() while it started"


class Outcome(threading.Thread):
    """``get_process`` in a thread of its own, keeping what it returned or raised."""

    def __init__(self, pyngrok_config: PyngrokConfig) -> None:
        super().__init__(daemon=True)
        self.pyngrok_config = pyngrok_config
        self.agent: Optional[pyngrok.NgrokProcess] = None
        self.error: Optional[BaseException] = None

    def run(self) -> None:
        try:
            self.agent = pyngrok.get_process(self.pyngrok_config)
        except BaseException as error:
            self.error = error


class WaitingForAStart(logging.Handler):
    """Counts the calls that joined a start in progress, as the library logs them, and signals each one."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.joined = threading.Semaphore(0)

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("Waiting for the ngrok process starting"):
            self.joined.release()


@pytest.fixture
def waiting_for_a_start() -> Iterator[WaitingForAStart]:
    logger = logging.getLogger("pyngrok.process")
    handler, level = WaitingForAStart(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def agent_config(directory: str, ngrok_path: str, startup_timeout: float = 60) -> PyngrokConfig:
    os.makedirs(directory, exist_ok=True)
    config_path = os.path.join(directory, "ngrok.yml")
    with open(config_path, "w", encoding="utf-8") as config:
        config.write(f'version: "3"\nagent:\n  web_addr: 127.0.0.1:{free_port()}\n')
    return PyngrokConfig(ngrok_path=ngrok_path, config_path=config_path, startup_timeout=startup_timeout)


@pytest.fixture
def hanging(tmp_path: Any, fake_ngrok_path: str) -> Iterator[Dict[str, Any]]:
    """A binary path whose agent starts its web service and then never gets a session."""
    state_file = str(tmp_path / "hanging-state.json")
    environ = {"FAKE_NGROK_STARTUP": "hang_after_web", "FAKE_NGROK_STATE_FILE": state_file}
    ngrok_path = install_wrapped_fake_agent(str(tmp_path / "hanging-bin"), fake_ngrok_path, environ)
    config = agent_config(str(tmp_path / "hanging"), ngrok_path)
    yield {"config": config, "state_file": state_file}
    pyngrok.kill(config)


def no_start_in_progress() -> bool:
    with pyngrok._current_processes_lock:
        return not pyngrok._agent_starts


def test_a_start_in_progress_blocks_no_other_path_and_kill_cancels_it(
    pyngrok_config: PyngrokConfig, hanging: Dict[str, Any]
) -> None:
    starting = Outcome(hanging["config"])
    starting.start()
    assert wait_for(lambda: os.path.exists(hanging["state_file"]), 20)  # its agent runs: the start is under way

    other = pyngrok.get_process(pyngrok_config)
    assert pyngrok.is_process_running(pyngrok_config.ngrok_path) and other.healthy()
    pyngrok.kill_process(pyngrok_config.ngrok_path)
    assert not pyngrok.is_process_running(pyngrok_config.ngrok_path) and other.proc.poll() is not None
    # All of that happened while the first start was still waiting for a session that never comes.
    assert starting.is_alive() and starting.agent is None and starting.error is None
    assert not pyngrok.is_process_running(hanging["config"].ngrok_path)  # starting is not running
    assert hanging["config"].ngrok_path not in pyngrok._current_processes

    half_started = [pid for pid in children_of(os.getpid())]
    assert len(half_started) == 1
    pyngrok.kill(hanging["config"])
    # kill() returns once the start has ended and its agent is gone; the caller's thread then returns its error.
    assert no_start_in_progress() and not pid_alive(half_started[0])
    starting.join(10)
    assert not starting.is_alive()
    assert isinstance(starting.error, PyngrokNgrokError) and KILLED_WHILE_STARTING in str(starting.error)
    assert list(children_of(os.getpid())) == [] and not pid_alive(half_started[0])
    assert no_start_in_progress() and pyngrok._current_processes == {}


def test_concurrent_calls_for_one_path_share_one_start(
    tmp_path: Any, fake_ngrok_path: str, waiting_for_a_start: WaitingForAStart
) -> None:
    spawn_log, gate = str(tmp_path / "spawns"), str(tmp_path / "gate")
    os.mkfifo(gate)
    ngrok_path = install_wrapped_fake_agent(str(tmp_path / "bin"), fake_ngrok_path, spawn_log=spawn_log, gate=gate)
    config = agent_config(str(tmp_path / "agent"), ngrok_path)
    callers = [Outcome(config), Outcome(config)]
    try:
        callers[0].start()
        assert wait_for(lambda: os.path.exists(spawn_log), 20)  # the first call has spawned its agent
        callers[1].start()
        assert waiting_for_a_start.joined.acquire(timeout=20)  # the second call waits for that start
        with open(gate, "w", encoding="utf-8") as release:  # let the agent start
            release.write("go\n")
        for caller in callers:
            caller.join(30)
        assert [caller.error for caller in callers] == [None, None]
        assert callers[0].agent is not None and callers[0].agent is callers[1].agent
        with open(spawn_log, encoding="utf-8") as spawns:
            assert len(spawns.read().split()) == 1
        assert [callers[0].agent.proc.pid] == list(children_of(os.getpid()))
        assert pyngrok._current_processes == {ngrok_path: callers[0].agent} and no_start_in_progress()
    finally:
        pyngrok.kill(config)


def test_waiters_get_the_outcome_of_a_cancelled_start(
    hanging: Dict[str, Any], waiting_for_a_start: WaitingForAStart
) -> None:
    callers = [Outcome(hanging["config"]) for _ in range(3)]
    callers[0].start()
    assert wait_for(lambda: os.path.exists(hanging["state_file"]), 20)
    for caller in callers[1:]:
        caller.start()
        assert waiting_for_a_start.joined.acquire(timeout=20)

    pyngrok.kill(hanging["config"])
    for caller in callers:
        caller.join(30)
    errors: List[Optional[BaseException]] = [caller.error for caller in callers]
    assert all(isinstance(error, PyngrokNgrokError) and KILLED_WHILE_STARTING in str(error) for error in errors)
    assert [caller.agent for caller in callers] == [None, None, None]
    with open(hanging["state_file"], encoding="utf-8") as state:
        assert '"pid"' in state.read()  # one agent was spawned, and it is gone
    assert list(children_of(os.getpid())) == [] and no_start_in_progress()


def test_kill_while_the_agent_has_not_said_a_word_cancels_the_start(tmp_path: Any, fake_ngrok_path: str) -> None:
    spawn_log, gate = str(tmp_path / "spawns"), str(tmp_path / "gate")
    os.mkfifo(gate)
    ngrok_path = install_wrapped_fake_agent(str(tmp_path / "bin"), fake_ngrok_path, spawn_log=spawn_log, gate=gate)
    config = agent_config(str(tmp_path / "agent"), ngrok_path)
    starting = Outcome(config)
    starting.start()
    assert wait_for(lambda: os.path.exists(spawn_log), 20)  # the wrapper runs; the agent is held at the gate
    pyngrok.kill(config)
    assert no_start_in_progress()
    starting.join(10)
    assert not starting.is_alive()
    assert isinstance(starting.error, PyngrokNgrokError) and KILLED_WHILE_STARTING in str(starting.error)
    assert list(children_of(os.getpid())) == [] and no_start_in_progress()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_leaves_a_start_in_progress_alone(hanging: Dict[str, Any]) -> None:
    starting = Outcome(hanging["config"])
    starting.start()
    assert wait_for(lambda: os.path.exists(hanging["state_file"]), 20)
    [agent_pid] = list(children_of(os.getpid()))

    def in_the_child() -> bytes:  # kill everything it knows of, and report what that was
        seen = len(pyngrok._agent_starts) + len(pyngrok._current_processes)
        pyngrok.kill(hanging["config"])
        pyngrok._kill_all_processes()
        return str(seen).encode()

    assert in_forked_child(in_the_child) == b"0"
    assert pid_alive(agent_pid) and starting.is_alive() and not no_start_in_progress()
    pyngrok.kill(hanging["config"])
    assert no_start_in_progress()
    starting.join(10)
    assert not starting.is_alive() and KILLED_WHILE_STARTING in str(starting.error)
