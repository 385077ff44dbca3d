"""The command line a newcomer meets first: help and version with no network and no agent, advice on how to
install an agent offline in every message about a missing agent or a failed download."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from typing import Any, Dict, Iterator, List, Tuple

import pytest

import pyngrok
from helpers import REPO_ROOT, LoopbackListener, free_port

# The three offline ways to get an agent, as every "no agent" and "download failed" message names them.
OFFLINE_WAYS = (
    "python -m pyngrok install --archive FILE",
    "PYNGROK_NGROK_ARCHIVE",
    "PYNGROK_NGROK_PATH",
    "PyngrokConfig(ngrok_path=",
)


def names_the_offline_ways(text: str) -> bool:
    flat = " ".join(text.split())  # the CLI wraps its paragraphs
    return all(way in flat for way in OFFLINE_WAYS)


class RecordingProxy(LoopbackListener):
    """A loopback TCP listener that the child's proxy variables point at: it counts and drops every
    connection, so a download attempt is seen (and fails at once) while nothing leaves the machine."""

    def __init__(self) -> None:
        self.connections = 0
        super().__init__(self._count, name="recording-proxy")

    def _count(self, connection: socket.socket) -> None:
        self.connections += 1
        connection.close()


@pytest.fixture
def recording_proxy() -> Iterator[RecordingProxy]:
    proxy = RecordingProxy()
    yield proxy
    proxy.close()


def offline_env(tmp_path: Any, proxy: RecordingProxy) -> Dict[str, str]:
    """A fresh user: a HOME and config dir with no agent, no ngrok on PATH, every proxy at the recorder."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.upper().startswith(("PYNGROK_", "NO_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "XDG_"))
    }
    proxy_url = f"http://127.0.0.1:{proxy.port}"
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        PATH=os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
        HTTP_PROXY=proxy_url,
        HTTPS_PROXY=proxy_url,
        http_proxy=proxy_url,
        https_proxy=proxy_url,
        PYTHONPATH=REPO_ROOT,
    )
    assert shutil.which("ngrok", path=env["PATH"]) is None
    return env


def run_cli(args: List[str], env: Dict[str, str], prefix: Tuple[str, ...] = ()) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [*prefix, sys.executable, "-m", "pyngrok", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"], []])
def test_help_needs_no_network_and_no_agent(tmp_path: Any, recording_proxy: RecordingProxy, args: List[str]) -> None:
    env = offline_env(tmp_path, recording_proxy)
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m pyngrok COMMAND")
    for command in ("install", "schema", "version", "agent"):
        assert f"\n  {command} " in result.stdout
    assert "python -m pyngrok agent help" in result.stdout
    assert f"{pyngrok.__distribution__} {pyngrok.__edition_version__}" in result.stdout
    assert names_the_offline_ways(result.stdout)
    assert result.stderr == ""
    assert recording_proxy.connections == 0
    assert not os.path.exists(os.path.join(env["XDG_CONFIG_HOME"], "ngrok", "ngrok"))


def test_the_recording_proxy_sees_an_automatic_download(tmp_path: Any, recording_proxy: RecordingProxy) -> None:
    """The control for the test above: a command for the agent does try to download it, through the proxy,
    and the failure names the offline ways to install."""
    env = offline_env(tmp_path, recording_proxy)
    result = run_cli(["http", "8000"], env)
    assert result.returncode == 1
    assert recording_proxy.connections >= 1
    assert "Download of https://" in result.stderr and names_the_offline_ways(result.stderr)


def network_namespaces_work() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not network_namespaces_work(), reason="`unshare -n` needs root or user namespaces")
def test_help_and_version_work_with_the_network_namespace_down(tmp_path: Any, recording_proxy: RecordingProxy) -> None:
    env = offline_env(tmp_path, recording_proxy)
    for proxy_variable in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        del env[proxy_variable]  # no network at all: not even loopback reaches the outside namespace
    helped = run_cli(["--help"], env, prefix=("unshare", "-n"))
    assert helped.returncode == 0 and helped.stdout.startswith("usage: python -m pyngrok"), helped.stderr
    version = run_cli(["version"], env, prefix=("unshare", "-n"))
    assert version.returncode == 0, version.stderr
    assert f"pyngrok version {pyngrok.__version__}" in version.stdout
    assert "ngrok agent: not installed at" in version.stdout and names_the_offline_ways(version.stdout)


def test_version_without_an_agent_prints_ours_and_how_to_get_one(
    tmp_path: Any, recording_proxy: RecordingProxy
) -> None:
    env = offline_env(tmp_path, recording_proxy)
    for args in (["version"], ["--version"], ["-v"]):
        result = run_cli(args, env)
        assert result.returncode == 0, result.stderr
        lines = result.stdout.splitlines()
        assert f"pyngrok version {pyngrok.__version__}" in lines
        assert (
            f"{pyngrok.__distribution__} {pyngrok.__edition_version__} "
            f"(single-file edition, pyngrok API {pyngrok.__version__})" in lines
        )
        assert names_the_offline_ways(result.stdout)
    assert recording_proxy.connections == 0


def test_version_with_an_agent_prints_both(
    tmp_path: Any, recording_proxy: RecordingProxy, fake_ngrok_path: str
) -> None:
    env = dict(offline_env(tmp_path, recording_proxy), PYNGROK_NGROK_PATH=fake_ngrok_path)
    result = run_cli(["version"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "ngrok version 3.30.0"
    assert f"pyngrok version {pyngrok.__version__}" in result.stdout
    assert "not installed" not in result.stdout


def test_agent_runs_the_agent_with_exactly_the_given_arguments(
    tmp_path: Any, recording_proxy: RecordingProxy, fake_ngrok_path: str
) -> None:
    env = dict(offline_env(tmp_path, recording_proxy), PYNGROK_NGROK_PATH=fake_ngrok_path)
    version = run_cli(["agent", "version"], env)
    assert version.returncode == 0 and version.stdout == "ngrok version 3.30.0\n", version.stderr
    helped = run_cli(["agent", "help"], env)
    assert helped.returncode == 0 and "usage: python -m pyngrok" not in helped.stdout


def test_help_of_our_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert pyngrok._cli(["help", "install"]) == 0
    install_help = " ".join(capsys.readouterr().out.split())
    assert "--archive FILE" in install_help
    assert "--ngrok-version {2,3} the agent's major version: 3 (default), or 2" in install_help
    assert pyngrok._cli(["schema", "--help"]) == 0
    assert "JSON Schema" in capsys.readouterr().out
    assert pyngrok._cli(["version", "--bogus"]) == 2


def test_a_failed_download_names_the_offline_ways(tmp_path: Any) -> None:
    closed_port = free_port()
    with pytest.raises(pyngrok.PyngrokNgrokInstallError) as info:
        pyngrok._install_ngrok_binary(
            str(tmp_path / "ngrok"), url=f"https://127.0.0.1:{closed_port}/ngrok.tgz", retries=0, quiet=True
        )
    assert "failed after 1 attempt(s)" in str(info.value)
    assert names_the_offline_ways(str(info.value))
    assert not os.path.exists(tmp_path / "ngrok")


def test_a_missing_agent_names_the_offline_ways(tmp_path: Any) -> None:
    with pytest.raises(pyngrok.PyngrokNgrokError) as info:
        pyngrok.run_process(str(tmp_path / "no-such-ngrok"), ["version"])
    assert names_the_offline_ways(str(info.value))
