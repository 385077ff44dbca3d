"""Reliability with real processes: fork, crash loops, parent death, a misbehaving agent API, failing writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from helpers import REPO_ROOT
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
