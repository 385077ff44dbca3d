"""Every Python example in docs/*.rst runs against the fake agent, each as a script in a fresh interpreter.

An example is a ``.. code-block:: python`` block. An RST comment right before it says how it runs:

* none: as a script that must exit 0;
* ``.. example: serves``: a server that prints ``Public URL: <url>`` and then serves until Ctrl-C; the test
  fetches the page through that public URL (the fake agent really forwards it), then sends SIGINT;
* ``.. example: pytest``: a test module, run with pytest.

The scripts see a fresh user: a HOME and ngrok config dir of their own, the fake agent as
``PYNGROK_NGROK_PATH``, ``PORT`` (a free port for a server), and ``NGROK_ARCHIVE``/``NGROK_SHA256`` (a
.tgz of the fake agent). An example that imports a web framework runs where the framework is installed
(``make docs`` installs Flask, Django, FastAPI and uvicorn into .venv-docs and runs this file there) and is
skipped elsewhere, saying so.
"""

from __future__ import annotations

import ast
import contextlib
import glob
import hashlib
import importlib.util
import os
import re
import signal
import subprocess
import sys
import textwrap
import urllib.request
from typing import Any, Dict, List, NamedTuple

import pytest

from helpers import REPO_ROOT, default_sigint, free_port, wait_for
from installer_servers import Entry, tgz_bytes

DOCS = os.path.join(REPO_ROOT, "docs")
BLOCK = re.compile(
    r"(?:^\.\. example: (?P<kind>[a-z]+)\n\n)?^\.\. code-block:: python\n\n(?P<body>(?:(?:    .*)?\n)+)", re.MULTILINE
)
PUBLIC_URL = re.compile(r"Public URL: (\S+)")


class Example(NamedTuple):
    page: str
    line: int
    kind: str
    source: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def doc_examples() -> List[Example]:
    found = []
    for path in sorted(glob.glob(os.path.join(DOCS, "*.rst"))):
        with open(path, encoding="utf-8") as page:
            text = page.read()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start("body")) + 1
            kind = match.group("kind") or "script"
            found.append(Example(os.path.basename(path), line, kind, textwrap.dedent(match.group("body"))))
    return found


EXAMPLES = doc_examples()


def missing_imports(source: str) -> List[str]:
    """Top-level modules the example imports that this interpreter cannot import."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return sorted(name for name in names if name != "pyngrok" and importlib.util.find_spec(name) is None)


@pytest.fixture
def example_env(tmp_path: Any, fake_ngrok_path: str) -> Dict[str, str]:
    home = tmp_path / "home"
    config_dir = home / ".config" / "ngrok"
    config_dir.mkdir(parents=True)
    (config_dir / "ngrok.yml").write_text(f'version: "3"\nagent:\n  web_addr: 127.0.0.1:{free_port()}\n')
    with open(fake_ngrok_path, "rb") as agent:
        archive = tgz_bytes([Entry("ngrok", agent.read())])
    archive_path = tmp_path / "ngrok-v3-stable-linux-amd64.tgz"
    archive_path.write_bytes(archive)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYNGROK_", "NGROK_", "XDG_"))}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PYTHONPATH=REPO_ROOT,
        PYNGROK_NGROK_PATH=fake_ngrok_path,
        PYNGROK_QUIET="1",
        PORT=str(free_port()),
        NGROK_ARCHIVE=str(archive_path),
        NGROK_SHA256=hashlib.sha256(archive).hexdigest(),
    )
    return env


def test_the_docs_have_examples_of_each_kind() -> None:
    kinds = {example.kind for example in EXAMPLES}
    assert {"script", "serves", "pytest"} <= kinds, kinds
    assert all(example.kind in ("script", "serves", "pytest") for example in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_doc_example_runs(example: Example, example_env: Dict[str, str], tmp_path: Any) -> None:
    missing = missing_imports(example.source)
    if missing:
        reason = f"needs {', '.join(missing)} (`make docs` installs them and runs these examples)"
        if os.environ.get("PYNGROK_DOCS_EXAMPLES_ALL"):
            pytest.fail(reason)  # under `make docs`, every example runs
        pytest.skip(reason)
    script = tmp_path / ("test_example.py" if example.kind == "pytest" else "example.py")
    script.write_text(example.source)
    work = tmp_path / "work"
    work.mkdir()
    if example.kind == "pytest":
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
        result = subprocess.run(command, cwd=str(work), env=example_env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{example} failed:\n{example.source}\n{result.stdout}\n{result.stderr}"
        assert " passed" in result.stdout
    elif example.kind == "serves":
        run_server_example(example, [sys.executable, str(script)], str(work), example_env)
    else:
        command = [sys.executable, str(script)]
        result = subprocess.run(command, cwd=str(work), env=example_env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{example} failed:\n{example.source}\n{result.stderr}"


def run_server_example(example: Example, command: List[str], cwd: str, env: Dict[str, str]) -> None:
    output = os.path.join(cwd, "output.txt")
    # The example's stdout and stderr append to the file (O_APPEND), which the test reads through a file of its
    # own: a file shared with the test would share its offset, and a read's seek(0) would make the example's
    # next write overwrite what it printed first (its public URL).
    with open(output, "a", encoding="utf-8") as sink:
        # A session of its own, so that SIGINT reaches every process of the example, as Ctrl-C in a terminal
        # would (Django's autoreloader serves from a child process).
        env = {**env, "PYTHONFAULTHANDLER": "1"}
        server = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            preexec_fn=default_sigint,  # Ctrl-C as in a terminal, even when this run ignores SIGINT (a CI job)
        )
        try:
            page = fetch_through_public_url(example, server, output)
            assert "Hello" in page, page
            os.killpg(server.pid, signal.SIGINT)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(server.pid, signal.SIGABRT)  # faulthandler (PYTHONFAULTHANDLER) dumps every thread
                server.wait(timeout=30)
                pytest.fail(f"{example} did not stop on Ctrl-C within 30 s:\n{read(output)}")
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(server.pid, signal.SIGKILL)  # whatever is left of the example's processes
            server.wait(timeout=30)


def fetch_through_public_url(example: Example, server: "subprocess.Popen[str]", output: str) -> str:
    """Wait for the example to print its public URL, then fetch the page through it (the fake agent forwards)."""
    public_url: List[str] = []

    def printed_url() -> bool:
        match = PUBLIC_URL.search(read(output))
        if match:
            public_url.append(match.group(1))
        return bool(match) or server.poll() is not None

    assert wait_for(printed_url, timeout=60) and public_url, f"{example} printed no public URL:\n{read(output)}"
    page: List[str] = []

    def fetched() -> bool:
        try:
            with urllib.request.urlopen(public_url[0], timeout=5) as response:
                page.append(response.read().decode())
                return True
        except OSError:
            return server.poll() is not None

    assert wait_for(fetched, timeout=60) and page, f"{example}: nothing served at {public_url[0]}:\n{read(output)}"
    return page[0]


def read(output: str) -> str:
    with open(output, encoding="utf-8", errors="replace") as printed:
        return printed.read()


def test_the_api_reference_lists_every_public_name() -> None:
    """docs/api.rst names each name of each submodule's ``__all__`` (upstream's public API)."""
    import pyngrok

    with open(os.path.join(DOCS, "api.rst"), encoding="utf-8") as page:
        api = page.read()
    missing = []
    for facade in ("ngrok", "aio", "conf", "process", "installer", "agent", "log", "exception"):
        for name in getattr(pyngrok, facade).__all__:
            documented = f"pyngrok.{facade}.{name}\n" in api or f":: {name}\n   :module: pyngrok.{facade}\n" in api
            if not documented:
                missing.append(f"{facade}.{name}")
    assert missing == []
