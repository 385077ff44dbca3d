"""pyngrok with the real ngrok 2.3.41 agent, offline: ``ngrok_version="2"``, ``config_version="2"``.

The unmodified agent binary (from npm, see tests/realagent.py) is started by pyngrok itself and talks to
our loopback tunnel server (tests/tunnel_server.py); traffic goes public port -> tunnel server -> agent ->
a local service and back.  Every test here goes through pyngrok's public functions; the tunnel server is
only used to set the scene (reject a token, drop a session, send a Stop) and to check what the agent sent.

The whole module is skipped, with the reason, when the agent cannot be fetched (no npm registry), and fails
instead when REQUIRE_REAL_AGENT is set (as in CI).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator, List, Tuple

import pytest

import pyngrok
import tunnel_server as ts
from helpers import (
    BlackHole,
    EchoServer,
    LocalSite,
    TLSEchoServer,
    children_of,
    echo_round_trip,
    free_port,
    http_request,
    own_network_command,
    pid_alive,
    port_refuses,
    public_port,
    read_cmdline,
    real_agent_config,
    wait_for,
    write_agent_config,
)
from pyngrok import agent, ngrok, process
from pyngrok.conf import PyngrokConfig
from pyngrok.exception import PyngrokConfigError, PyngrokError, PyngrokNgrokError, PyngrokNgrokHTTPError

AUTHTOKEN = "2realAGENTtoken_0123456789abcdef"
PAGE = "hello from the local site\n"


# --- fixtures -----------------------------------------------------------------------------------------


ConfigFactory = Callable[..., PyngrokConfig]


@pytest.fixture
def make_config(
    real_agent: str, tunnel_server: ts.TunnelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ConfigFactory]:
    """Build a PyngrokConfig whose one config file points the real agent at ``server``.

    ``make_config(extra="tunnels: ...", web_port=..., server_addr=..., **PyngrokConfig options)``.  Every
    agent started with one of these configs is killed in teardown, whatever happened.
    """
    monkeypatch.delenv("NGROK_AUTHTOKEN", raising=False)
    monkeypatch.delenv("NGROK_API_KEY", raising=False)
    made: List[PyngrokConfig] = []

    def make(extra: str = "", web_port: Any = "free", server_addr: str = "", **options: Any) -> PyngrokConfig:
        path = str(tmp_path / f"ngrok-{len(made)}.yml")
        write_agent_config(
            path,
            server_addr or tunnel_server.addr,
            tunnel_server.ca_path,
            free_port() if web_port == "free" else web_port,
            extra,
        )
        config = real_agent_config(real_agent, path, **{"auth_token": AUTHTOKEN, **options})
        made.append(config)
        return config

    try:
        yield make
    finally:
        for config in made:
            pyngrok.kill(config)


@pytest.fixture
def config(make_config: ConfigFactory) -> PyngrokConfig:
    return make_config()


def messages(ngrok_process: process.NgrokProcess) -> List[str]:
    return [str(entry.msg) for entry in ngrok_process.logs]


def wait_for_requests(config: PyngrokConfig, count: int, tunnel_name: Any = None) -> List[agent.CapturedRequest]:
    """The agent's captured requests, once ``count`` of them have their response and duration recorded (under
    load the agent has been seen listing a request with its response but a duration of 0)."""
    found: List[agent.CapturedRequest] = []

    def complete() -> bool:
        found[:] = agent.get_requests(tunnel_name, pyngrok_config=config)
        return len([r for r in found if r.response and r.duration]) >= count

    assert wait_for(complete, 5), found
    return found


# --- startup and the API URL --------------------------------------------------------------------------


def test_real_agent_starts_healthy_from_its_startup_log(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer
) -> None:
    web_port = free_port()
    config = make_config(web_port=web_port)
    ngrok_process = ngrok.get_ngrok_process(config)

    assert ngrok_process.api_url == f"http://127.0.0.1:{web_port}"
    logged = [entry.addr for entry in ngrok_process.logs if entry.msg == "starting web service"]
    assert logged == [f"127.0.0.1:{web_port}"]
    seen = messages(ngrok_process)
    order = [seen.index(m) for m in ("starting web service", "tunnel session started", "client session established")]
    assert order == sorted(order)
    assert ngrok_process.healthy() and ngrok_process.session_state == process.SESSION_ONLINE
    assert process.is_process_running(config.ngrok_path)
    assert ngrok.get_ngrok_process(config) is ngrok_process  # the running agent is reused
    assert ngrok.get_tunnels(config) == []
    with pytest.raises(PyngrokError) as no_status:  # /api/status came with v3 agents: 2.3.41 answers 404
        agent.get_agent_status(config)
    assert getattr(no_status.value, "status_code", 404) == 404
    (session,) = tunnel_server.sessions
    assert session.authenticated and session.agent_version == "2.3.41" and session.authtoken == AUTHTOKEN


MOVED_WEB_ADDR_SCENE = """
import json, socket, sys
from helpers import loopback_up
loopback_up()
import pyngrok, tunnel_server
from helpers import write_agent_config
binary, workdir, ca, cert, key, token = sys.argv[1:7]
server = tunnel_server.TunnelServer(workdir, certs=(ca, cert, key)).start()
squatter = socket.socket()
squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the agent does: TIME_WAIT is no obstacle
squatter.bind(("127.0.0.1", 4040))  # the agent's default web address, held by us alone in this namespace
squatter.listen(1)
config = pyngrok.PyngrokConfig(
    ngrok_path=binary,
    config_path=write_agent_config(workdir + "/ngrok.yml", server.addr, server.ca_path, web_port=None),
    ngrok_version="2", config_version="2", auth_token=token, startup_timeout=10,
)
try:
    agent = pyngrok.get_ngrok_process(config)
    print(json.dumps({
        "warned": [e.addr for e in agent.logs if e.msg == "can't bind default web address, trying alternatives"],
        "started": [e.addr for e in agent.logs if e.msg == "starting web service"],
        "api_url": agent.api_url,
        "tunnels": len(pyngrok.get_tunnels(config)),
    }))
finally:
    pyngrok.kill(config)
    squatter.close()
    server.close()
"""


def test_real_agent_api_url_follows_a_moved_default_web_addr(
    real_agent: str, tunnel_certs: Tuple[str, str, str], tmp_path: Path
) -> None:
    """With no web_addr the agent tries 127.0.0.1:4040 and moves on when it is taken; the API URL follows.

    Port 4040 must be held all along by the test itself, so the scene runs in a network namespace of its own:
    on the machine, another program may hold that port, or free it, at any time.
    """
    command = own_network_command(
        sys.executable, "-c", MOVED_WEB_ADDR_SCENE, real_agent, str(tmp_path), *tunnel_certs, AUTHTOKEN
    )
    if command is None:
        reason = "no network namespace can be made here (unshare --net --map-root-user fails)"
        if os.environ.get("REQUIRE_REAL_AGENT", "") not in ("", "0"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    env = {name: value for name, value in os.environ.items() if name not in ("NGROK_AUTHTOKEN", "NGROK_API_KEY")}
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(tests_dir), tests_dir])
    scene = subprocess.run(command, env=env, capture_output=True, timeout=60)
    assert scene.returncode == 0, scene.stderr.decode(errors="replace")
    seen = json.loads(scene.stdout.decode().splitlines()[-1])
    assert seen["warned"] == ["127.0.0.1:4040"]
    (logged,) = seen["started"]
    assert logged != "127.0.0.1:4040"
    assert seen["api_url"] == "http://" + logged
    assert seen["tunnels"] == 0  # the API really is there


def test_real_agent_taken_explicit_web_addr_is_reported(make_config: ConfigFactory) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        port = squatter.getsockname()[1]
        config = make_config(web_port=port)
        with pytest.raises(PyngrokNgrokError) as raised:
            ngrok.get_ngrok_process(config)
    assert raised.value.ngrok_error == f"listen tcp 127.0.0.1:{port}: bind: address already in use"
    assert not process.is_process_running(config.ngrok_path)


# --- tunnels: http, tcp, tls, bind_tls, auth ------------------------------------------------------------


def test_real_agent_http_tunnel_serves_the_local_page(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    tunnel = ngrok.connect(local_site.port, pyngrok_config=config)
    assert tunnel.proto == "https" and tunnel.public_url.startswith("https://127.0.0.1:")
    assert tunnel.config == {"addr": f"http://localhost:{local_site.port}", "inspect": True}
    assert repr(tunnel) == f'<NgrokTunnel: "{tunnel.public_url}" -> "http://localhost:{local_site.port}">'
    assert tunnel.public_url in [bind.url for bind in tunnel_server.binds]

    assert http_request(tunnel.public_url + "/index.html", tunnel_server.ca_path) == (200, PAGE.encode())
    assert local_site.hits == ["/index.html"]


def test_real_agent_get_tunnels_lists_the_http_twin(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    tunnel = ngrok.connect(local_site.port, name="web", pyngrok_config=config)
    tunnels = {t.name: t for t in ngrok.get_tunnels(config)}
    assert sorted(tunnels) == ["web", "web (http)"]
    twin = tunnels["web (http)"]
    assert twin.proto == "http" and twin.public_url.startswith("http://127.0.0.1:")
    assert twin.uri == "/api/tunnels/web%20%28http%29" and tunnels["web"].public_url == tunnel.public_url
    assert sorted(b.url for b in tunnel_server.binds) == sorted(t.public_url for t in tunnels.values())
    assert http_request(twin.public_url + "/", tunnel_server.ca_path) == (200, PAGE.encode())

    def counted() -> bool:  # the twin's own API path (with its escaped name) works too
        twin.refresh_metrics()
        return twin.metrics["http"]["count"] >= 1

    assert wait_for(counted, 5), twin.metrics


def test_real_agent_tcp_tunnel_echoes_bytes(config: PyngrokConfig, echo_server: EchoServer) -> None:
    tunnel = ngrok.connect(echo_server.port, "tcp", pyngrok_config=config)
    assert tunnel.proto == "tcp" and tunnel.public_url.startswith("tcp://127.0.0.1:")
    assert tunnel.config == {"addr": f"localhost:{echo_server.port}", "inspect": False}
    port = public_port(tunnel.public_url)
    assert echo_round_trip(port, b"ping") == b"ping"
    payload = os.urandom(600 * 1024)  # more than two flow-control windows each way
    assert echo_round_trip(port, payload) == payload


def test_real_agent_tls_tunnel_is_passthrough(config: PyngrokConfig, tmp_path: Path) -> None:
    # The local service has a CA of its own; a client that trusts only that CA can complete the handshake
    # through the tunnel only if nothing on the way terminates TLS.
    local_ca, local_cert, local_key = ts.make_ca_and_cert(str(tmp_path / "local-certs"))
    service = TLSEchoServer(local_cert, local_key)
    try:
        tunnel = ngrok.connect(service.port, "tls", pyngrok_config=config)
        assert tunnel.proto == "tls" and tunnel.public_url.startswith("tls://127.0.0.1:")
        context = ssl.create_default_context(cafile=local_ca)
        message = b"end-to-end TLS through the tunnel"
        assert echo_round_trip(public_port(tunnel.public_url), message, context) == message
        assert len(service.handshakes) == 1
    finally:
        service.close()


@pytest.mark.parametrize("bind_tls, schemes", [(True, ["https"]), (False, ["http"]), ("both", ["http", "https"])])
def test_real_agent_bind_tls_variants(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite, bind_tls: Any, schemes: List[str]
) -> None:
    tunnel = ngrok.connect(local_site.port, bind_tls=bind_tls, pyngrok_config=config)
    urls = [t.public_url for t in ngrok.get_tunnels(config)]
    assert sorted(url.split("://")[0] for url in urls) == schemes
    assert tunnel.public_url.split("://")[0] == ("http" if bind_tls is False else "https")
    for url in urls:
        assert http_request(url + "/", tunnel_server.ca_path) == (200, PAGE.encode())
    assert len(local_site.hits) == len(schemes)


def test_real_agent_basic_auth(config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite) -> None:
    tunnel = ngrok.connect(local_site.port, auth="user:s3cret pass", pyngrok_config=config)
    assert {b.auth for b in tunnel_server.binds} == {"user:s3cret pass"}

    def basic(credentials: bytes) -> dict:
        return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}

    assert http_request(tunnel.public_url + "/", tunnel_server.ca_path)[0] == 401
    assert http_request(tunnel.public_url + "/", tunnel_server.ca_path, basic(b"user:wrong"))[0] == 401
    assert http_request(tunnel.public_url + "/", tunnel_server.ca_path, basic(b"user:s3cret pass")) == (
        200,
        PAGE.encode(),
    )
    assert local_site.hits == ["/"]  # refused requests never reached the local site


# --- tunnels from the config file ------------------------------------------------------------------------


def _definitions(local_site: LocalSite, echo_server: EchoServer) -> str:
    return (
        "tunnels:\n"
        "  website:\n"
        "    proto: http\n"
        f"    addr: {local_site.port}\n"
        "    bind_tls: true\n"
        "  echo:\n"
        "    proto: tcp\n"
        f"    addr: {echo_server.port}\n"
        "  pyngrok-default:\n"
        "    proto: http\n"
        f"    addr: {local_site.port}\n"
        "    bind_tls: false\n"
    )


def test_real_agent_named_tunnel_from_the_config(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer, local_site: LocalSite, echo_server: EchoServer
) -> None:
    config = make_config(extra=_definitions(local_site, echo_server))
    tunnel = ngrok.connect(name="website", pyngrok_config=config)
    assert tunnel.name == "website-api" and tunnel.proto == "https"
    assert [t.name for t in ngrok.get_tunnels(config)] == ["website-api"]  # bind_tls: true, so no twin
    assert http_request(tunnel.public_url + "/", tunnel_server.ca_path) == (200, PAGE.encode())

    default = ngrok.connect(pyngrok_config=config)  # no name: the pyngrok-default definition
    assert default.name == "pyngrok-default-api" and default.public_url.startswith("http://")
    assert http_request(default.public_url + "/", tunnel_server.ca_path) == (200, PAGE.encode())


def test_real_agent_connect_all(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer, local_site: LocalSite, echo_server: EchoServer
) -> None:
    config = make_config(extra=_definitions(local_site, echo_server))
    tunnels = {t.name: t for t in ngrok.connect_all(config)}
    assert sorted(tunnels) == ["echo-api", "website-api"]  # pyngrok-default is not opened
    assert http_request(tunnels["website-api"].public_url + "/", tunnel_server.ca_path) == (200, PAGE.encode())
    assert echo_round_trip(public_port(tunnels["echo-api"].public_url), b"all of them") == b"all of them"
    assert sorted(t.name for t in ngrok.get_tunnels(config)) == ["echo-api", "website-api"]


# --- metrics and disconnect ------------------------------------------------------------------------------


def test_real_agent_refresh_metrics_after_traffic(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    tunnel = ngrok.connect(local_site.port, bind_tls=True, pyngrok_config=config)
    tunnel.refresh_metrics()
    assert tunnel.metrics["conns"]["count"] == 0 and tunnel.metrics["http"]["count"] == 0
    for _ in range(3):
        assert http_request(tunnel.public_url + "/", tunnel_server.ca_path)[0] == 200

    def counted() -> bool:
        tunnel.refresh_metrics()
        return tunnel.metrics["http"]["count"] >= 3 and tunnel.metrics["conns"]["count"] >= 3

    assert wait_for(counted, 5), tunnel.metrics
    assert tunnel.metrics["http"]["p50"] > 0 and tunnel.data["metrics"] == tunnel.metrics


def test_real_agent_disconnect_closes_the_public_port(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite, echo_server: EchoServer
) -> None:
    tcp = ngrok.connect(echo_server.port, "tcp", pyngrok_config=config)
    ngrok.disconnect(tcp.public_url, config)
    assert wait_for(lambda: port_refuses(public_port(tcp.public_url)), 5)

    web = ngrok.connect(local_site.port, name="web", pyngrok_config=config)
    (twin,) = [t for t in ngrok.get_tunnels(config) if t.name == "web (http)"]
    ngrok.disconnect(web.public_url, config)
    # The https tunnel goes, and with it the "(http)" twin the agent opened beside it: no public port stays.
    assert wait_for(lambda: port_refuses(public_port(web.public_url)), 5)
    assert wait_for(lambda: port_refuses(public_port(twin.public_url)), 5)
    assert ngrok.get_tunnels(config) == [] and tunnel_server.binds == []
    ngrok.disconnect(twin.public_url, config)  # a second disconnect is a no-op


# --- captured requests ---------------------------------------------------------------------------------------


def test_real_agent_captured_requests_get_replay_delete(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    tunnel = ngrok.connect(local_site.port, name="inspected", bind_tls=True, pyngrok_config=config)
    assert http_request(tunnel.public_url + "/index.html?via=tunnel", tunnel_server.ca_path) == (200, PAGE.encode())

    (captured,) = wait_for_requests(config, 1, "inspected")
    assert re.fullmatch(r"airt_\w+", str(captured.id))
    assert captured.uri == f"/api/requests/http/{captured.id}"
    assert captured.tunnel_name == "inspected" and captured.remote_addr == "127.0.0.1"
    assert re.match(r"\d{4}-\d\d-\d\dT", str(captured.start)) and int(captured.duration or 0) > 0
    request, response = captured.request, captured.response
    assert request["method"] == "GET" and request["uri"] == "/index.html?via=tunnel"
    assert request["headers"]["X-Forwarded-Proto"] == ["https"]
    assert base64.b64decode(request["raw"]).startswith(b"GET /index.html?via=tunnel HTTP/1.1\r\n")
    assert response["status_code"] == 200 and response["status"] == "200 OK"
    assert base64.b64decode(response["raw"]).endswith(PAGE.encode())

    single = agent.get_request(str(captured.id), pyngrok_config=config)
    assert (single.id, single.request["uri"], single.response["status_code"]) == (
        captured.id,
        "/index.html?via=tunnel",
        200,
    )
    with pytest.raises(PyngrokNgrokHTTPError) as missing:
        agent.get_request("airt_doesnotexist", pyngrok_config=config)
    assert missing.value.status_code == 404

    agent.replay_request(str(captured.id), pyngrok_config=config)
    assert wait_for(lambda: len(local_site.hits) == 2, 5), local_site.hits
    assert local_site.hits == ["/index.html?via=tunnel"] * 2  # the local server saw the request again
    assert len(wait_for_requests(config, 2)) == 2  # the replay is captured too

    agent.delete_requests(pyngrok_config=config)
    assert agent.get_requests(pyngrok_config=config) == []


# --- the authtoken ------------------------------------------------------------------------------------------


def test_real_agent_reads_the_authtoken_set_auth_token_saved(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer
) -> None:
    tunnel_server.required_authtoken = "saved-by-set-auth-token"
    config = make_config(auth_token=None)
    ngrok.set_auth_token("saved-by-set-auth-token", config)
    with open(str(config.config_path), encoding="utf-8") as handle:
        saved = handle.read()
    assert "authtoken: saved-by-set-auth-token" in saved and "server_addr:" in saved
    ngrok_process = ngrok.get_ngrok_process(config)  # no overlay: the agent reads the token from the file
    assert ngrok_process._overlay_dir is None
    assert [s.authtoken for s in tunnel_server.sessions] == ["saved-by-set-auth-token"]
    assert "saved-by-set-auth-token" not in (read_cmdline(ngrok_process.proc.pid) or "")


# Characters no config file may hold raw (a tab: 2.3.41 refuses the file; a DEL: it reads none of the file; the
# rest: YAML readers refuse them or take them for line breaks), alone and with others that need care. The writer
# escapes them in double quotes; the agent must send the session the token as it was given.
ODD_AUTHTOKENS = ["tab\there", "tab\there\x01\x1b\x7f\x85\x9f\u2028\u2029\ufeff\ufffe-é😀-'\"\\-end"]


@pytest.mark.parametrize("token", ODD_AUTHTOKENS, ids=["tab", "controls"])
def test_real_agent_reads_an_authtoken_with_tabs_and_controls_as_set_auth_token_saved_it(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer, token: str
) -> None:
    config = make_config(auth_token=None)
    ngrok.set_auth_token(token, config)
    ngrok.get_ngrok_process(config)  # the agent reads the token from the file
    assert [s.authtoken for s in tunnel_server.sessions] == [token]
    with open(str(config.config_path), encoding="utf-8") as handle:
        assert "\t" not in handle.read()


@pytest.mark.parametrize("token", ODD_AUTHTOKENS, ids=["tab", "controls"])
def test_real_agent_reads_an_authtoken_with_tabs_and_controls_from_the_overlay(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer, token: str
) -> None:
    config = make_config(auth_token=token)
    ngrok.get_ngrok_process(config)  # the token reaches the agent in the in-memory overlay
    assert [s.authtoken for s in tunnel_server.sessions] == [token]


SURROGATE_TUNNEL = 'tunnels:\n  web:\n    proto: http\n    addr: 80\n    host_header: "x{}.example"\n'


def web_address_of_agent_run(binary: str, config_path: str, home: Path) -> str:
    """Run the bare agent on a config file (no pyngrok in between) until it serves its API; the address it took."""
    command = [binary, "start", "--none", "--log", "stdout", "--config", config_path]
    env = {**os.environ, "HOME": str(home)}  # no ~/.ngrok2 of the machine's user
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env) as proc:
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                found = re.search(rb'msg="starting web service" obj=web addr=(\S+)', line)
                if found:
                    return found.group(1).decode()
            raise AssertionError(f"the agent exited with {proc.wait()} before serving its API")
        finally:
            proc.kill()


def test_real_agent_ignores_a_config_file_with_an_escaped_surrogate(
    make_config: ConfigFactory, real_agent: str, tmp_path: Path
) -> None:
    """Why pyngrok refuses such a file: 2.3.41 reads none of it, without a word (its own defaults run instead)."""
    web_port = free_port()
    readable = str(make_config(web_port=web_port, extra=SURROGATE_TUNNEL.format("\\u00e9")).config_path)
    ignored = str(make_config(web_port=web_port, extra=SURROGATE_TUNNEL.format("\\uD800")).config_path)
    assert web_address_of_agent_run(real_agent, readable, tmp_path) == f"127.0.0.1:{web_port}"
    assert web_address_of_agent_run(real_agent, ignored, tmp_path) != f"127.0.0.1:{web_port}"


@pytest.mark.parametrize("escape", ["\\uD800", "\\uD83D\\uDE00"], ids=["lone", "pair"])
def test_real_agent_is_not_started_on_a_config_file_with_an_escaped_surrogate(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer, escape: str
) -> None:
    config = make_config(extra=SURROGATE_TUNNEL.format(escape))
    with pytest.raises(PyngrokConfigError) as caught:
        ngrok.get_ngrok_process(config)
    error = caught.value
    assert (error.path, error.line) == (config.config_path, 10)
    assert f"tunnels.web.host_header: the escape{'s' if len(escape) > 6 else ''} {escape}" in str(error)
    assert not process.is_process_running(config.ngrok_path) and tunnel_server.sessions == []


def test_real_agent_authtoken_is_not_on_the_command_line(config: PyngrokConfig, tunnel_server: ts.TunnelServer) -> None:
    ngrok_process = ngrok.get_ngrok_process(config)
    cmdline = read_cmdline(ngrok_process.proc.pid) or ""
    assert cmdline.startswith(config.ngrok_path + " start --none --log stdout --log-format logfmt --config ")
    assert AUTHTOKEN not in cmdline and " --config /dev/fd/" in cmdline  # the overlay is a memfd
    with open(f"/proc/{ngrok_process.proc.pid}/environ", "rb") as environ:
        assert AUTHTOKEN.encode() not in environ.read()
    assert [s.authtoken for s in tunnel_server.sessions] == [AUTHTOKEN]  # it reached the agent all the same


# --- failures ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup, code",
    [
        ("wrong token", "ERR_NGROK_105"),
        ("account limit", "ERR_NGROK_108"),
    ],
)
def test_real_agent_rejected_authtoken_raises_the_agents_error_code(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, setup: str, code: str
) -> None:
    if setup == "wrong token":
        tunnel_server.required_authtoken = "the-right-token"
    else:
        tunnel_server.reject_auth_error = f"Your account is limited to 1 simultaneous ngrok agent session.\n\n{code}\n"
    started = time.monotonic()
    with pytest.raises(PyngrokNgrokError) as raised:
        ngrok.connect("8000", pyngrok_config=config)
    assert time.monotonic() - started < config.startup_timeout
    error = raised.value
    printed = [str(e.err) for e in error.ngrok_logs if e.msg == "failed to auth"]
    assert printed and printed[0].rstrip().endswith(code)  # what the agent itself printed...
    assert error.ngrok_error_code == code  # ...is the code the library hands back
    assert code in str(error) and code in (error.ngrok_error or "")
    assert AUTHTOKEN not in str(error) and AUTHTOKEN not in (error.ngrok_error or "")
    assert [r["Extra"]["Authtoken"] for r in tunnel_server.auth_requests] == [AUTHTOKEN]
    assert not process.is_process_running(config.ngrok_path)
    assert list(children_of(os.getpid())) == []


def test_real_agent_rejected_authtoken_is_not_leaked_by_logs(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, caplog: pytest.LogCaptureFixture
) -> None:
    tunnel_server.required_authtoken = "the-right-token"
    caplog.set_level("DEBUG", logger="pyngrok")
    with pytest.raises(PyngrokNgrokError) as raised:
        ngrok.get_ngrok_process(config)
    assert any("Your authtoken: " in entry.line for entry in raised.value.ngrok_logs)  # the agent did say it
    leaks = [entry.line for entry in raised.value.ngrok_logs if AUTHTOKEN in entry.line + str(entry.err)]
    leaks += [record.getMessage() for record in caplog.records if AUTHTOKEN in record.getMessage()]
    assert leaks == []


def test_real_agent_refusing_a_config_file_with_a_tab_says_why(make_config: ConfigFactory) -> None:
    """ngrok 2 prints its fatal errors on stdout, outside its log format; the exception holds the reason."""
    config = make_config(extra="# a comment\twith a tab\n")
    with pytest.raises(PyngrokNgrokError) as caught:
        ngrok.get_ngrok_process(config)
    assert f"Error reading configuration file '{config.config_path}': config contains tab characters" in str(
        caught.value
    )


@pytest.mark.parametrize("outage", ["closed port", "hangs up", "never answers"])
def test_real_agent_server_down_fails_within_startup_timeout(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer, outage: str
) -> None:
    silent = BlackHole()  # connects, but no TLS answer ever comes
    try:
        if outage == "closed port":
            address = f"127.0.0.1:{free_port()}"
        elif outage == "hangs up":
            tunnel_server.refuse_connections(True)  # accepts, then closes at once
            address = tunnel_server.addr
        else:
            address = silent.addr
        # The agent's first try fails at its start, a fraction of a second even on a loaded machine.
        config = make_config(server_addr=address, startup_timeout=1)
        started = time.monotonic()
        with pytest.raises(PyngrokNgrokError) as raised:
            ngrok.get_ngrok_process(config)
        elapsed = time.monotonic() - started
    finally:
        silent.close()
    error = raised.value
    # The agent retries by itself, so the library waits for it the whole startup_timeout, and no longer.
    assert config.startup_timeout <= elapsed < config.startup_timeout + 2
    assert "unable to start within 1 seconds" in str(error)
    if outage != "never answers":
        failures = [str(e.err) for e in error.ngrok_logs if e.msg == "failed to reconnect session"]
        assert failures and error.ngrok_error == failures[-1] and failures[-1] in str(error)
        # a server that hangs up: EOF, or a reset when the ClientHello was already in its socket buffer
        expected = ("connect: connection refused",) if outage == "closed port" else ("EOF", "connection reset by peer")
        assert failures[-1].endswith(expected) and error.ngrok_error_code is None
    assert not process.is_process_running(config.ngrok_path)
    assert list(children_of(os.getpid())) == []


def test_real_agent_starts_once_a_server_that_was_down_is_back(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    tunnel_server.refuse_connections(True)  # accepts, then hangs up: the agent logs errors without a code and retries
    released: List[bool] = []

    def back_after_the_first_failure(entry: pyngrok.NgrokLog) -> None:
        if entry.msg == "failed to reconnect session" and not released:
            released.append(True)
            tunnel_server.refuse_connections(False)  # the agent's next try (after its back-off) gets in

    config.log_event_callback = back_after_the_first_failure
    ngrok_process = ngrok.get_ngrok_process(config)
    assert released, "the start was over before the agent failed to connect"
    assert "failed to reconnect session" in messages(ngrok_process) and ngrok_process.healthy()
    tunnel = ngrok.connect(local_site.port, pyngrok_config=config)
    assert http_request(tunnel.public_url + "/", tunnel_server.ca_path) == (200, PAGE.encode())


def test_real_agent_dropped_session_recovers(
    make_config: ConfigFactory, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    events: List[str] = []
    config = make_config(session_callback=lambda event: events.append(event.state))
    before = ngrok.connect(local_site.port, name="before", bind_tls=True, pyngrok_config=config)
    ngrok_process = ngrok.get_ngrok_process(config)
    first = tunnel_server.wait_for_session(5)

    tunnel_server.refuse_connections(True)  # keep the agent out for a while
    assert tunnel_server.drop_sessions() == 1
    assert wait_for(lambda: ngrok_process.session_state == process.SESSION_RECONNECTING, 5)
    assert wait_for(lambda: "failed to reconnect session" in messages(ngrok_process), 5)
    with pytest.raises(PyngrokNgrokHTTPError) as refused:  # no session: the agent refuses (after retries)
        ngrok.connect(local_site.port, name="during", pyngrok_config=config)
    # 2.3.41 answers 502 {"error_code":103,"msg":"failed to start tunnel","details":{"err":"session closed"}}
    # after a drop, and 503 (error_code 104) while its first session is not up yet.
    assert refused.value.status_code in (502, 503) and "session" in str(refused.value.body)

    tunnel_server.refuse_connections(False)
    tunnel_server.wait_for_session(15, newer_than=first.serial)
    assert wait_for(lambda: ngrok_process.session_state == process.SESSION_ONLINE, 5)
    assert wait_for(lambda: events[-1:] == [process.SESSION_ONLINE], 5)
    assert process.SESSION_RECONNECTING in events
    after = ngrok.connect(local_site.port, name="after", bind_tls=True, pyngrok_config=config)
    assert http_request(after.public_url + "/after", tunnel_server.ca_path)[0] == 404  # served by the local site
    tunnel_server.wait_for(lambda: before.public_url in [b.url for b in tunnel_server.binds], 5)  # re-bound, same URL
    assert http_request(before.public_url + "/index.html", tunnel_server.ca_path) == (200, PAGE.encode())
    assert local_site.hits == ["/after", "/index.html"]
    assert ngrok.get_ngrok_process(config) is ngrok_process  # the same agent all along


def test_real_agent_server_restart_keeps_the_agent(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    ngrok_process = ngrok.get_ngrok_process(config)
    first = tunnel_server.wait_for_session(5)
    assert tunnel_server.send_restart() == [{"Error": ""}]
    tunnel_server.wait_for_session(10, newer_than=first.serial)
    assert wait_for(
        lambda: (
            ngrok_process.session_state == process.SESSION_ONLINE
            and messages(ngrok_process).count("client session established") == 2
        ),
        5,
    )
    assert ngrok_process.proc.poll() is None and ngrok.get_ngrok_process(config) is ngrok_process
    tunnel = ngrok.connect(local_site.port, pyngrok_config=config)
    assert http_request(tunnel.public_url + "/", tunnel_server.ca_path) == (200, PAGE.encode())


def test_real_agent_restart_in_place_reopens_tunnels_with_supervision(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    """A server Restart re-executes the agent under the same PID with no tunnels; supervision re-opens them."""
    config.supervise = True
    tunnel = ngrok.connect(local_site.port, name="kept", bind_tls=True, pyngrok_config=config)
    ngrok_process = ngrok.get_ngrok_process(config)
    first = tunnel_server.wait_for_session(5)
    assert tunnel_server.send_restart() == [{"Error": ""}]
    tunnel_server.wait_for_session(10, newer_than=first.serial)
    assert wait_for(
        lambda: any(bind.url == tunnel.public_url for bind in tunnel_server.binds) and tunnel.public_url, 10
    )
    assert wait_for(lambda: [t.name for t in ngrok.get_tunnels(config)] == ["kept"], 10)
    assert http_request(str(tunnel.public_url) + "/", tunnel_server.ca_path) == (200, PAGE.encode())
    assert ngrok_process.proc.poll() is None and ngrok.get_ngrok_process(config) is ngrok_process


def test_real_agent_server_stop_ends_the_agent_and_the_library_notices(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer
) -> None:
    ngrok_process = ngrok.get_ngrok_process(config)
    first = tunnel_server.wait_for_session(5)
    assert tunnel_server.send_stop() == [{"Error": ""}]
    # "stopped" comes once the reader has read the agent's output to the end, not merely once it exited.
    assert wait_for(lambda: ngrok_process.session_state == process.SESSION_STOPPED, 10)
    assert ngrok_process.proc.returncode == 0 and "received remote stop" in messages(ngrok_process)
    assert not process.is_process_running(config.ngrok_path)

    fresh = ngrok.get_ngrok_process(config)  # the next call starts a new agent
    assert fresh is not ngrok_process and fresh.proc.pid != ngrok_process.proc.pid and fresh.healthy()
    assert tunnel_server.wait_for_session(10, newer_than=first.serial).authtoken == AUTHTOKEN
    assert ngrok.get_tunnels(config) == []


# --- kill -------------------------------------------------------------------------------------------------


def test_real_agent_kill_leaves_no_agent_process(
    config: PyngrokConfig, tunnel_server: ts.TunnelServer, local_site: LocalSite
) -> None:
    tunnel = ngrok.connect(local_site.port, pyngrok_config=config)
    ngrok_process = ngrok.get_ngrok_process(config)
    pid = ngrok_process.proc.pid
    overlay = f"/proc/{pid}/fd/" + (read_cmdline(pid) or "").split("--config /dev/fd/")[1].split()[0]
    assert os.readlink(overlay).startswith("/memfd:")  # the authtoken overlay, held by the agent only

    ngrok.kill(config)
    assert ngrok_process.proc.returncode is not None and not pid_alive(pid)
    assert list(children_of(os.getpid())) == []
    assert not process.is_process_running(config.ngrok_path)
    assert not os.path.exists(overlay)
    assert not any(reader.is_alive() for reader in ngrok_process._readers)
    assert wait_for(lambda: tunnel_server.sessions == [] and tunnel_server.binds == [], 5)
    assert port_refuses(public_port(tunnel.public_url))
    ngrok.kill(config)  # killing twice is harmless
