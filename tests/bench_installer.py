"""Benchmark: installing ngrok from a local .tgz holding a ~30 MB binary, against ``tar xzf`` + ``sha256sum``.

Run from the repository root: ``python tests/bench_installer.py [runs]``. Not collected by pytest.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, List

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(TESTS_DIR), TESTS_DIR]

import pyngrok  # noqa: E402 - found through the sys.path set up above
from installer_servers import Entry, fake_ngrok, tgz_bytes  # noqa: E402


def big_binary(size: int = 30 * 1024 * 1024) -> bytes:
    """A script header, then a third random bytes and two thirds repetitive ones (roughly a Go binary's ratio)."""
    random_part = os.urandom(size // 3)
    pattern = hashlib.sha256(b"ngrok").digest() * 64
    repetitive = (pattern * (size // len(pattern) + 1))[: size - len(random_part)]
    return fake_ngrok("3.99.0", padding=random_part + repetitive)


def read(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read()


def timed(action: Callable[[], None], runs: int) -> List[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    work = tempfile.mkdtemp(prefix="pyngrok-bench-")
    try:
        binary = big_binary()
        archive = os.path.join(work, "ngrok-v3-stable-linux-amd64.tgz")
        with open(archive, "wb") as file:
            file.write(tgz_bytes([Entry("ngrok", binary)]))
        digest = hashlib.sha256(read(archive)).hexdigest()
        target = os.path.join(work, "bin", "ngrok")
        tar_dir = os.path.join(work, "tar")
        os.makedirs(tar_dir)

        def pyngrok_install() -> None:
            pyngrok._install_ngrok_binary(target, archive=archive, sha256=digest, quiet=True)

        def pyngrok_cli() -> None:
            command = [sys.executable, "-c", "import sys, pyngrok; sys.exit(pyngrok._installer_cli(sys.argv[1:]))"]
            command += ["--archive", archive, "--sha256", digest, "--path", target, "--quiet"]
            subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": os.path.dirname(TESTS_DIR)})

        def tar_and_sha256sum() -> None:
            subprocess.run(["tar", "xzf", archive, "-C", tar_dir], check=True)
            subprocess.run(["sha256sum", archive], check=True, stdout=subprocess.DEVNULL)

        def python_startup() -> None:
            subprocess.run([sys.executable, "-c", "import pyngrok"], check=True)

        print(f"binary {len(binary) / 2**20:.1f} MiB, archive {os.path.getsize(archive) / 2**20:.1f} MiB, {runs} runs")
        for name, action in [
            ("pyngrok install (in process)", pyngrok_install),
            ("python -c pyngrok._installer_cli", pyngrok_cli),
            ("tar xzf + sha256sum", tar_and_sha256sum),
            ("python -c 'import pyngrok' (startup only)", python_startup),
        ]:
            action()  # warm the page cache
            times = timed(action, runs)
            print(f"{name:45s} median {statistics.median(times) * 1000:7.1f} ms   min {min(times) * 1000:7.1f} ms")
    finally:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
