"""Reliability with real processes: fork, crash loops, parent death, a misbehaving agent API, failing writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
from typing import Any, List

import pytest

import pyngrok
from helpers import REPO_ROOT, pid_alive, wait_for
from pyngrok import ngrok, process
from pyngrok.conf import PyngrokConfig

TESTS_DIR = os.path.join(REPO_ROOT, "tests")


@pytest.mark.parametrize("mode", ["fork-kill", "fork-exit", "mp-fork", "mp-spawn"])
def test_a_forked_child_leaves_the_parents_agent_and_tunnel_alone(
    pyngrok_config: PyngrokConfig, local_site: Any, mode: str
) -> None:
    program = os.path.join(TESTS_DIR, "forking_program.py")
    args = [sys.executable, program, pyngrok_config.ngrok_path, str(pyngrok_config.config_path), str(local_site.port)]
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    done = subprocess.run([*args, mode], env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    report = json.loads(done.stdout)
    # The child ended by itself (the program kills a child that hangs), and the parent's agent still serves.
    assert report["child_exit"] == 0, done.stderr.decode()
    assert report["agent_alive"] and report["page"] == local_site.page
    assert b"Traceback" not in done.stderr and b"Fatal Python error" not in done.stderr


def counting_agent(directory: str, fake_ngrok_path: str, spawn_log: str) -> str:
    """An ``ngrok`` that notes each time it is started, then runs the fake agent."""
    path = os.path.join(directory, "counting-ngrok")
    with open(path, "w", encoding="utf-8") as script:
        script.write(f'#!/bin/sh\necho started >> "{spawn_log}"\nexec "{fake_ngrok_path}" "$@"\n')
    os.chmod(path, 0o755)
    return path


def test_a_crash_looping_agent_is_started_at_most_max_restarts_plus_one_times(
    pyngrok_config: PyngrokConfig, tmp_path: Any, monkeypatch: Any
) -> None:
    spawn_log = os.path.join(str(tmp_path), "spawns.log")
    pyngrok_config.ngrok_path = counting_agent(str(tmp_path), pyngrok_config.ngrok_path, spawn_log)
    pyngrok_config.supervise = True
    pyngrok_config.max_restarts = 3
    pyngrok_config.restart_backoff = 0.05
    gave_up = threading.Event()
    events: List[str] = []

    def on_session(event: Any) -> None:
        events.append(str(event.reason))
        if str(event.reason).startswith("gave up"):
            gave_up.set()

    pyngrok_config.session_callback = on_session
    monkeypatch.setenv("FAKE_NGROK_CRASH_AFTER", "0.3")  # healthy, then dead 0.3 s later, every time
    ngrok.get_ngrok_process(pyngrok_config)
    assert gave_up.wait(30), events
    assert wait_for(lambda: pyngrok._supervisors == {} and not process.is_process_running(pyngrok_config.ngrok_path))
    with open(spawn_log, encoding="utf-8") as spawns:
        assert len(spawns.readlines()) == pyngrok_config.max_restarts + 1
    assert [reason for reason in events if reason.startswith("gave up")] == ["gave up after 3 restarts"]
    assert [reason for reason in events if reason.startswith("restart ")] == [
        "restart 1 of 3",
        "restart 2 of 3",
        "restart 3 of 3",
    ]


@pytest.mark.parametrize("overlay_in", ["memory", "file"])
def test_kill_9_of_the_program_leaves_no_agent_and_no_secret(
    pyngrok_config: PyngrokConfig, tmp_path: Any, monkeypatch: Any, overlay_in: str
) -> None:
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    program = os.path.join(TESTS_DIR, "parent_death_program.py")
    args = [sys.executable, program, pyngrok_config.ngrok_path, str(pyngrok_config.config_path), overlay_in]
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TMPDIR=str(private_tmp))
    child = subprocess.Popen(args, env=env, stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None
        report = json.loads(child.stdout.readline())
    finally:
        child.kill()
        child.wait()
    # The agent was started from a thread that has ended, and lived on: it dies with the process only.
    assert report["healthy"]
    assert wait_for(lambda: not pid_alive(report["agent"]))
    if overlay_in == "memory":
        assert report["overlay_dir"] is None and os.listdir(str(private_tmp)) == []
        return
    # A file overlay outlives a kill -9; the next agent start (here, in this process) removes it.
    assert os.listdir(str(private_tmp)) == [os.path.basename(report["overlay_dir"])]
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    ngrok.get_ngrok_process(pyngrok_config)
    assert os.listdir(str(private_tmp)) == []
