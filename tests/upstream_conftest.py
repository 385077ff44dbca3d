"""conftest.py for upstream pyngrok 9.1.0's own test suite, run offline by ``make test-upstream``.

``tests/upstream_tier.py`` copies this file as ``conftest.py`` beside the unpacked, unmodified upstream tests.
It serves our fake agent (``tests/fake_ngrok.py``, in a ``.tgz`` as ngrok's CDN ships it) from a loopback
HTTPS server signed by a throwaway CA, points the installer's CDN at it, and deselects or marks the tests
listed below, each with its reason. The same lists make the deviations table of the README.
"""

from __future__ import annotations

import io
import os
import sys
import tarfile
import tempfile
from typing import Any, Dict, List

import pytest

REPO_TESTS = os.environ["UPSTREAM_TIER_REPO_TESTS"]
AGAINST = os.environ.get("UPSTREAM_TIER_AGAINST", "ours")
sys.path.insert(0, REPO_TESTS)

from installer_servers import ArchiveServer, Route, make_ca  # noqa: E402 - needs the path above

# Tests that cannot pass offline, for upstream as for us: what they check is ngrok's cloud (reserved
# domains and API keys, its public URLs and TLS, its CDN). ``make test-upstream UPSTREAM_AGAINST=upstream``
# shows upstream pyngrok itself failing exactly these against the same fake agent.
NEEDS_CLOUD: Dict[str, str] = {
    "test_installer.py::TestInstaller::test_ensure_installer_urls_exist": "HEAD requests to ngrok's real CDN",
    "test_ngrok.py::TestNgrok::test_connect": "the endpoint id and name that ngrok's cloud assigns",
    "test_ngrok.py::TestNgrok::test_connect_name": "an https public URL, which ngrok's cloud assigns",
    "test_ngrok.py::TestNgrok::test_get_tunnels": "an https public URL, which ngrok's cloud assigns",
    "test_ngrok.py::TestNgrok::test_v3_connect": "an https public URL, which ngrok's cloud assigns",
    "test_ngrok.py::TestNgrok::test_schemes_http_https": "http and https public URLs from ngrok's cloud",
    "test_ngrok.py::TestNgrok::test_schemes_https": "an https public URL, which ngrok's cloud assigns",
    "test_ngrok.py::TestNgrok::test_bind_tls_upgraded_to_schemes": "an https public URL from ngrok's cloud",
    "test_ngrok.py::TestNgrok::test_regional_connect_url": "ngrok's regional servers",
    "test_ngrok.py::TestNgrok::test_regional_tcp": "a tcp address reserved in ngrok's cloud",
    "test_ngrok.py::TestNgrok::test_regional_subdomain": "a subdomain reserved through ngrok's API",
    "test_ngrok.py::TestNgrok::test_tunnel_definitions": "a subdomain reserved through ngrok's API",
    "test_ngrok.py::TestNgrok::test_tunnel_definitions_pyngrok_default": "a subdomain reserved through ngrok's API",
    "test_ngrok.py::TestNgrok::test_tunnel_definitions_pyngrok_default_with_overrides": (
        "a subdomain reserved through ngrok's API"
    ),
    "test_ngrok.py::TestNgrok::test_ngrok_http_internal_endpoint_pooling": "internal endpoints and pooling",
    "test_ngrok.py::TestNgrok::test_ngrok_tls_internal_endpoint_pooling": "internal endpoints and pooling",
    "test_ngrok.py::TestNgrok::test_full_config_v2_tls_tunnel_definitions": "a tls tunnel with a reserved domain",
    "test_ngrok.py::TestNgrok::test_api_get_request_success": "the tunnel fields of ngrok's cloud answer",
    "test_ngrok.py::TestNgrok::test_ngrok_tunnel_refresh_metrics": "metrics of traffic through ngrok's cloud",
    "test_process.py::TestProcess::test_stop_monitor_thread": "a request through the public URL to the web UI",
    # What the real agent does that our fake does not (yet): each fails for upstream pyngrok here too.
    "test_agent.py::TestAgent::test_captured_requests": "the real agent's request ids, ordered by time",
    "test_ngrok.py::TestNgrok::test_api_request_fails": "the real agent's wording of a bad-protocol error",
    "test_ngrok.py::TestNgrok::test_connect_fileserver": "a file:// upstream, which the fake refuses",
    "test_ngrok.py::TestNgrok::test_get_tunnel_fileserver": "a file:// upstream, which the fake refuses",
}

# Deliberate deviations: upstream passes these, we fail them on purpose. Each entry: the test id, then what
# upstream does, what we do, and why. Marked xfail(strict=True) against our file, so a deviation that
# silently disappears fails the tier too.
DEVIATIONS: Dict[str, Dict[str, str]] = {
    "test_ngrok.py::TestNgrok::test_set_auth_token_fails": {
        "upstream": "runs `ngrok config add-authtoken TOKEN` and fails on unexpected output",
        "ours": "writes the token into the config file itself; no agent is run",
        "why": "a secret is never put on a command line, where other local users can read it",
    },
    "test_ngrok.py::TestNgrok::test_set_api_key_fails": {
        "upstream": "runs `ngrok config add-api-key KEY` and fails on unexpected output",
        "ours": "writes the key into the config file itself; no agent is run",
        "why": "a secret is never put on a command line, where other local users can read it",
    },
    "test_process.py::TestProcess::test_start_new_session": {
        "upstream": "installs the binary without running it (the test mocks subprocess.Popen around the install)",
        "ours": "runs the new binary's `version` before placing it, which the mocked Popen breaks",
        "why": "a binary that does not run here (wrong machine, truncated) never replaces a working one",
    },
    "test_process.py::TestProcess::test_retry_session_connection_failure": {
        "upstream": "installs the binary without running it (the test mocks subprocess.Popen around the install)",
        "ours": "runs the new binary's `version` before placing it, which the mocked Popen breaks",
        "why": "a binary that does not run here (wrong machine, truncated) never replaces a working one",
    },
    "test_ngrok.py::TestNgrok::test_full_config_v2_http_tunnel_definitions": {
        "upstream": "sends v2-only options (circuit_breaker, ...) to the v3 /api/endpoints; the agent refuses them",
        "ours": "refuses them before the request, with the Traffic Policy action to use instead (PyngrokError)",
        "why": "an option with no v3 equivalent is never silently dropped, and the error says what to use",
    },
    "test_ngrok.py::TestNgrok::test_full_config_v2_tcp_tunnel_definitions": {
        "upstream": "sends v2-only options (ip_restriction, ...) to the v3 /api/endpoints; the agent refuses them",
        "ours": "refuses them before the request, with the Traffic Policy action to use instead (PyngrokError)",
        "why": "an option with no v3 equivalent is never silently dropped, and the error says what to use",
    },
    "test_ngrok.py::TestNgrok::test_config_v2_passed_to_api_request": {
        "upstream": "takes any answer to the tunnel POST (here a MagicMock) as a tunnel",
        "ours": "raises PyngrokError when the answer has no public_url string",
        "why": "a malformed agent answer is reported where it happens, not later as an AttributeError",
    },
}


def _fake_agent_archive() -> bytes:
    """A ``.tgz`` holding ``ngrok``: the fake agent, run by this interpreter."""
    with open(os.path.join(REPO_TESTS, "fake_ngrok.py"), encoding="utf-8") as source:
        lines = source.read().splitlines(True)
    if lines and lines[0].startswith("#!"):
        lines = lines[1:]
    script = f"#!{sys.executable}\n{''.join(lines)}".encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        member = tarfile.TarInfo("ngrok")
        member.size = len(script)
        member.mode = 0o755
        archive.addfile(member, io.BytesIO(script))
    return buffer.getvalue()


def _serve_cdn() -> ArchiveServer:
    ca = make_ca(tempfile.mkdtemp(prefix="pyngrok-upstream-ca-"))
    # Both pyngroks open the CDN with the default TLS context, which trusts SSL_CERT_FILE.
    os.environ["SSL_CERT_FILE"] = ca.ca_file
    server = ArchiveServer(ca.server_context())
    from pyngrok import installer

    archive = _fake_agent_archive()
    prefix = server.url("/c/loopback/")
    for key, url in list(installer.PLATFORMS.items()):
        name = url.rsplit("/", 1)[1]
        server.routes[f"/c/loopback/{name}"] = Route(body=archive)
        installer.PLATFORMS[key] = prefix + name
    installer.CDN_URL_PREFIX = prefix
    return server


CDN = _serve_cdn()


def _only_our_descendants() -> None:
    """Upstream's ``assert_no_zombies`` scans every process on the machine for a zombie named ngrok; on a
    machine that runs other test suites at the same time, theirs show up for a moment. The scan is narrowed
    to this test process's own descendants, the ones the check is about."""
    import psutil

    every_process = psutil.process_iter

    def process_iter(*args: Any, **kwargs: Any) -> Any:
        ours = {child.pid for child in psutil.Process().children(recursive=True)}
        return (found for found in every_process(*args, **kwargs) if found.pid in ours)

    psutil.process_iter = process_iter


_only_our_descendants()


def pytest_collection_modifyitems(config: Any, items: List[Any]) -> None:
    kept, deselected = [], []
    for item in items:
        test_id = item.nodeid.split("tests/", 1)[-1]
        if test_id in NEEDS_CLOUD:
            deselected.append(item)
            continue
        if AGAINST == "ours" and test_id in DEVIATIONS:
            item.add_marker(pytest.mark.xfail(strict=True, reason=DEVIATIONS[test_id]["why"]))
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = kept


def pytest_unconfigure(config: Any) -> None:
    CDN.close()
