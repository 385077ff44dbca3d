"""Run upstream pyngrok 9.1.0's own test suite, unmodified, against our ``pyngrok.py``, offline.

    python tests/upstream_tier.py                     # against ../pyngrok.py
    python tests/upstream_tier.py --against upstream  # upstream's own package, to show the tier is fair

The sdist comes from PyPI (``pip download``), pinned by its SHA-256 and cached in ``.cache/upstream/``
(never committed). Its ``tests/`` are copied, as they are, into a fresh directory outside the repository,
beside ``tests/upstream_conftest.py`` (as ``conftest.py``) and a stand-in for upstream's
``scripts/create_test_resources.py`` (it provisions ngrok cloud resources and is not in the sdist). The
tests run in ``.cache/upstream-tier-venv-<python>`` (pytest, psutil and PyYAML, which upstream's tests
import), with a dummy ``NGROK_AUTHTOKEN`` and no ``NGROK_API_KEY``; our fake agent is installed through a
loopback HTTPS "CDN". Extra arguments go to pytest. Exits with pytest's exit code.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from typing import Dict, List

from helpers import own_network_command, sha256_of

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(REPO_ROOT, ".cache", "upstream")
SDIST = "pyngrok-9.1.0.tar.gz"
SDIST_SHA256 = "8d9a521d3df29ad3f41523be13f1ef0790592605764d87605937aab20ff67daa"
TIER_PACKAGES = ["pytest", "psutil", "pyyaml"]
# Environment that would point either pyngrok, or upstream's tests, at something real.
SCRUBBED_ENV = ("NGROK_API_KEY", "NGROK_HOSTNAME", "NGROK_DOMAIN", "NGROK_DOMAIN_ID", "NGROK_CONFIG_PATH", "NGROK_PATH")

# Stands in for upstream's scripts/create_test_resources.py, which is not in the sdist: it provisions
# reserved domains through ngrok's API, which only the cloud tests (deselected here) use.
SCRIPTS_STAND_IN = '''"""Stand-in for upstream's scripts/create_test_resources.py: offline, there is no ngrok cloud."""


def create_test_resources(temp=False):
    raise RuntimeError("the upstream tier runs offline: no ngrok cloud resources")


def generate_name_for_subdomain(prefix):
    raise RuntimeError("the upstream tier runs offline: no ngrok cloud subdomains")
'''


def fetch_sdist() -> str:
    path = os.path.join(CACHE, SDIST)
    if not os.path.exists(path) or sha256_of(path) != SDIST_SHA256:
        os.makedirs(CACHE, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "-q", "pyngrok==9.1.0"]
        command += ["--no-binary", ":all:", "--no-deps", "-d", CACHE]
        subprocess.run(command, check=True)
    actual = sha256_of(path)
    if actual != SDIST_SHA256:
        os.unlink(path)
        raise SystemExit(f"{SDIST}: SHA-256 {actual}, expected {SDIST_SHA256}; removed")
    return path


def tier_python() -> str:
    version = ".".join(str(part) for part in sys.version_info[:3])
    venv = os.path.join(REPO_ROOT, ".cache", f"upstream-tier-venv-{version}")
    python = os.path.join(venv, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    probe = subprocess.run([python, "-c", "import pytest, psutil, yaml"], capture_output=True)
    if probe.returncode != 0:
        subprocess.run([python, "-m", "pip", "install", "-q", *TIER_PACKAGES], check=True)
    return python


def prepare(work: str, sdist: str, against: str) -> None:
    """Lay out ``work``: ``tests/`` (upstream's, plus our conftest), ``scripts/``, and ``lib/pyngrok``."""
    with tarfile.open(sdist) as archive:
        root = archive.getnames()[0].split("/")[0]
        members = [m for m in archive.getmembers() if m.name.startswith((f"{root}/tests/", f"{root}/pyngrok/"))]
        for member in members:
            if not member.isfile():
                continue
            relative = member.name.split("/", 1)[1]
            target = os.path.join(work, "lib" if relative.startswith("pyngrok/") else "", relative)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            with source, open(target, "wb") as out:
                shutil.copyfileobj(source, out)
    if against == "ours":
        shutil.rmtree(os.path.join(work, "lib", "pyngrok"))
        shutil.copy(os.path.join(REPO_ROOT, "pyngrok.py"), os.path.join(work, "lib", "pyngrok.py"))
    shutil.copy(os.path.join(REPO_ROOT, "tests", "upstream_conftest.py"), os.path.join(work, "tests", "conftest.py"))
    os.makedirs(os.path.join(work, "scripts"))
    with open(os.path.join(work, "scripts", "create_test_resources.py"), "w", encoding="utf-8") as stand_in:
        stand_in.write(SCRIPTS_STAND_IN)
    with open(os.path.join(work, "pytest.ini"), "w", encoding="utf-8") as ini:
        ini.write("[pytest]\n")  # pins the rootdir here, away from the repository's own conftest.py


def tier_env(work: str, against: str) -> Dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYNGROK_", "FAKE_NGROK_"))}
    for name in SCRUBBED_ENV:
        env.pop(name, None)
    env.update(
        PYTHONPATH=os.pathsep.join([os.path.join(work, "lib"), work]),
        NGROK_AUTHTOKEN="dummy-authtoken-for-the-offline-tier",
        UPSTREAM_TIER_REPO_TESTS=os.path.join(REPO_ROOT, "tests"),
        UPSTREAM_TIER_AGAINST=against,
        HOME=os.path.join(work, "home"),
    )
    os.makedirs(env["HOME"])
    return env


def in_own_network(command: List[str]) -> List[str]:
    """``command`` in a network namespace of its own where one can be made: upstream's tests bind the fixed
    ports 4040 and 4041, which another program on the machine may hold; alone, the tier cannot collide."""
    tests_dir = os.path.join(REPO_ROOT, "tests")
    bring_up_loopback_then_exec = (
        f"import os, sys; sys.path.insert(0, {tests_dir!r}); from helpers import loopback_up; loopback_up(); "
        "os.execv(sys.argv[1], sys.argv[1:])"
    )
    isolated = own_network_command(command[0], "-c", bring_up_loopback_then_exec, *command)
    return isolated or command


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", choices=("ours", "upstream"), default="ours")
    args, pytest_args = parser.parse_known_args(argv)
    sdist = fetch_sdist()
    python = tier_python()
    work = tempfile.mkdtemp(prefix="pyngrok-upstream-tier-")
    try:
        prepare(work, sdist, args.against)
        command = [python, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfExX", "tests", *pytest_args]
        result = subprocess.run(
            in_own_network(command), cwd=work, env=tier_env(work, args.against), capture_output=True, text=True
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    passed = re.search(r"(\d+) passed", summary)
    print(f"upstream pyngrok 9.1.0's own tests against {args.against}: {passed.group(1) if passed else 0} passed")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
