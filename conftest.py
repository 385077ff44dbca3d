"""Every fixture shared by test_pyngrok.py and tests/: the fake agent, the real agent and our tunnel server,
configs, local servers."""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Iterator, Tuple

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))

import pyngrok
import realagent
import tunnel_server as ts
from fakeagent import BYTECODE_CACHE, install_fake_agent
from helpers import EchoServer, LocalSite, free_port

# The tests start about a hundred Python children (scripts, doc examples, CLI runs) that import pyngrok.py:
# they keep its bytecode, and the standard library's, in .cache/bytecode, so that each is compiled once, not
# in every child, and nothing is written beside the sources (which PYTHONDONTWRITEBYTECODE asks for).
os.environ.setdefault("PYTHONPYCACHEPREFIX", BYTECODE_CACHE)
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


@pytest.fixture(scope="session")
def fake_ngrok_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fake agent (tests/fake_ngrok.py) installed as an executable named ``ngrok``."""
    return install_fake_agent(str(tmp_path_factory.mktemp("fake-bin")))


@pytest.fixture(scope="session")
def real_agent() -> str:
    """The real ngrok 2.3.41 agent (tests/realagent.py): skipped when it cannot be had, failed instead under
    REQUIRE_REAL_AGENT."""
    return realagent.require_real_agent()


@pytest.fixture(scope="session")
def tunnel_certs(tmp_path_factory: pytest.TempPathFactory) -> Tuple[str, str, str]:
    """A CA, and a certificate it signed for 127.0.0.1 and localhost: (ca, cert, key) paths."""
    return ts.make_ca_and_cert(str(tmp_path_factory.mktemp("tunnel-certs")))


@pytest.fixture
def tunnel_server(tmp_path: "os.PathLike[str]", tunnel_certs: Tuple[str, str, str]) -> Iterator[ts.TunnelServer]:
    """Our tunnel server (tests/tunnel_server.py) on loopback. Closed after the test, which fails if a thread
    of the server is stuck or left running."""
    directory = os.path.join(str(tmp_path), "tunnel-server")
    os.makedirs(directory)
    server = ts.TunnelServer(directory, certs=tunnel_certs).start()
    try:
        yield server
    finally:
        server.close()
        assert server.stuck_threads == []
        leftovers = [t.name for t in threading.enumerate() if t.name.startswith(("tunnel-server:", "tls-writer"))]
        assert leftovers == []


@pytest.fixture
def web_port() -> int:
    return free_port()


@pytest.fixture
def config_file(tmp_path: "os.PathLike[str]", web_port: int) -> str:
    """A v3 ngrok config whose web_addr is a free loopback port."""
    path = os.path.join(str(tmp_path), "ngrok.yml")
    with open(path, "w", encoding="utf-8") as config:
        config.write(f'version: "3"\nagent:\n  web_addr: 127.0.0.1:{web_port}\n')
    return path


@pytest.fixture
def pyngrok_config(fake_ngrok_path: str, config_file: str) -> Iterator[pyngrok.PyngrokConfig]:
    """A config for the fake agent; the agent is killed after the test, whatever happened."""
    config = pyngrok.PyngrokConfig(ngrok_path=fake_ngrok_path, config_path=config_file, startup_timeout=10)
    yield config
    pyngrok.kill(config)


@pytest.fixture
def local_site(tmp_path: "os.PathLike[str]") -> Iterator[LocalSite]:
    site_dir = os.path.join(str(tmp_path), "site")
    os.makedirs(site_dir)
    site = LocalSite(site_dir)
    yield site
    site.close()


@pytest.fixture
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _report_rows(request: pytest.FixtureRequest) -> Iterator[None]:
    """The rows a test added to its module's ``REPORT_ROWS`` go with the test's result (as pytest's
    ``record_property`` does), under the module's ``REPORT_TABLE``: ``make reports`` builds tables of them."""
    yield
    rows = getattr(request.module, "REPORT_ROWS", None)
    while rows:
        row = json.dumps(rows.pop(0), default=str)
        request.node.user_properties.append(("report:" + request.module.REPORT_TABLE, row))


@pytest.fixture(autouse=True)
def _no_agent_left_behind() -> Iterator[None]:
    """Every test must leave no agent running: kill stragglers and fail the test that left them."""
    yield
    with pyngrok._current_processes_lock:
        leftovers = [*pyngrok._current_processes, *pyngrok._agent_starts]
    for ngrok_path in leftovers:
        pyngrok.kill_process(ngrok_path)
    pyngrok._current_tunnels.clear()
    assert not leftovers, f"agents left running or starting: {leftovers}"
