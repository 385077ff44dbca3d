"""A program that opens a tunnel, then forks (``os.fork`` or ``multiprocessing``) while its agent runs.

    python forking_program.py <ngrok_path> <config_path> <site_port> <mode>

Modes: ``fork-kill`` (the child calls ``kill()`` and exits normally), ``fork-exit`` (the child just exits
normally, running ``atexit``), ``mp-fork`` and ``mp-spawn`` (a ``multiprocessing`` child calls ``kill()``).
It prints one JSON object: how long the child took, how it ended, whether the agent outlived it, and what
the parent then fetched through its tunnel.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
import urllib.request

import pyngrok

HANG_GUARD_SECONDS = 15.0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def child_kills(ngrok_path: str, config_path: str) -> None:
    pyngrok.kill(pyngrok.PyngrokConfig(ngrok_path=ngrok_path, config_path=config_path))


def wait_for_forked_child(pid: int) -> int:
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status >> 8
        time.sleep(0.01)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -9


def run_child(mode: str, ngrok_path: str, config_path: str) -> int:
    if mode.startswith("mp-"):
        context = multiprocessing.get_context(mode[3:])
        child = context.Process(target=child_kills, args=(ngrok_path, config_path))
        child.start()
        child.join(HANG_GUARD_SECONDS)
        if child.exitcode is None:
            child.kill()
            child.join()
            return -9
        return int(child.exitcode)
    pid = os.fork()
    if pid == 0:
        if mode == "fork-kill":
            child_kills(ngrok_path, config_path)
        sys.exit(0)  # a normal exit: atexit handlers run
    return wait_for_forked_child(pid)


def main() -> None:
    ngrok_path, config_path, site_port, mode = sys.argv[1:5]
    config = pyngrok.PyngrokConfig(ngrok_path=ngrok_path, config_path=config_path, startup_timeout=10)
    tunnel = pyngrok.connect(site_port, pyngrok_config=config)
    agent_pid = pyngrok.get_ngrok_process(config).proc.pid
    started = time.monotonic()
    exit_code = run_child(mode, ngrok_path, config_path)
    child_seconds = time.monotonic() - started
    with urllib.request.urlopen(str(tunnel.public_url), timeout=5) as response:
        page = response.read().decode("utf-8")
    report = {"child_exit": exit_code, "child_seconds": child_seconds, "agent_alive": alive(agent_pid), "page": page}
    print(json.dumps(report), flush=True)
    pyngrok.kill(config)


if __name__ == "__main__":
    main()
