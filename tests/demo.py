"""See pyngrok carry a request through the real ngrok agent, with no ngrok account and no internet.

    python3 tests/demo.py        (or: make demo)

What it does, printing each step:

1. fetches the real ngrok 2.3.41 agent from npm, unless it is cached under .cache/ (tests/realagent.py);
2. starts a loopback ngrok tunnel server (tests/tunnel_server.py) with a CA of its own;
3. serves a page from a local ``http.server``;
4. opens a tunnel to it with ``pyngrok.ngrok.connect``: pyngrok starts the agent, which connects to the
   tunnel server and gets a public URL on 127.0.0.1;
5. fetches the page through that public URL, and shows the request as the agent captured it;
6. cleans everything up.

Exit status 0 on success, 1 (with the reason) when the agent cannot be fetched or something fails.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
import traceback
from typing import Any, List, Optional

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(TESTS_DIR)
for _path in (REPO_ROOT, TESTS_DIR):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import pyngrok  # noqa: E402
import realagent  # noqa: E402
import tunnel_server  # noqa: E402
from helpers import LocalSite, free_port, http_request, real_agent_config, write_agent_config  # noqa: E402
from pyngrok import agent, ngrok  # noqa: E402
from pyngrok.conf import PyngrokConfig  # noqa: E402

PAGE = "<h1>Hello from a local http.server</h1>\n<p>served through pyngrok and the real ngrok agent</p>\n"
STARTED = time.monotonic()


def step(text: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.2f}s] {text}", flush=True)


def detail(text: str) -> None:
    for line in text.splitlines() or [""]:
        print("          " + line, flush=True)


def captured_request(config: PyngrokConfig, tunnel_name: str, deadline: float) -> Optional[Any]:
    """The agent's record of our request, once its response is in (the agent records it a moment later)."""
    while True:
        done = [r for r in agent.get_requests(tunnel_name, pyngrok_config=config) if r.response]
        if done or time.monotonic() > deadline:
            return done[0] if done else None
        time.sleep(0.05)


def main() -> int:
    step(f"Fetching the ngrok {realagent.AGENT_VERSION} agent (npm package {realagent.NPM_SPEC}), unless cached...")
    binary = realagent.ensure_real_agent()
    if binary is None:
        reason = realagent.last_error()
        print(
            f"\nCannot run the demo: the ngrok {realagent.AGENT_VERSION} agent is unavailable: {reason}",
            file=sys.stderr,
        )
        print(
            "The demo needs the npm registry once, to fetch the agent; later runs use the cached copy.", file=sys.stderr
        )
        return 1
    detail(binary)

    workdir = tempfile.mkdtemp(prefix="pyngrok-demo-")
    cleanups: List[Any] = []
    config: Optional[PyngrokConfig] = None
    try:
        step("Starting a loopback ngrok tunnel server, with a certificate authority of its own...")
        server = tunnel_server.TunnelServer(workdir).start()
        cleanups.append(server.close)
        detail(f"listening on {server.addr} (CA: {server.ca_path})")

        step("Serving a page from a local http.server...")
        site_dir = os.path.join(workdir, "site")
        os.makedirs(site_dir)
        site = LocalSite(site_dir, PAGE)
        cleanups.append(site.close)
        detail(f"http://127.0.0.1:{site.port}/index.html")

        config_path = write_agent_config(os.path.join(workdir, "ngrok.yml"), server.addr, server.ca_path, free_port())
        config = real_agent_config(binary, config_path, auth_token="demo-token")
        step(f"Opening a tunnel: ngrok.connect({site.port}, pyngrok_config=config)...")
        detail(f"ngrok config: {config_path}")
        tunnel = ngrok.connect(site.port, name="demo", pyngrok_config=config)
        ngrok_process = ngrok.get_ngrok_process(config)
        detail(f"agent pid {ngrok_process.proc.pid}, API at {ngrok_process.api_url}")
        detail(f"tunnel: {tunnel!r}")
        for other in ngrok.get_tunnels(config):
            detail(f"  open: {other.name:<12} {other.public_url:<26} -> {other.config.get('addr')}")

        url = tunnel.public_url + "/index.html?from=demo"
        step(f"Fetching {url} through the tunnel...")
        status, body = http_request(url, server.ca_path)
        detail(f"HTTP {status}, {len(body)} bytes:")
        detail(body.decode("utf-8", "replace").rstrip())
        if status != 200 or body.decode("utf-8", "replace") != PAGE:
            print("\nDemo failed: the page through the tunnel is not the local page", file=sys.stderr)
            return 1

        step("The request, as the agent captured it (pyngrok.agent.get_requests):")
        captured = captured_request(config, "demo", time.monotonic() + 5)
        if captured is None:
            print("\nDemo failed: the agent did not capture the request", file=sys.stderr)
            return 1
        request, response = captured.request, captured.response
        detail(
            f"{request['method']} {request['uri']} -> {response['status']}"
            f"   (id {captured.id}, tunnel {captured.tunnel_name}, from {captured.remote_addr})"
        )
    except Exception:
        print("\nDemo failed:", file=sys.stderr)
        traceback.print_exc()
        return 1
    finally:
        step("Cleaning up: ngrok.kill(config), local site, tunnel server...")
        if config is not None:
            ngrok.kill(config)
        for cleanup in reversed(cleanups):
            try:
                cleanup()
            except Exception as exc:  # keep cleaning up
                print(f"cleanup failed: {exc!r}", file=sys.stderr)
        shutil.rmtree(workdir, ignore_errors=True)
    step(
        f"Done: pyngrok {pyngrok.__version__} opened a tunnel through the real ngrok {realagent.AGENT_VERSION} "
        "agent and carried a request."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
