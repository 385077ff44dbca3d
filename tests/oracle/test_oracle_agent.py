"""Oracle tier: the real ngrok 2.3.41 agent starts cleanly with v2 configs our writer produced.

The agent binary is the ``real_agent`` fixture (conftest.py): skipped when it cannot be had, failed instead under
REQUIRE_REAL_AGENT.
The config points the session at 127.0.0.1:1, so the agent never reaches the internet.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path[:0] = [os.path.dirname(TESTS), TESTS]

pyngrok = importlib.import_module("pyngrok")
free_port = importlib.import_module("helpers").free_port


TRICKY = [
    "yes",
    "3",
    "null",
    "0x1F",
    "1e5",
    "a: b",
    "#x",
    "*a",
    "&a",
    "!a",
    "|a",
    ">a",
    "%a",
    "@a",
    "`a",
    "a ",
    " a",
    "it's",
    'say "hi"',
    "C:\\path",
    "café ✓",
    "2001-12-14",
    "1:30",
    "- a",
    "? a",
    "[a]",
    "{a}",
    "<<",
    "=",
    # Not raw in a file: the agent refuses a tab anywhere, reads none of a file with a DEL.
    "a\tb",
    "\t",
    "tab\tand 'quotes'",
    "x\x7fy",
    "\x01\x1b\x85\u2028\ufeff",
    "lines\nwith\ta tab\n",
]


def v2_config(port: int) -> dict:
    tunnels = {
        "web": {"proto": "http", "addr": "8080", "inspect": False, "bind_tls": True, "host_header": "a: b"},
        "ssh": {"proto": "tcp", "addr": 22, "remote_addr": "1.tcp.ngrok.io:12345"},
        "tls": {"proto": "tls", "addr": "443", "hostname": "tls.example.com"},
        "auth": {"proto": "http", "addr": 3000, "auth": "user:p@ss'w\"ord", "subdomain": "null"},
    }
    for index, text in enumerate(TRICKY):
        tunnels[f"tricky-{index}"] = {"proto": "http", "addr": 9000 + index, "host_header": text, "subdomain": text}
    return {
        "version": "2",
        "web_addr": f"127.0.0.1:{port}",
        "server_addr": "127.0.0.1:1",
        "update_check": False,
        "console_ui": False,
        "log_level": "info",
        "metadata": "multi-line\nmetadata: with # signs\n  and indentation\n",
        "tunnels": tunnels,
    }


def run_agent(binary: str, config_path: str, port: int) -> list[str]:
    """Start the agent, wait for its web service and query its API; return everything it printed."""
    process = subprocess.Popen(
        [binary, "start", "--none", "--log", "stdout", "--config", config_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line.rstrip("\n"))
            if "starting web service" in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        started.wait(20)
        assert started.is_set(), "\n".join(output)
        deadline = time.time() + 10
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/tunnels", timeout=2) as response:
                    assert response.status == 200
                    assert "tunnels" in json.loads(response.read().decode("utf-8"))
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        process.kill()
        process.wait()
        reader.join(5)
        if process.stdout is not None:
            process.stdout.close()
    return output


def test_real_v2_agent_reads_our_config(tmp_path, real_agent):
    binary = real_agent
    port = free_port()
    config_path = str(tmp_path / "ngrok.yml")
    pyngrok.install_default_config(config_path, v2_config(port), ngrok_version="2", config_version="2")
    output = run_agent(binary, config_path, port)
    text = "\n".join(output)
    assert f"addr=127.0.0.1:{port}" in text
    assert "ERROR" not in text
    assert "Error reading configuration file" not in text


def test_real_v2_agent_rejects_a_broken_value(tmp_path, real_agent):
    # The check above means something: the agent does complain about a value of the wrong type.
    binary = real_agent
    port = free_port()
    config_path = str(tmp_path / "ngrok.yml")
    data = v2_config(port)
    data["tunnels"]["web"]["inspect"] = "false"
    with open(config_path, "w", encoding="utf-8") as file:
        file.write(pyngrok._yaml_dump(data))
    result = subprocess.run(
        [binary, "start", "--none", "--log", "stdout", "--config", config_path],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=20,
        check=False,
    )
    assert result.returncode != 0
    assert "cannot unmarshal" in result.stdout
