"""Reliability with real processes: fork, crash loops, parent death, a misbehaving agent API, failing writes."""

from __future__ import annotations

import http.server
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import tracemalloc
import zipfile
from typing import Any, Dict, List

import pytest

import pyngrok
from helpers import REPO_ROOT, LoopbackListener, counting_agent, free_port, pid_alive, wait_for
from pyngrok import ngrok, process
from pyngrok.conf import PyngrokConfig
from pyngrok.exception import PyngrokNgrokError

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


def test_a_crash_looping_agent_is_started_at_most_max_restarts_plus_one_times(
    pyngrok_config: PyngrokConfig, tmp_path: Any, monkeypatch: Any
) -> None:
    spawn_log = os.path.join(str(tmp_path), "spawns.log")
    pyngrok_config.ngrok_path = counting_agent(str(tmp_path), pyngrok_config.ngrok_path, spawn_log)
    pyngrok_config.supervise = True
    pyngrok_config.max_restarts = 2
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
    assert [reason for reason in events if reason.startswith("gave up")] == ["gave up after 2 restarts"]
    assert [reason for reason in events if reason.startswith("restart ")] == ["restart 1 of 2", "restart 2 of 2"]


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


class MisbehavingApi(LoopbackListener):
    """A real HTTP server on loopback that answers every request in one bad way, counting what it sent.

    ``huge``: a 100 MB body announced by Content-Length; ``endless``: a body with no length that never ends;
    ``drip``: a body that comes a byte every 20 ms; ``drip-head``: even the status line drips.
    """

    def __init__(self, behaviour: str) -> None:
        self.behaviour = behaviour
        self.sent = 0
        self.stop = threading.Event()
        super().__init__(self.answer, threaded=True, name="misbehaving-api")
        self.url = f"http://127.0.0.1:{self.port}/api/tunnels"

    def answer(self, connection: socket.socket) -> None:
        head = {
            "huge": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
            "endless": b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n",
        }.get(self.behaviour, b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
        block = b" " * 65536
        with connection:
            try:
                connection.recv(65536)
                if self.behaviour == "drip-head":
                    self.drip(connection, head + b"{" + b" " * 100000)
                    return
                connection.sendall(head)
                if self.behaviour == "drip":
                    self.drip(connection, b"{" + b" " * 100000)
                    return
                while not self.stop.is_set() and self.sent < 100_000_000:  # 100 MB at most
                    connection.sendall(block)
                    self.sent += len(block)
            except OSError:
                pass  # the client hung up, as it should

    def drip(self, connection: socket.socket, data: bytes) -> None:
        for offset in range(len(data)):
            if self.stop.wait(0.02):
                return
            connection.sendall(data[offset : offset + 1])
            self.sent += 1

    def close(self) -> None:
        self.stop.set()
        super().close()
        assert not self.thread.is_alive()


@pytest.mark.parametrize("behaviour", ["huge", "endless", "drip", "drip-head"])
def test_a_misbehaving_agent_api_ends_in_an_error_within_the_timeout(behaviour: str) -> None:
    server = MisbehavingApi(behaviour)
    # A drip never ends (100 KB at a byte per 20 ms), so only the timeout can end it, however short; the other
    # two end at the 16 MiB cap, which the timeout must leave time to reach.
    timeout = 0.3 if behaviour.startswith("drip") else 1.0
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(PyngrokNgrokError) as raised:
            pyngrok.api_request(server.url, timeout=timeout)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        server.close()
    if behaviour.startswith("drip"):
        assert "timed out" in str(raised.value)
    else:
        assert "answered more than 16 MiB" in str(raised.value)
    # Bounded memory: the cap, not the 100 MB. A hang guard only, far above the timeout asked for.
    assert peak < 40 * 1024 * 1024, peak
    assert elapsed < 30, elapsed


class CountingProxy:
    """Stands where ``http_proxy`` points: any request that reaches it is counted and refused."""

    def __init__(self) -> None:
        self.hits = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.hits += 1
                self.send_error(502)

            do_POST = do_PUT = do_DELETE = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("web_host", ["127.0.0.2", "0.0.0.0"])
def test_the_agent_api_never_goes_through_an_env_proxy(
    pyngrok_config: PyngrokConfig, local_site: Any, tmp_path: Any, monkeypatch: Any, web_host: str
) -> None:
    proxy = CountingProxy()
    monkeypatch.setenv("http_proxy", proxy.url)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    config_path = os.path.join(str(tmp_path), "elsewhere.yml")
    with open(config_path, "w", encoding="utf-8") as config:
        config.write(f'version: "3"\nagent:\n  web_addr: {web_host}:{free_port()}\n')
    pyngrok_config.config_path = config_path
    try:
        tunnel = ngrok.connect(str(local_site.port), pyngrok_config=pyngrok_config)
        assert str(ngrok.get_ngrok_process(pyngrok_config).api_url).startswith(f"http://{web_host}:")
        assert [t.public_url for t in ngrok.get_tunnels(pyngrok_config)] == [tunnel.public_url]
        ngrok.disconnect(str(tunnel.public_url), pyngrok_config)
    finally:
        proxy.close()
    assert proxy.hits == 0


def prepare_write_targets(directory: str) -> Dict[str, bytes]:
    """A config, an installed "binary" and a 64 KiB bare binary to install; returns the originals' bytes."""
    os.makedirs(os.path.join(directory, "bin"))
    originals = {
        "ngrok.yml": b'version: "3"\nagent:\n  web_addr: 127.0.0.1:4041\n',
        os.path.join("bin", "ngrok"): b"#!/bin/sh\necho ngrok version 3.0.0\n",
    }
    for name, content in originals.items():
        with open(os.path.join(directory, name), "wb") as handle:
            handle.write(content)
    with open(os.path.join(directory, "archive"), "wb") as handle:
        handle.write(b"#!/bin/sh\necho ngrok version 3.1.0\n" + b"#" * 65536 + b"\n")
    return originals


def check_failed_writes(directory: str, report: Dict[str, Any], originals: Dict[str, bytes]) -> None:
    config_path = os.path.join(directory, "ngrok.yml")
    for write in ("install_default_config", "set_auth_token"):
        assert report[write]["class"] == "PyngrokConfigError", report
        assert report[write]["path"] == config_path and config_path in report[write]["message"], report
    assert report["install_ngrok"]["class"] == "PyngrokNgrokInstallError", report
    assert os.path.join(directory, "bin", "ngrok") in report["install_ngrok"]["message"]
    for name, content in originals.items():  # nothing was lost
        with open(os.path.join(directory, name), "rb") as handle:
            assert handle.read() == content
    assert sorted(os.listdir(directory)) == ["archive", "bin", "ngrok.yml"]
    assert os.listdir(os.path.join(directory, "bin")) == ["ngrok"]


def run_write_failure_program(mode: str, directory: str, wrapper: List[str]) -> Dict[str, Any]:
    program = os.path.join(TESTS_DIR, "write_failure_program.py")
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    done = subprocess.run(
        [*wrapper, sys.executable, program, mode, directory], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    report: Dict[str, Any] = json.loads(done.stdout)
    return report


def test_writes_past_the_file_size_limit_raise_pyngrok_errors_and_keep_the_originals(tmp_path: Any) -> None:
    directory = str(tmp_path / "target")
    originals = prepare_write_targets(directory)
    report = run_write_failure_program("fsize", directory, [])
    assert "File too large" in report["install_default_config"]["message"]
    check_failed_writes(directory, report, originals)


def test_writes_to_a_read_only_directory_raise_pyngrok_errors_and_keep_the_originals(tmp_path: Any) -> None:
    """The directory is bind-mounted read-only in a private mount namespace (EROFS): the tests run as root, whom
    mode bits do not stop, so a chmod'ed directory would prove nothing. Skipped where that mount is not allowed."""
    directory = str(tmp_path / "target")
    originals = prepare_write_targets(directory)
    read_only = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c"]
    probe = subprocess.run([*read_only, 'mount --bind -o ro "$0" "$0"', directory], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"a read-only bind mount is not allowed here: {probe.stderr.decode().strip()}")
    wrapper = [*read_only, 'mount --bind -o ro "$0" "$0" && exec "$@"', directory]
    report = run_write_failure_program("readonly", directory, wrapper)
    assert "Read-only file system" in report["install_default_config"]["message"]
    check_failed_writes(directory, report, originals)


def test_under_umask_000_nothing_made_is_group_or_other_writable(tmp_path: Any) -> None:
    root = str(tmp_path / "root")
    archive = str(tmp_path / "archive")
    with open(archive, "wb") as handle:
        handle.write(b"#!/bin/sh\necho ngrok version 3.1.0\n")
    script = (
        "import os, pyngrok\n"
        "os.umask(0)\n"
        f"pyngrok.install_default_config(os.path.join({root!r}, 'a', 'b', 'ngrok.yml'), {{}})\n"
        f"config = pyngrok.PyngrokConfig(config_path=os.path.join({root!r}, 'c', 'd', 'n.yml'))\n"
        "pyngrok.process.set_auth_token(config, 'token')\n"
        f"pyngrok.installer.install_ngrok(os.path.join({root!r}, 'e', 'f', 'ngrok'), archive={archive!r}, quiet=True)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    made = [root] + [os.path.join(top, name) for top, dirs, files in os.walk(root) for name in dirs + files]
    assert len(made) == 10  # a, b, c, d, e, f, two configs and the binary, under root
    writable = [path for path in made if os.stat(path).st_mode & 0o022]
    assert writable == []


class Zeros(io.RawIOBase):
    """``size`` zero bytes, read without holding them in memory."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = bytes(count)
        self.left -= count
        return count


def write_bomb(path: str, size: int) -> None:
    """A real archive whose ``ngrok`` member is ``size`` zero bytes: a gzip'ed tar or a deflated zip."""
    if path.endswith(".zip"):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive, archive.open(
            "ngrok", "w", force_zip64=True
        ) as member:
            shutil.copyfileobj(Zeros(size), member, 1024 * 1024)
        return
    with tarfile.open(path, "w:gz", compresslevel=1) as archive:
        info = tarfile.TarInfo("ngrok")
        info.size, info.mode = size, 0o755
        archive.addfile(info, Zeros(size))


@pytest.mark.parametrize("archive_name", ["ngrok-v3-stable-linux-amd64.tgz", "ngrok-v3-stable-linux-amd64.zip"])
def test_a_300_mb_archive_bomb_never_puts_more_than_128_mib_on_disk(tmp_path: Any, archive_name: str) -> None:
    """The install runs with its file-size limit (RLIMIT_FSIZE) at the cap: had it tried to write one byte past
    the cap, the write would have failed with EFBIG and the outcome would be an I/O error, not the refusal."""
    assert pyngrok.MAX_NGROK_BINARY_SIZE == 128 * 1024 * 1024
    bomb = str(tmp_path / archive_name)
    write_bomb(bomb, 300_000_000)
    assert os.path.getsize(bomb) < 2_000_000  # a real bomb: small on disk, 300 MB inside
    target = str(tmp_path / "bin" / "ngrok")
    script = (
        "import resource, signal, pyngrok\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (pyngrok.MAX_NGROK_BINARY_SIZE,) * 2)\n"
        "try:\n"
        f"    pyngrok.installer.install_ngrok({target!r}, archive={bomb!r}, quiet=True)\n"
        "except pyngrok.PyngrokError as error:\n"
        "    print(type(error).__name__, error)\n"
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr.decode()
    outcome = done.stdout.decode()
    assert outcome.startswith("_InstallSecurityError") and "134217728" in outcome, outcome
    assert os.listdir(str(tmp_path / "bin")) == []  # and the partial extraction is gone


def test_a_short_authtoken_starts_and_is_masked_only_where_the_agent_echoes_it(
    pyngrok_config: PyngrokConfig, tmp_path: Any, monkeypatch: Any, caplog: Any
) -> None:
    monkeypatch.setenv("FAKE_NGROK_REQUIRE_AUTHTOKEN", "session")
    pyngrok_config.auth_token = "session"
    caplog.set_level("DEBUG", logger="pyngrok")
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)  # "client session established" is seen as such
    assert ngrok_process.session_state == "online"
    assert any(log.msg == "client session established" for log in ngrok_process.logs)
    ngrok.kill(pyngrok_config)
    # An agent that refuses the token echoes it: that echo is masked, in the error and in the logs.
    echoing = os.path.join(str(tmp_path), "echoing-ngrok")
    with open(echoing, "w", encoding="utf-8") as script:
        script.write("#!/bin/sh\necho 'ERROR:  Your authtoken: session' >&2\nexit 1\n")
    os.chmod(echoing, 0o755)
    pyngrok_config.ngrok_path = echoing
    with pytest.raises(PyngrokNgrokError) as raised:
        ngrok.get_ngrok_process(pyngrok_config)
    assert "Your authtoken: ********" in str(raised.value)
    assert "Your authtoken: session" not in str(raised.value) + caplog.text
