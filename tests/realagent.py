"""Fetch and cache the real ngrok 2.3.41 agent for integration tests.

The binary comes from the npm package ``@expo/ngrok-bin-linux-x64@2.3.41``
(fetched with ``npm pack``, never committed).  It is cached under
``<repo>/.cache/ngrok-2.3.41/ngrok`` by default; that directory must be
git-ignored.

    path = require_real_agent()   # in a test or fixture: the path, or a skip (a failure in CI)

Concurrent callers (threads or processes) are serialised with an ``flock``
on ``<cache_dir>/.lock`` and the binary is moved into place with an atomic
rename, so a reader never sees a half-written file.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path
from typing import Dict, Optional

from helpers import sha256_of

AGENT_VERSION = "2.3.41"
NPM_PACKAGE = "@expo/ngrok-bin-linux-x64"
NPM_SPEC = NPM_PACKAGE + "@" + AGENT_VERSION
# SHA-256 of the ``ngrok`` executable inside the npm tarball (package/ngrok).
BINARY_SHA256 = "4141a8c12de8ccff2b2b8fc3722b181b706ae73e534f34b12cfc1b42cc9395d3"
BINARY_NAME = "ngrok"
_MEMBER = "package/ngrok"

NPM_TIMEOUT = 180.0
VERSION_TIMEOUT = 20.0

_REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CACHE_DIR = _REPO_ROOT / ".cache" / ("ngrok-" + AGENT_VERSION)

_state_lock = threading.Lock()
_last_error: Optional[str] = None
_verified: Dict[str, str] = {}  # cache dir -> verified binary path (this process)


def last_error() -> Optional[str]:
    """Why the last ``ensure_real_agent()`` call returned None (None after a success)."""
    return _last_error


def _set_error(message: Optional[str]) -> None:
    global _last_error
    _last_error = message


def _platform_supported() -> bool:
    return sys.platform.startswith("linux") and platform.machine().lower() in ("x86_64", "amd64")


def agent_version_output(binary: str) -> str:
    """Run ``<binary> version`` and return its stripped output (raises OSError/CalledProcessError)."""
    result = subprocess.run(
        [binary, "version"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=VERSION_TIMEOUT,
        check=True,
    )
    return result.stdout.decode("utf-8", "replace").strip()


def _check_binary(path: Path) -> Optional[str]:
    """None if ``path`` is the expected, runnable agent; otherwise the reason it is not."""
    if not path.is_file():
        return f"{path} does not exist"
    try:
        actual = sha256_of(str(path))
    except OSError as exc:
        return f"cannot read {path}: {exc}"
    if actual != BINARY_SHA256:
        return f"{path} has SHA-256 {actual}, expected {BINARY_SHA256}"
    if not os.access(str(path), os.X_OK):
        return f"{path} is not executable"
    try:
        output = agent_version_output(str(path))
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{path} does not run: {exc}"
    if output != "ngrok version " + AGENT_VERSION:
        return f"{path} printed {output!r} for `version`"
    return None


class _FileLock:
    """An exclusive advisory lock on a file (flock), held for a ``with`` block."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: Optional[int] = None

    def __enter__(self) -> "_FileLock":
        import fcntl  # POSIX only; callers check the platform first

        self._fd = os.open(str(self._path), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc_info: object) -> None:
        import fcntl

        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _summary(text: str, lines: int = 4) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[:lines])


def _npm_pack(npm: str, destination: Path) -> Path:
    """Run ``npm pack`` into ``destination``; return the tarball path (raises RuntimeError)."""
    env = dict(os.environ)
    env.update(
        {
            "npm_config_update_notifier": "false",
            "npm_config_fund": "false",
            "npm_config_audit": "false",
            "npm_config_fetch_retries": "1",
            "npm_config_fetch_retry_mintimeout": "2000",
            "npm_config_fetch_retry_maxtimeout": "5000",
            "npm_config_fetch_timeout": "60000",
        }
    )
    try:
        result = subprocess.run(
            [npm, "pack", NPM_SPEC, "--loglevel=error", "--ignore-scripts"],
            cwd=str(destination),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=NPM_TIMEOUT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"`npm pack {NPM_SPEC}` timed out after {NPM_TIMEOUT:.0f} s") from None
    except OSError as exc:
        raise RuntimeError(f"cannot run npm: {exc}") from exc
    if result.returncode != 0:
        detail = _summary(result.stderr.decode("utf-8", "replace") or result.stdout.decode("utf-8", "replace"))
        raise RuntimeError(f"`npm pack {NPM_SPEC}` failed (exit {result.returncode}): {detail}")
    tarballs = sorted(destination.glob("*.tgz"))
    if len(tarballs) != 1:
        raise RuntimeError(f"`npm pack` produced {len(tarballs)} tarballs in {destination}")
    return tarballs[0]


def _extract_binary(tarball: Path, target: Path) -> None:
    """Write the ``package/ngrok`` member of ``tarball`` to ``target`` (mode 0755)."""
    with tarfile.open(str(tarball), "r:gz") as archive:
        try:
            member = archive.getmember(_MEMBER)
        except KeyError:
            raise RuntimeError(f"{tarball.name} has no {_MEMBER}") from None
        if not member.isfile():
            raise RuntimeError(f"{_MEMBER} in {tarball.name} is not a regular file")
        source = archive.extractfile(member)
        if source is None:
            raise RuntimeError(f"cannot read {_MEMBER} from {tarball.name}")
        with source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
    os.chmod(str(target), 0o755)


def _install(cache_dir: Path, final: Path) -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(f"npm is not on PATH; cannot fetch {NPM_SPEC}")
    work = Path(tempfile.mkdtemp(prefix=".fetch-", dir=str(cache_dir)))
    try:
        tarball = _npm_pack(npm, work)
        staged = work / BINARY_NAME
        _extract_binary(tarball, staged)
        problem = _check_binary(staged)
        if problem is not None:
            raise RuntimeError("fetched binary rejected: " + problem)
        os.replace(str(staged), str(final))  # atomic on one filesystem
    finally:
        shutil.rmtree(str(work), ignore_errors=True)


def ensure_real_agent(cache_dir: Optional[str] = None) -> Optional[str]:
    """Return the path of a verified, executable ngrok 2.3.41 binary, fetching it if needed.

    Returns None when it cannot be had (unsupported platform, npm missing,
    registry unreachable, checksum mismatch...); ``last_error()`` says why.
    """
    directory = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR
    directory = directory.resolve()
    key = str(directory)
    with _state_lock:  # one fetch per process at a time; flock below covers other processes
        cached = _verified.get(key)
        if cached is not None and os.path.isfile(cached):
            _set_error(None)
            return cached
        if not _platform_supported():
            _set_error(
                f"the ngrok {AGENT_VERSION} test binary is linux-x64 only (this is {sys.platform}/{platform.machine()})"
            )
            return None
        final = directory / BINARY_NAME
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with _FileLock(directory / ".lock"):
                if _check_binary(final) is not None:
                    _install(directory, final)
        except (OSError, RuntimeError, tarfile.TarError) as exc:
            _set_error(str(exc))
            return None
        _verified[key] = str(final)
        _set_error(None)
        return str(final)


def require_real_agent(cache_dir: Optional[str] = None) -> str:
    """For tests and fixtures: the agent's path; when it cannot be had, a skip that says why, or a failure
    when the environment sets ``REQUIRE_REAL_AGENT`` (as CI does, so that it cannot pass with no real-agent
    coverage at all)."""
    import pytest

    path = ensure_real_agent(cache_dir)
    if path is not None:
        return path
    reason = f"the real ngrok {AGENT_VERSION} agent is unavailable: {last_error()}"
    if os.environ.get("REQUIRE_REAL_AGENT", "") not in ("", "0"):
        pytest.fail(reason + " (and REQUIRE_REAL_AGENT is set)", pytrace=False)
    pytest.skip(reason)


if __name__ == "__main__":  # pragma: no cover - manual helper
    found = ensure_real_agent(sys.argv[1] if len(sys.argv) > 1 else None)
    print(found if found else f"unavailable: {last_error()}")
    sys.exit(0 if found else 1)
