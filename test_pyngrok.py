"""The core of pyngrok.py, tested against real agents: the fake agent in tests/ and the real ngrok 2.3.41.

Every agent here is a real subprocess and every tunnel carries real traffic over loopback sockets. Only
ngrok's cloud is out of reach; the fake agent stands in for the agent's side of it.
"""

from __future__ import annotations

import ast
import asyncio
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any, Dict, List, Optional, Tuple

import pytest

import pyngrok
from pyngrok import agent, conf, exception, installer, log, ngrok, process
from pyngrok.conf import PyngrokConfig
from pyngrok.exception import PyngrokError, PyngrokNgrokError, PyngrokNgrokHTTPError, PyngrokNgrokURLError

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "tests"))
from helpers import (
    REPO_ROOT,
    BlackHole,
    LoopTicker,
    children_of,
    echo_round_trip,
    fetch,
    free_port,
    http_request,
    pid_alive,
    port_refuses,
    public_port,
    read_cmdline,
    real_agent_config,
    wait_for,
)

SECRET_TOKEN = "2abcDEFsecretTOKEN_0123456789"


def write_config(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as config:
        config.write(textwrap.dedent(text))


def run_python(code: str, cwd: str, env: Optional[Dict[str, str]] = None) -> "subprocess.CompletedProcess[str]":
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


# --- The single file: standard library only, facades, vendoring --------------------------------------------


def test_library_imports_only_the_standard_library(tmp_path: Any) -> None:
    """Every module pyngrok.py imports, at the top or inside functions, exists with site-packages off."""
    shutil.copy(os.path.join(REPO_ROOT, "pyngrok.py"), tmp_path)
    with open(os.path.join(REPO_ROOT, "pyngrok.py"), encoding="utf-8") as source:
        tree = ast.parse(source.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module)
    probe = (
        "import importlib.util, sys\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        f"names = {sorted(imported)!r}\n"
        # Windows-only standard modules cannot be found here; sys.stdlib_module_names (3.10+) lists them.
        "known = set(getattr(sys, 'stdlib_module_names', ())) | {'msvcrt', 'winreg', '_winapi'}\n"
        "missing = [n for n in names if n.split('.')[0] not in known and importlib.util.find_spec(n) is None]\n"
        "import pyngrok\n"
        "print(missing)\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], cwd=str(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
    assert imported >= {"subprocess", "json"}  # the probe really saw the imports


def test_facades_are_views_of_one_state() -> None:
    import pyngrok.conf as conf_module
    from pyngrok.process import NgrokProcess

    assert conf_module is conf and NgrokProcess is pyngrok.NgrokProcess
    assert process.set_auth_token is pyngrok._process_set_auth_token
    assert installer.install_ngrok is pyngrok._install_ngrok_binary
    assert ngrok.install_ngrok is pyngrok.install_ngrok
    assert log.NgrokLog is pyngrok.NgrokLog and exception.PyngrokError is PyngrokError
    assert agent.get_requests is pyngrok.get_requests

    original = conf.get_default()
    try:
        conf.get_default().ngrok_path = "/opt/elsewhere/ngrok"
        assert pyngrok.get_default().ngrok_path == "/opt/elsewhere/ngrok"
        replacement = PyngrokConfig(ngrok_path="/x/ngrok")
        conf.set_default(replacement)
        assert pyngrok.get_default() is replacement
    finally:
        conf.set_default(original)
        original.ngrok_path = PyngrokConfig().ngrok_path

    # A write through a facade changes the one module state.
    saved = conf.DEFAULT_NGROK_CONFIG_PATH
    try:
        conf.DEFAULT_NGROK_CONFIG_PATH = "/tmp/elsewhere.yml"
        assert pyngrok.DEFAULT_NGROK_CONFIG_PATH == "/tmp/elsewhere.yml"
        assert conf.get_config_path(PyngrokConfig()) == "/tmp/elsewhere.yml"
    finally:
        conf.DEFAULT_NGROK_CONFIG_PATH = saved
    with pytest.raises(AttributeError):
        conf.no_such_name  # noqa: B018


def test_vendored_copy_registers_its_own_submodules(tmp_path: Any) -> None:
    vendor = tmp_path / "myapp" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    shutil.copy(os.path.join(REPO_ROOT, "pyngrok.py"), vendor)
    code = (
        "from myapp._vendor.pyngrok.conf import PyngrokConfig, get_default\n"
        "from myapp._vendor.pyngrok import ngrok, process\n"
        "import myapp._vendor.pyngrok.exception as exc\n"
        "import sys\n"
        "assert 'pyngrok' not in sys.modules\n"
        "assert ngrok.connect.__module__ == 'myapp._vendor.pyngrok'\n"
        "print(type(get_default()).__name__, exc.PyngrokError.__module__)\n"
    )
    result = run_python(code, str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["PyngrokConfig", "myapp._vendor.pyngrok"]


# --- Errors and logs -------------------------------------------------------------------------------------


def test_ngrok_error_code_is_parsed() -> None:
    error = PyngrokNgrokError("failed", ngrok_error="authentication failed: bad token\r\n\r\nERR_NGROK_105\r\n")
    assert error.ngrok_error_code == "ERR_NGROK_105"
    assert PyngrokNgrokError("failed", ngrok_error="no code here").ngrok_error_code is None
    assert issubclass(PyngrokNgrokHTTPError, PyngrokNgrokError) and issubclass(PyngrokNgrokURLError, PyngrokError)


def test_log_line_levels_and_fields() -> None:
    line = (
        't=2026-11-28T15:31:31+0000 lvl=eror msg="session closing" obj=tunnels.session '
        'err="authentication failed: \\"bad\\" token\\r\\n\\r\\nERR_NGROK_105\\r\\n" allow_hosts=[] pg=/api/tunnels'
    )
    parsed = pyngrok.NgrokLog(line)
    assert parsed.lvl == "ERROR" and parsed.msg == "session closing" and parsed.obj == "tunnels.session"
    assert parsed.err == 'authentication failed: "bad" token\r\n\r\nERR_NGROK_105\r\n'
    assert parsed.t == "2026-11-28T15:31:31+0000"
    assert parsed.allow_hosts == "[]" and parsed.pg == "/api/tunnels"  # type: ignore[attr-defined]
    levels = {"crit": "CRITICAL", "warn": "WARNING", "dbug": "DEBUG", "info": "INFO", "err": "ERROR", "x": "NOTSET"}
    for ngrok_level, python_level in levels.items():
        assert pyngrok.NgrokLog(f"lvl={ngrok_level} msg=x").lvl == python_level
    web = pyngrok.NgrokLog('lvl=info msg="starting web service" obj=web addr=127.0.0.1:4040 allow_hosts=[a b]')
    assert web.addr == "127.0.0.1:4040" and web.allow_hosts == "[a b]"  # type: ignore[attr-defined]
    bare = pyngrok.NgrokLog("lvl=info msg=hi flag other=1")
    assert bare.flag == "" and bare.other == "1"  # type: ignore[attr-defined]
    unicode_escapes = pyngrok.NgrokLog('msg="caf\\u00e9 \\x41 \\t"')
    assert unicode_escapes.msg == "café A \t"


def test_log_parser_never_raises_on_garbage() -> None:
    rng = random.Random(1234)
    alphabet = 'ab=" \\[]\tlvl=msg\x00\xff\u2603'
    for _ in range(5000):
        line = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        parsed = pyngrok.NgrokLog(line)
        assert isinstance(parsed.lvl, str) and parsed.line == line.strip()
    unterminated = pyngrok.NgrokLog('lvl=warn msg="never closed and line=ignored')
    assert unterminated.lvl == "WARNING" and unterminated.msg == "never closed and line=ignored"
    assert pyngrok.NgrokLog('{"lvl":"eror","msg":"json","err":"x"}').err == "x"
    assert pyngrok.NgrokLog("line=hijack").line == "line=hijack"


# --- Config ----------------------------------------------------------------------------------------------


def test_config_defaults_and_environment(monkeypatch: Any, tmp_path: Any) -> None:
    monkeypatch.setenv("PYNGROK_NGROK_PATH", "/env/ngrok")
    monkeypatch.setenv("NGROK_AUTHTOKEN", SECRET_TOKEN)
    monkeypatch.setenv("NGROK_API_KEY", "apikey-secret")
    config = PyngrokConfig(ngrok_version="v2")
    assert config.ngrok_path == "/env/ngrok" and config.auth_token == SECRET_TOKEN
    assert config.api_key == "apikey-secret" and config.ngrok_version == "2" and config.config_version == "2"
    assert (config.startup_timeout, config.max_logs, config.request_timeout) == (15, 100, 4)
    assert SECRET_TOKEN not in repr(config) and "apikey-secret" not in repr(config)
    assert conf.get_config_path(config) == conf.DEFAULT_NGROK_CONFIG_PATH
    assert conf.get_config_path(PyngrokConfig(config_path="/a/b.yml")) == "/a/b.yml"

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert installer.get_default_ngrok_dir() == os.path.join(str(tmp_path), "ngrok")


# --- Starting and stopping the agent ---------------------------------------------------------------------


def test_agent_starts_healthy_and_is_killed_cleanly(pyngrok_config: PyngrokConfig, web_port: int) -> None:
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    assert ngrok_process.api_url == f"http://127.0.0.1:{web_port}"
    assert ngrok_process.healthy() and process.is_process_running(pyngrok_config.ngrok_path)
    assert ngrok.get_ngrok_process(pyngrok_config) is ngrok_process
    assert any(entry.msg == "client session established" for entry in ngrok_process.logs)
    pid = ngrok_process.proc.pid

    ngrok.kill(pyngrok_config)
    assert ngrok_process.proc.returncode is not None  # reaped: no zombie
    assert not pid_alive(pid) and not process.is_process_running(pyngrok_config.ngrok_path)
    assert not any(reader.is_alive() for reader in ngrok_process._readers)


def test_agent_follows_the_default_web_addr_that_moved(
    pyngrok_config: PyngrokConfig, web_port: int, monkeypatch: Any
) -> None:
    import socket

    write_config(str(pyngrok_config.config_path), 'version: "3"\n')  # no web_addr: the agent's default
    monkeypatch.setenv("FAKE_NGROK_DEFAULT_WEB_ADDR", f"127.0.0.1:{web_port}")  # stands in for 4040
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", web_port))
        squatter.listen()
        ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
        assert ngrok_process.api_url is not None and not ngrok_process.api_url.endswith(f":{web_port}")
        assert ngrok.get_tunnels(pyngrok_config) == []


def test_a_busy_explicit_web_addr_fails_at_once(pyngrok_config: PyngrokConfig, web_port: int) -> None:
    import socket

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", web_port))
        squatter.listen()
        with pytest.raises(PyngrokNgrokError) as raised:
            ngrok.get_ngrok_process(pyngrok_config)
    assert raised.value.ngrok_error == f"listen tcp 127.0.0.1:{web_port}: bind: address already in use"
    assert not process.is_process_running(pyngrok_config.ngrok_path)


@pytest.mark.parametrize(
    "fault, error_fragment, error_code",
    [
        ("error", "NGROK_AUTHTOKEN", "ERR_NGROK_105"),
        ("stderr_error", "mapping values are not allowed", None),
        ("too_old", "update it with ngrok.update()", "ERR_NGROK_121"),
        ("limit", "autoreloader", "ERR_NGROK_108"),
    ],
)
def test_startup_error_is_raised_with_the_agents_words(
    pyngrok_config: PyngrokConfig, monkeypatch: Any, fault: str, error_fragment: str, error_code: Any
) -> None:
    monkeypatch.setenv("FAKE_NGROK_STARTUP", fault)
    with pytest.raises(PyngrokNgrokError) as raised:
        ngrok.connect("8000", pyngrok_config=pyngrok_config)
    assert error_fragment in str(raised.value)
    assert (error_code or error_fragment) in str(raised.value.ngrok_error)
    assert raised.value.ngrok_error_code == error_code
    assert not process.is_process_running(pyngrok_config.ngrok_path)
    assert list(children_of(os.getpid())) == []


def test_startup_waits_while_the_agent_retries_its_session(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_STARTUP", "reconnect:2")  # two failed connects, then online
    monkeypatch.setenv("FAKE_NGROK_RECONNECT_BACKOFF", "0.05")  # the agent's 0.5 s, cut to test size
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    assert [entry.msg for entry in ngrok_process.logs].count("failed to reconnect session") == 2
    assert ngrok_process.healthy() and ngrok.connect("8000", pyngrok_config=pyngrok_config).public_url


def test_a_missing_authtoken_fails_at_once_with_advice(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_REQUIRE_AUTHTOKEN", "needed")
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    pyngrok_config.startup_timeout = 30
    started = time.monotonic()
    with pytest.raises(PyngrokNgrokError) as raised:
        ngrok.get_ngrok_process(pyngrok_config)
    assert time.monotonic() - started < 15  # the agent's exit ends the wait, not the timeout
    assert raised.value.ngrok_error_code == "ERR_NGROK_4018"
    for way in ("set_auth_token", "NGROK_AUTHTOKEN", "PyngrokConfig(auth_token="):
        assert way in str(raised.value)


def test_a_config_the_agent_refuses_is_explained_with_our_findings(pyngrok_config: PyngrokConfig) -> None:
    path = str(pyngrok_config.config_path)
    with open(path, "a", encoding="utf-8") as config:
        config.write("authtoken: misplaced\n")  # a v2 key at the top of a v3 file: a warning for us, fatal for ngrok
    with pytest.raises(PyngrokNgrokError) as raised:
        ngrok.get_ngrok_process(pyngrok_config)
    message = str(raised.value)
    assert f"Error reading configuration file '{path}'" in message  # the agent's words
    assert "line 4: field authtoken not found in type config.v3yamlConfig" in message
    assert f"authtoken: unknown key (in a version 3 config this key belongs under 'agent:') ({path}:4)" in message
    assert not process.is_process_running(pyngrok_config.ngrok_path)


def test_a_config_without_version_is_refused_before_the_agent_starts(pyngrok_config: PyngrokConfig) -> None:
    write_config(str(pyngrok_config.config_path), f"web_addr: 127.0.0.1:{free_port()}\n")
    with pytest.raises(pyngrok.PyngrokConfigError, match="no 'version', which ngrok 3 agents require"):
        ngrok.get_ngrok_process(pyngrok_config)
    assert not process.is_process_running(pyngrok_config.ngrok_path) and list(children_of(os.getpid())) == []


@pytest.mark.parametrize("overlay_in", ["memory", "file"])
def test_secrets_never_reach_the_command_line(
    pyngrok_config: PyngrokConfig, monkeypatch: Any, tmp_path: Any, overlay_in: str
) -> None:
    if overlay_in == "file":  # as on systems without memfd_create
        monkeypatch.delattr(os, "memfd_create", raising=False)
    state_file = str(tmp_path / "state.json")
    monkeypatch.setenv("FAKE_NGROK_STATE_FILE", state_file)
    monkeypatch.setenv("FAKE_NGROK_REQUIRE_AUTHTOKEN", SECRET_TOKEN)
    pyngrok_config.auth_token = SECRET_TOKEN
    records: List[str] = []
    handler = _ListHandler(records)
    logging_root = __import__("logging").getLogger("pyngrok")
    logging_root.addHandler(handler)
    logging_root.setLevel("DEBUG")
    try:
        ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
        cmdline = read_cmdline(ngrok_process.proc.pid) or ""
        overlay_dir = ngrok_process._overlay_dir
        if overlay_in == "file":
            assert overlay_dir and stat.S_IMODE(os.stat(overlay_dir).st_mode) == 0o700
            overlay = os.path.join(overlay_dir, "overlay.yml")
            assert stat.S_IMODE(os.stat(overlay).st_mode) == 0o600 and "overlay.yml" in cmdline
        else:  # only the agent holds it, as an inherited memfd: no file anywhere holds the token
            assert overlay_dir is None
            descriptor = cmdline.split("--config /dev/fd/")[1].split()[0]
            assert os.readlink(f"/proc/{ngrok_process.proc.pid}/fd/{descriptor}").startswith("/memfd:")
        with open(state_file, encoding="utf-8") as state:
            seen = json.load(state)
        assert seen["authtoken_seen"] and not seen["env_has_authtoken"]
        assert SECRET_TOKEN not in cmdline
        ngrok.kill(pyngrok_config)
        assert overlay_dir is None or not os.path.exists(overlay_dir)
    finally:
        logging_root.removeHandler(handler)
        logging_root.setLevel("NOTSET")
    assert records and not any(SECRET_TOKEN in record for record in records)


def test_wrong_authtoken_error_does_not_leak_the_token(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_REQUIRE_AUTHTOKEN", "the-right-one")
    pyngrok_config.auth_token = SECRET_TOKEN
    with pytest.raises(PyngrokNgrokError) as raised:
        ngrok.get_ngrok_process(pyngrok_config)
    assert raised.value.ngrok_error_code == "ERR_NGROK_105"
    assert SECRET_TOKEN not in str(raised.value) and SECRET_TOKEN not in repr(raised.value.ngrok_logs)


class _ListHandler(__import__("logging").Handler):
    def __init__(self, records: List[str]) -> None:
        super().__init__()
        self.records = records

    def emit(self, record: Any) -> None:
        self.records.append(record.getMessage())


def test_callback_that_raises_does_not_stop_log_reading(pyngrok_config: PyngrokConfig) -> None:
    seen: List[str] = []

    def callback(entry: pyngrok.NgrokLog) -> None:
        seen.append(str(entry.msg))
        raise RuntimeError("callback bug")

    pyngrok_config.log_event_callback = callback
    ngrok.connect("8000", pyngrok_config=pyngrok_config)
    assert "client session established" in seen
    assert wait_for(lambda: "started tunnel" in seen)


def test_output_is_drained_without_the_monitor(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    """100k log lines with monitor_thread=False: the agent never blocks on a full pipe."""
    monkeypatch.setenv("FAKE_NGROK_FLOOD", "100000")
    pyngrok_config.monitor_thread = False
    pyngrok_config.max_logs = 50
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    assert wait_for(lambda: any("flood" in entry.line for entry in ngrok_process.logs), 10)
    tunnel = ngrok.connect("8000", pyngrok_config=pyngrok_config)
    assert tunnel.public_url and len(ngrok_process.logs) <= 50


def test_monitor_thread_controls_logging(pyngrok_config: PyngrokConfig) -> None:
    seen: List[pyngrok.NgrokLog] = []
    pyngrok_config.log_event_callback = seen.append
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)

    def tunnel_logged(port: str, where: List[pyngrok.NgrokLog]) -> bool:
        return any(entry.msg == "started tunnel" and port in str(entry.addr) for entry in list(where))

    ngrok_process.stop_monitor_thread()
    ngrok.connect("8000", pyngrok_config=pyngrok_config)
    ngrok.connect("8002", pyngrok_config=pyngrok_config)
    # One reader takes the lines in order: once the second tunnel's line is recorded, the first one's has been
    # read and passed on, or not, while monitoring was off.
    assert wait_for(lambda: tunnel_logged("8002", ngrok_process.logs))
    assert tunnel_logged("8000", ngrok_process.logs) and not tunnel_logged("8000", seen)
    ngrok_process.start_monitor_thread()
    ngrok.connect("8001", pyngrok_config=pyngrok_config)
    assert wait_for(lambda: tunnel_logged("8001", seen))


def test_agent_death_is_noticed_and_the_next_call_starts_a_fresh_one(
    pyngrok_config: PyngrokConfig, monkeypatch: Any
) -> None:
    first = ngrok.get_ngrok_process(pyngrok_config)
    os.kill(first.proc.pid, signal.SIGKILL)
    assert wait_for(lambda: not process.is_process_running(pyngrok_config.ngrok_path))
    second = ngrok.get_ngrok_process(pyngrok_config)
    assert second is not first and second.healthy()


def test_atexit_stops_agents_of_a_program_that_never_calls_kill(
    fake_ngrok_path: str, config_file: str, tmp_path: Any
) -> None:
    code = (
        "import pyngrok, sys\n"
        f"config = pyngrok.PyngrokConfig(ngrok_path={fake_ngrok_path!r}, config_path={config_file!r})\n"
        "print(pyngrok.get_ngrok_process(config).proc.pid, flush=True)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = run_python(code, str(tmp_path), env)
    assert result.returncode == 0, result.stderr
    pid = int(result.stdout.strip())
    assert wait_for(lambda: not pid_alive(pid), 5)


# --- Tunnels through the fake agent ----------------------------------------------------------------------


def test_http_tunnel_carries_traffic_and_requests_are_inspected(pyngrok_config: PyngrokConfig, local_site: Any) -> None:
    tunnel = ngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
    assert tunnel.public_url and tunnel.public_url.startswith("http://127.0.0.1:")
    assert tunnel.name and tunnel.name.startswith(f"http-{local_site.port}-")
    assert tunnel.upstream["url"] == f"http://localhost:{local_site.port}"
    assert repr(tunnel) == f'<NgrokTunnel: "{tunnel.public_url}" -> "http://localhost:{local_site.port}">'

    assert fetch(f"{tunnel.public_url}/index.html?via=tunnel") == local_site.page
    assert local_site.hits == ["/index.html?via=tunnel"]
    assert [t.public_url for t in ngrok.get_tunnels(pyngrok_config)] == [tunnel.public_url]

    captured = agent.get_requests(pyngrok_config=pyngrok_config)
    assert len(captured) == 1 and captured[0].tunnel_name == tunnel.name
    assert captured[0].request["uri"] == "/index.html?via=tunnel" and captured[0].response["status_code"] == 200
    assert agent.get_request(str(captured[0].id), pyngrok_config).id == captured[0].id
    assert agent.get_requests(tunnel_name="nope", pyngrok_config=pyngrok_config) == []

    agent.replay_request(str(captured[0].id), pyngrok_config=pyngrok_config)
    assert wait_for(lambda: len(local_site.hits) == 2)
    agent.delete_requests(pyngrok_config)
    assert agent.get_requests(pyngrok_config=pyngrok_config) == []

    tunnel.refresh_metrics()
    assert tunnel.metrics["http"]["count"] >= 1 and tunnel.metrics["conns"]["count"] >= 1
    fetch(str(tunnel.public_url))
    before = tunnel.metrics["http"]["count"]
    tunnel.refresh_metrics()
    assert tunnel.metrics["http"]["count"] > before

    status = agent.get_agent_status(pyngrok_config)
    assert status.status == "online" and status.uri == "/api/status"

    ngrok.disconnect(str(tunnel.public_url), pyngrok_config)
    assert port_refuses(public_port(str(tunnel.public_url)))
    assert ngrok.get_tunnels(pyngrok_config) == []
    ngrok.disconnect(str(tunnel.public_url), pyngrok_config)  # already closed: no error


def test_tcp_tunnel_echoes_bytes(pyngrok_config: PyngrokConfig, echo_server: Any) -> None:
    tunnel = ngrok.connect(echo_server.port, "tcp", pyngrok_config=pyngrok_config)
    assert tunnel.public_url and tunnel.public_url.startswith("tcp://127.0.0.1:")
    payload = os.urandom(200_000)
    assert echo_round_trip(public_port(tunnel.public_url), payload) == payload
    ngrok.disconnect(tunnel.public_url, pyngrok_config)
    assert port_refuses(public_port(tunnel.public_url))


def test_tunnel_as_context_manager_disconnects(pyngrok_config: PyngrokConfig, local_site: Any) -> None:
    with pytest.raises(ValueError), ngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config) as tunnel:
        assert fetch(str(tunnel.public_url)) == local_site.page
        raise ValueError("boom")
    assert port_refuses(public_port(str(tunnel.public_url)))


# Every option upstream's connect() documents (the agent's tunnel definition, and the v3 endpoint fields),
# with a sample value, and what config_version="3" makes of it: "sent" (as endpoint fields) or "refused".
CONNECT_OPTIONS = [
    ("url", "https://given.example.com", "sent"),
    ("upstream", {"url": "8000", "protocol": "http2"}, "sent"),
    ("inspect", False, "sent"),
    ("pooling_enabled", True, "sent"),
    ("traffic_policy", {"on_http_request": [{"actions": [{"type": "deny"}]}]}, "sent"),
    ("bindings", ["public"], "sent"),
    ("metadata", "meta", "sent"),
    ("description", "described", "sent"),
    ("domain", "web.example.com", "sent"),
    ("hostname", "web.example.com", "sent"),
    ("bind_tls", True, "sent"),
    ("bind_tls", False, "sent"),
    ("schemes", ["https"], "sent"),
    ("auth", "user:password1", "sent"),
    ("basic_auth", ["user:password1"], "sent"),
    ("host_header", "rewrite", "sent"),
    ("host_header", "preserve", "sent"),
    ("remote_addr", "1.tcp.ngrok.io:20000", "sent"),
    ("subdomain", "web", "refused"),
    ("bind_tls", "both", "refused"),
    ("schemes", ["http", "https"], "refused"),
    ("oauth", {"provider": "google"}, "refused"),
    ("oidc", {"issuer_url": "https://idp.example.com"}, "refused"),
    ("ip_restriction", {"allow_cidrs": ["10.0.0.0/8"]}, "refused"),
    ("request_header", {"add": ["x-a:1"]}, "refused"),
    ("response_header", {"remove": ["server"]}, "refused"),
    ("circuit_breaker", 0.5, "refused"),
    ("compression", True, "refused"),
    ("user_agent_filter", {"deny": ["bot"]}, "refused"),
    ("verify_webhook", {"provider": "slack", "secret": "s"}, "refused"),
    ("mutual_tls_cas", "cas.pem", "refused"),
    ("client_cas", "cas.pem", "refused"),
    ("crt", "cert.pem", "refused"),
    ("key", "key.pem", "refused"),
    ("terminate_at", "agent", "refused"),
    ("proxy_proto", 2, "refused"),
    ("websocket_tcp_converter", True, "refused"),
    ("labels", ["edge=x"], "refused"),
    ("policy", {"inbound": []}, "refused"),
    ("no_such_option", 1, "refused"),
]


@pytest.mark.parametrize("option, value, fate", CONNECT_OPTIONS)
def test_no_field_outside_the_endpoint_fields_reaches_the_agent(
    pyngrok_config: PyngrokConfig, option: str, value: Any, fate: str
) -> None:
    """The strict fake answers 400 to any field POST /api/endpoints does not accept, as the real agent does."""
    proto = "tcp" if option == "remote_addr" else None
    if fate == "sent":
        tunnel = ngrok.connect("8000", proto, pyngrok_config=pyngrok_config, **{option: value})
        assert tunnel.public_url and tunnel.name in [t.name for t in ngrok.get_tunnels(pyngrok_config)]
    else:
        with pytest.raises(PyngrokError) as raised:
            ngrok.connect("8000", proto, pyngrok_config=pyngrok_config, **{option: value})
        assert not isinstance(raised.value, PyngrokNgrokHTTPError) and option in str(raised.value)
        assert not process.is_process_running(pyngrok_config.ngrok_path)  # refused before any request


def test_v2_options_translate_to_endpoint_fields() -> None:
    def translated(**options: Any) -> Dict[str, Any]:
        options.setdefault("upstream", {"url": "http://localhost:8000"})
        pyngrok._translate_to_endpoint(options)
        return options

    assert translated(domain="a.example.com")["url"] == "https://a.example.com"
    assert translated(hostname="a.example.com", bind_tls=False)["url"] == "http://a.example.com"
    assert translated(subdomain="a", domain="example.com")["url"] == "https://a.example.com"
    assert translated(url="tcp://", remote_addr="1.tcp.ngrok.io:20000")["url"] == "tcp://1.tcp.ngrok.io:20000"
    assert translated(schemes=["http"])["url"] == "http://"
    policy = translated(auth="u:password1", host_header="rewrite")["traffic_policy"]
    assert policy == {
        "on_http_request": [
            {
                "actions": [
                    {"type": "basic-auth", "config": {"credentials": ["u:password1"]}},
                    {"type": "add-headers", "config": {"headers": {"host": "localhost:8000"}}},
                ]
            }
        ]
    }
    text = "on_http_request:\n  - actions:\n      - type: deny\n"
    merged = json.loads(translated(basic_auth=["u:password1"], traffic_policy=text)["traffic_policy"])
    assert [rule["actions"][0]["type"] for rule in merged["on_http_request"]] == ["basic-auth", "deny"]
    assert translated(host_header="preserve") == {"upstream": {"url": "http://localhost:8000"}}
    with pytest.raises(PyngrokError, match='"url" and "domain"'):
        translated(url="https://b.example.com", domain="a.example.com")


def test_translated_options_act_on_traffic(pyngrok_config: PyngrokConfig, local_site: Any) -> None:
    tunnel = ngrok.connect(local_site.port, auth="user:password1", host_header="rewrite", pyngrok_config=pyngrok_config)
    assert http_request(str(tunnel.public_url))[0] == 401 and local_site.hits == []
    authorized = http_request(str(tunnel.public_url), headers={"Authorization": "Basic dXNlcjpwYXNzd29yZDE="})
    assert authorized == (200, local_site.page.encode())
    (captured,) = [r for r in agent.get_requests(pyngrok_config=pyngrok_config) if r.response["status_code"] == 200]
    assert captured.request["headers"]["Host"] == [f"localhost:{local_site.port}"]


def test_v2_tunnel_definitions_of_a_v3_config_become_endpoints(pyngrok_config: PyngrokConfig, local_site: Any) -> None:
    with open(str(pyngrok_config.config_path), "a", encoding="utf-8") as config:
        config.write(
            f"tunnels:\n  web:\n    proto: http\n    addr: {local_site.port}\n    schemes: [https]\n"
            "    basic_auth: ['user:password1']\n    host_header: site.example\n"
            "  old:\n    proto: http\n    addr: 80\n    oauth:\n      provider: google\n"
        )
    tunnel = ngrok.connect(name="web", pyngrok_config=pyngrok_config)
    assert tunnel.name == "web-api" and tunnel.upstream["url"] == f"http://localhost:{local_site.port}"
    assert http_request(str(tunnel.public_url))[0] == 401  # basic_auth is on
    with pytest.raises(PyngrokError, match='"oauth" has no equivalent'):
        ngrok.connect(name="old", pyngrok_config=pyngrok_config)


def test_v2_config_uses_tunnels_and_translates(pyngrok_config: PyngrokConfig, local_site: Any) -> None:
    pyngrok_config.config_version = "2"
    write_config(str(pyngrok_config.config_path), f'version: "2"\nweb_addr: 127.0.0.1:{free_port()}\n')
    with pytest.raises(PyngrokError, match="config_version"):
        ngrok.connect("80", pyngrok_config=pyngrok_config, upstream={"url": "80"})
    tunnel = ngrok.connect(str(local_site.port), name="web", pyngrok_config=pyngrok_config, bind_tls="both")
    assert tunnel.uri == "/api/tunnels/web" and tunnel.config["addr"].endswith(str(local_site.port))
    names = sorted(str(t.name) for t in ngrok.get_tunnels(pyngrok_config))
    assert names == ["web", "web (http)"]
    twin = next(t for t in ngrok.get_tunnels(pyngrok_config) if t.name == "web (http)")
    assert fetch(str(twin.public_url)) == local_site.page
    ngrok.disconnect(str(tunnel.public_url), pyngrok_config)


def test_duplicate_name_is_refused_with_the_agents_error(pyngrok_config: PyngrokConfig) -> None:
    ngrok.connect("8000", name="same", pyngrok_config=pyngrok_config)
    with pytest.raises(PyngrokNgrokHTTPError) as raised:
        ngrok.connect("8001", name="same", pyngrok_config=pyngrok_config)
    assert raised.value.status_code == 400
    assert json.loads(raised.value.body)["error_code"] == 102


def test_only_not_ready_is_retried(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    """Retried until the tunnel opens; for how long at most: tests/test_faults.py's server-error cases."""
    monkeypatch.setenv("FAKE_NGROK_API_FAIL", "503:2")  # 503, error_code 104: the session is coming up
    # The back-off between tries, cut to test size: no config option sets it (monkeypatch fails if renamed).
    monkeypatch.setattr(pyngrok, "_CREATE_RETRY_FIRST_DELAY", 0.01)
    assert ngrok.connect("8000", name="retried", pyngrok_config=pyngrok_config).public_url
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    # The health probe's GET, then three POSTs; the agent logs each call just after answering it, so a line
    # can come after the next call's: only the counts are certain.
    assert wait_for(lambda: sorted(api_statuses(ngrok_process)) == ["200", "201", "503", "503"], 5)


def api_statuses(ngrok_process: Any) -> List[str]:
    """The statuses of the agent's answers on /api/endpoints, from its log."""
    return [
        str(getattr(entry, "status", ""))
        for entry in ngrok_process.logs
        if entry.msg == "end" and getattr(entry, "pg", None) == "/api/endpoints"
    ]


@pytest.mark.parametrize(
    "fault, code, advice",
    [
        ("ERR_NGROK_334", "ERR_NGROK_334", "already online"),
        ("ERR_NGROK_302", "ERR_NGROK_302", None),
        ("502", None, None),
    ],
)
def test_a_failed_start_is_final_with_the_agents_words(
    pyngrok_config: PyngrokConfig, monkeypatch: Any, fault: str, code: Optional[str], advice: Optional[str]
) -> None:
    monkeypatch.setenv("FAKE_NGROK_API_FAIL", f"{fault}:1")
    with pytest.raises(PyngrokNgrokHTTPError) as raised:
        ngrok.connect("8000", name="web", pyngrok_config=pyngrok_config)
    error = raised.value
    # One POST, and its own error: a retry would have met 'tunnel "web" already exists' (agents 3.29+).
    assert (error.status_code, error.api_error_code, error.ngrok_error_code) == (502, 103, code)
    assert error.ngrok_error == json.loads(error.body)["details"]["err"] and "already exists" not in str(error)
    assert (advice or "") in str(error)
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    # The health probe's GET, then the one POST (logged in either order: the agent logs a call just after
    # answering it).
    assert wait_for(lambda: sorted(api_statuses(ngrok_process)) == ["200", "502"], 5), api_statuses(ngrok_process)


def test_agents_before_3_30_get_advice_on_endpoints(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    monkeypatch.setenv("V3_AGENT_VERSION", "3.29.0")
    with pytest.raises(PyngrokNgrokHTTPError) as raised:
        ngrok.connect("8000", pyngrok_config=pyngrok_config)
    assert raised.value.status_code == 404
    assert "older than 3.30" in str(raised.value) and 'config_version="2"' in str(raised.value)
    pyngrok_config.config_version = "2"  # the advice works: tunnels on the same agent
    assert ngrok.connect("8000", pyngrok_config=pyngrok_config).public_url


def test_server_errors_and_bad_json_fail_clearly(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_API_FAIL", "500:1")
    monkeypatch.setenv("FAKE_NGROK_API_BADJSON", "1")
    with pytest.raises(PyngrokNgrokHTTPError) as raised:
        ngrok.connect("8000", pyngrok_config=pyngrok_config)
    assert raised.value.status_code == 500 and "panic" in raised.value.body
    with pytest.raises(PyngrokNgrokError, match="invalid JSON"):
        ngrok.get_tunnels(pyngrok_config)


def test_api_timeout_is_bounded() -> None:
    with BlackHole() as silent:  # an API that never answers (a hung agent's, as far as the client can tell)
        started = time.monotonic()
        with pytest.raises(PyngrokNgrokURLError) as raised:
            ngrok.api_request(f"http://{silent.addr}/api/tunnels", timeout=0.3)
        assert time.monotonic() - started < 1
    assert "timed out" in str(raised.value) and raised.value.reason == "timed out"
    with pytest.raises(pyngrok.PyngrokSecurityError):
        ngrok.api_request("file:///etc/passwd")
    with pytest.raises(PyngrokNgrokURLError):
        ngrok.api_request(f"http://127.0.0.1:{free_port()}/api/tunnels", timeout=1)


def test_sixteen_threads_connect_and_disconnect_at_once(pyngrok_config: PyngrokConfig, local_site: Any) -> None:
    errors: List[BaseException] = []
    urls: List[str] = []

    def worker() -> None:
        try:
            tunnel = ngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
            urls.append(str(tunnel.public_url))
            assert fetch(str(tunnel.public_url)) == local_site.page
            ngrok.disconnect(str(tunnel.public_url), pyngrok_config)
        except BaseException as error:  # collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == [] and len(set(urls)) == 16
    assert ngrok.get_tunnels(pyngrok_config) == []
    assert len([p for p in pyngrok._current_processes.values()]) == 1


def test_async_api_does_not_block_the_loop(pyngrok_config: PyngrokConfig, local_site: Any) -> None:
    from pyngrok import aio

    async def scenario() -> List[str]:
        ticker = LoopTicker(0.01)
        await aio.get_ngrok_process(pyngrok_config)
        tunnels = await asyncio.gather(
            *(aio.connect(str(local_site.port), pyngrok_config=pyngrok_config) for _ in range(5))
        )
        async with tunnels[0] as first:
            assert fetch(str(first.public_url)) == local_site.page
        listed = await aio.get_tunnels(pyngrok_config)
        assert ticker.stop() > 3
        return [str(t.public_url) for t in listed]

    listed = asyncio.run(scenario())
    assert len(listed) == 4


def test_async_connect_is_an_async_context_manager_and_a_coroutine(
    pyngrok_config: PyngrokConfig, local_site: Any
) -> None:
    from pyngrok import aio

    async def scenario() -> Tuple[List[str], List[str], List[str]]:
        loop = asyncio.get_running_loop()
        async with aio.connect(str(local_site.port), pyngrok_config=pyngrok_config) as direct:
            page = await loop.run_in_executor(None, fetch, str(direct.public_url))
            assert page == local_site.page
            inside = [str(t.public_url) for t in await aio.get_tunnels(pyngrok_config)]
        with pytest.raises(KeyError):
            async with aio.connect(str(local_site.port), pyngrok_config=pyngrok_config):
                raise KeyError("inside the block")
        after_blocks = [str(t.public_url) for t in await aio.get_tunnels(pyngrok_config)]
        opening = aio.connect(str(local_site.port), pyngrok_config=pyngrok_config)
        assert asyncio.iscoroutine(opening)  # so create_task, run and gather take it as upstream's coroutine
        task = asyncio.ensure_future(opening)
        awaited = await task
        assert isinstance(awaited, pyngrok.NgrokTunnel)
        async with await aio.connect(str(local_site.port), pyngrok_config=pyngrok_config):
            pass
        left = [str(t.public_url) for t in await aio.get_tunnels(pyngrok_config)]
        assert inside == [str(direct.public_url)]
        return after_blocks, left, [str(awaited.public_url)]

    after_blocks, left, awaited = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert after_blocks == []
    assert left == awaited  # only the tunnel opened with a plain await is still open


# --- Commands: version, update, api, auth token, CLI -----------------------------------------------------


def test_version_update_and_api_commands(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    monkeypatch.setenv("FAKE_NGROK_VERSION", "3.31.0")
    assert ngrok.get_version(pyngrok_config) == ("3.31.0", pyngrok.__version__)
    assert "No update available" in ngrok.update(pyngrok_config)
    with pytest.raises(PyngrokNgrokError, match="api key"):
        ngrok.api("endpoints", "list", pyngrok_config=pyngrok_config)
    pyngrok_config.api_key = "api-key-secret-value"
    response = ngrok.api("endpoints", "list", pyngrok_config=pyngrok_config)
    assert response.data == {"args": ["endpoints", "list"], "uri": "/fake"}
    assert "200" in response.status


def test_set_auth_token_edits_the_config_file_privately(pyngrok_config: PyngrokConfig) -> None:
    config_path = str(pyngrok_config.config_path)
    ngrok.set_auth_token(SECRET_TOKEN, pyngrok_config)
    ngrok.set_api_key("api-key-secret-value", pyngrok_config)
    config = installer.get_ngrok_config(config_path, use_cache=False)
    assert config["agent"]["authtoken"] == SECRET_TOKEN and config["agent"]["api_key"] == "api-key-secret-value"
    assert config["agent"]["web_addr"].startswith("127.0.0.1:")  # the user's keys survive
    assert stat.S_IMODE(os.stat(config_path).st_mode) == 0o600


def test_cli_passes_commands_through_with_exit_codes(fake_ngrok_path: str, tmp_path: Any) -> None:
    env = dict(os.environ, PYNGROK_NGROK_PATH=fake_ngrok_path, XDG_CONFIG_HOME=str(tmp_path))
    for command in ([sys.executable, "-m", "pyngrok"], [sys.executable, os.path.join(REPO_ROOT, "pyngrok.py")]):
        version = subprocess.run([*command, "version"], env=env, capture_output=True, text=True, timeout=30)
        assert version.returncode == 0, version.stderr
        assert "ngrok version 3.30.0" in version.stdout and f"pyngrok version {pyngrok.__version__}" in version.stdout
        unknown = subprocess.run([*command, "bogus"], env=env, capture_output=True, text=True, timeout=30)
        assert unknown.returncode == 1 and "unknown command" in unknown.stderr
    schema = subprocess.run([sys.executable, "-m", "pyngrok", "schema"], env=env, capture_output=True, timeout=30)
    assert schema.returncode == 0 and json.loads(schema.stdout)["$schema"].startswith("https://json-schema.org/")


# --- The real ngrok 2.3.41 agent, offline ----------------------------------------------------------------


def real_config(real_agent: str, tmp_path: Any, **overrides: Any) -> PyngrokConfig:
    config_path = str(tmp_path / "ngrok-v2.yml")
    write_config(
        config_path,
        f"""\
        web_addr: 127.0.0.1:{free_port()}
        server_addr: 127.0.0.1:{free_port()}
        update_check: false
        console_ui: false
        """,
    )
    return real_agent_config(real_agent, config_path, **{"auth_token": None, **overrides})


def test_real_agent_version(real_agent: str, tmp_path: Any) -> None:
    config = real_config(real_agent, tmp_path)
    assert ngrok.get_version(config) == ("2.3.41", pyngrok.__version__)


def test_real_agent_reads_the_authtoken_we_save(real_agent: str, tmp_path: Any) -> None:
    config = real_config(real_agent, tmp_path)
    ngrok.set_auth_token(SECRET_TOKEN, config)
    saved = installer.get_ngrok_config(str(config.config_path), use_cache=False)
    assert saved["authtoken"] == SECRET_TOKEN and saved["update_check"] is False
    # The agent accepts the file we wrote: its own `authtoken` command rewrites it without a parse error.
    output = process.capture_run_process(real_agent, ["authtoken", "other", "--config", str(config.config_path)])
    assert "Authtoken saved" in output
