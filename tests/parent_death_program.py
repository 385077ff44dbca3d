"""A program that starts an agent from a short-lived thread, then waits to be killed.

    python parent_death_program.py <ngrok_path> <config_path> <memory|file>

``file`` makes the secret overlay a file (as on systems without ``memfd_create``). Once the starting thread
has ended, the program prints one JSON line: the agent's PID, its overlay directory (``null`` when the overlay
lives in memory), and whether the agent is still healthy. Then it sleeps until it is killed.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time

import pyngrok


def main() -> None:
    ngrok_path, config_path, overlay_in = sys.argv[1:4]
    if overlay_in == "file" and hasattr(os, "memfd_create"):
        del os.memfd_create
    config = pyngrok.PyngrokConfig(
        ngrok_path=ngrok_path, config_path=config_path, auth_token="parent-death-token", startup_timeout=10
    )
    started = threading.Thread(target=pyngrok.get_ngrok_process, args=(config,))
    started.start()
    started.join()
    while os.path.exists(f"/proc/self/task/{started.native_id}"):  # until the OS thread is gone too
        time.sleep(0.01)
    agent = pyngrok.get_ngrok_process(config)
    report = {"agent": agent.proc.pid, "overlay_dir": agent._overlay_dir, "healthy": agent.healthy()}
    print(json.dumps(report), flush=True)
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main()
