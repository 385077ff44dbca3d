"""Writes a config and installs a binary where writing fails, and reports what was raised.

    python write_failure_program.py fsize <dir>      # files may not grow past 1 KiB (RLIMIT_FSIZE: EFBIG)
    python write_failure_program.py readonly <dir>   # <dir> is on a read-only mount (EROFS)

``<dir>`` holds ``ngrok.yml`` and ``bin/ngrok`` (made by the test) and ``archive`` (a bare binary to install).
Prints one JSON object: for each write, the exception's class, message and ``path`` attribute.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys

import pyngrok


def attempt(write) -> dict:
    try:
        write()
    except Exception as error:
        return {"class": type(error).__name__, "message": str(error), "path": getattr(error, "path", None)}
    return {"class": None}


def main() -> None:
    mode, directory = sys.argv[1:3]
    if mode == "fsize":
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        # Python does not check that a bytecode file was written whole: a module first imported under the
        # limit (the installer's tarfile) would leave a truncated .pyc in the suite's shared bytecode cache.
        sys.dont_write_bytecode = True
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))
    config_path = os.path.join(directory, "ngrok.yml")
    config = pyngrok.PyngrokConfig(config_path=config_path, ngrok_path=os.path.join(directory, "bin", "ngrok"))
    report = {
        "install_default_config": attempt(
            lambda: pyngrok.install_default_config(config_path, {"agent": {"authtoken": "t" * 4000}})
        ),
        "set_auth_token": attempt(lambda: pyngrok.process.set_auth_token(config, "s" * 4000)),
        "install_ngrok": attempt(
            lambda: pyngrok.installer.install_ngrok(
                config.ngrok_path, archive=os.path.join(directory, "archive"), quiet=True
            )
        ),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
