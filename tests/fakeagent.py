"""Install the fake ngrok agent (``tests/fake_ngrok.py``) as an executable named ``ngrok``.

    path = install_fake_agent(tmp_path)           # runs under this interpreter
    subprocess.Popen([path, "start", "--none", "--log", "stdout", "--config", cfg])

The executable is a launcher whose first line is ``#!<python> -S``, so the agent runs under the chosen
interpreter whatever ``python3`` on PATH happens to be. It imports ``fake_ngrok`` from this directory as a
module, with the bytecode of what it runs cached in ``.cache/bytecode`` (``sys.pycache_prefix``:
never in the source tree, and even under PYTHONDONTWRITEBYTECODE), so the fake is compiled once, not on
every start; ``-S`` skips site-packages, which the fake (standard library only) never needs. Together: tens
of milliseconds less per agent start, over a hundred starts in a run.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from typing import Optional

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
BYTECODE_CACHE = os.path.join(os.path.dirname(TESTS_DIR), ".cache", "bytecode")

LAUNCHER = """\
#!{python} -S
import sys
sys.pycache_prefix = {cache_dir!r}
sys.dont_write_bytecode = False
sys.path.append({tests_dir!r})
import fake_ngrok
fake_ngrok.run_as_program()
"""


def install_fake_agent(directory, python: str = sys.executable) -> str:
    """Write ``<directory>/ngrok`` (mode 0755) running the fake agent; return its path."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "ngrok")
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(LAUNCHER.format(python=python, cache_dir=BYTECODE_CACHE, tests_dir=TESTS_DIR))
    os.chmod(temporary, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    os.replace(temporary, path)
    return path


def install_wrapped_fake_agent(
    directory, fake_path: str, environ=None, spawn_log: Optional[str] = None, gate: Optional[str] = None
) -> str:
    """Write ``<directory>/ngrok``, a shell script that runs the fake agent at ``fake_path`` with ``environ`` set.

    So one binary path gets its own ``FAKE_NGROK_*`` faults while the others run the plain fake. With
    ``spawn_log`` each run first appends its PID to that file; with ``gate`` (a FIFO) it then waits until a
    line is written there before the agent starts.
    """
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    lines = ["#!/bin/sh"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in (environ or {}).items()]
    if spawn_log is not None:
        lines.append(f"echo $$ >> {shlex.quote(spawn_log)}")
    if gate is not None:
        lines.append(f"read _ < {shlex.quote(gate)}")
    lines.append(f'exec {shlex.quote(fake_path)} "$@"')
    path = os.path.join(directory, "ngrok")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, stat.S_IRWXU)
    return path
