"""The benchmark's worker: one measurement in a fresh child process (run by bench/bench.py).

    python bench/worker.py SPEC.json

The spec names the side (``ours``, ``upstream`` or ``raw``, which imports no library) and the operation;
the result is printed as JSON on a line starting with ``BENCH-RESULT``. At module level this imports only
what every Python process has loaded anyway, and nothing a library might import lazily, so a library's
own imports are counted in the figures where they happen.
"""

from __future__ import annotations

import json
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # annotations only: importing typing here would hide what a library pays for it
    from typing import Any, Callable, Dict, List, Optional, Tuple

RESULT_MARK = "BENCH-RESULT "


def _import_library(spec: Dict[str, Any]) -> Any:
    """Import the library under test and check it is the one the spec asks for."""
    if spec["side"] == "raw":
        return None
    import pyngrok

    found = os.path.realpath(pyngrok.__file__ or "")
    if spec["side"] == "ours":
        wanted = os.path.realpath(os.path.join(spec["ours_dir"], "pyngrok.py"))
        if found != wanted:
            raise RuntimeError(f"imported {found}, not ours at {wanted}")
    elif os.path.basename(found) != "__init__.py" or "site-packages" not in found:
        raise RuntimeError(f"imported {found}, not upstream's installed package")
    return pyngrok


def _config(spec: Dict[str, Any], config_path: str) -> Any:
    from pyngrok import conf  # type: ignore[attr-defined]

    return conf.PyngrokConfig(
        ngrok_path=spec["ngrok_path"],
        config_path=config_path,
        ngrok_version=spec.get("ngrok_version", "3"),
        config_version=spec.get("config_version", "3"),
        startup_timeout=20,
    )


def _api_path(spec: Dict[str, Any]) -> str:
    return "/api/endpoints" if spec.get("config_version", "3") == "3" else "/api/tunnels"


def _raw_request(api_url: str, method: str, path: str, body: Optional[bytes] = None) -> Tuple[int, bytes]:
    import http.client

    host, port = api_url.split("://", 1)[1].rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _raw_round_trip(spec: Dict[str, Any], api_url: str, addr: str) -> None:
    """What connect()+disconnect() ask of the agent, as two bare http.client requests."""
    name = f"http-{addr}-{os.urandom(16).hex()}"
    if spec.get("config_version", "3") == "3":
        payload: Dict[str, Any] = {"name": name, "upstream": {"url": f"http://localhost:{addr}"}}
    else:
        payload = {"name": name, "addr": addr, "proto": "http"}
    status, body = _raw_request(api_url, "POST", _api_path(spec), json.dumps(payload).encode("utf-8"))
    if status >= 300:
        raise RuntimeError(f"raw POST answered {status}: {body[:200]!r}")
    uri = json.loads(body)["uri"]
    status, body = _raw_request(api_url, "DELETE", uri)
    if status >= 300:
        raise RuntimeError(f"raw DELETE answered {status}: {body[:200]!r}")


def _op_logparse(spec: Dict[str, Any], pyngrok: Any) -> Dict[str, Any]:
    from pyngrok.log import NgrokLog

    with open(spec["corpus"], encoding="utf-8") as corpus:
        lines = corpus.read().splitlines()
    for line in lines[:2000]:
        NgrokLog(line)
    samples, wall = [], []
    for _ in range(spec["repeats"]):
        start, cpu_start = time.perf_counter(), time.process_time()
        for line in lines:
            NgrokLog(line)
        samples.append(time.process_time() - cpu_start)
        wall.append(time.perf_counter() - start)
    if spec.get("dump"):
        with open(spec["dump"], "w", encoding="utf-8") as dump:
            for line in lines:
                log = NgrokLog(line)
                fields = [getattr(log, key, None) for key in ("lvl", "t", "msg", "err", "obj", "addr")]
                dump.write(json.dumps(fields) + "\n")
    return {"seconds": samples, "wall_seconds": wall, "lines": len(lines)}


def _op_coldstart(spec: Dict[str, Any], pyngrok: Any) -> Dict[str, Any]:
    from pyngrok import ngrok  # type: ignore[attr-defined]  # a facade module of ours

    samples = []
    for config_path in spec["configs"]:
        config = _config(spec, config_path)
        start = time.perf_counter()
        try:
            ngrok.get_ngrok_process(config)
            samples.append(time.perf_counter() - start)
        finally:
            ngrok.kill(config)
    return {"seconds": samples}


def _op_rawstart(spec: Dict[str, Any], _: Any) -> Dict[str, Any]:
    """The limit of a cold start: spawn the agent, read its log to a live session, probe its API once."""
    import http.client  # noqa: F401  (imported before the clock starts: the limit pays for no imports)
    import re
    import subprocess

    samples = []
    for config_path in spec["configs"]:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [spec["ngrok_path"], "start", "--none", "--log", "stdout", "--config", config_path],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )
        try:
            assert proc.stdout is not None
            addr, seen = None, set()
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace")
                match = re.search(r'msg="starting web service".*\baddr=(\S+)', line)
                if match:
                    addr = match.group(1)
                for needle in ("tunnel session started", "client session established"):
                    if needle in line:
                        seen.add(needle)
                if addr and len(seen) == 2:
                    break
            if not addr or len(seen) != 2:
                raise RuntimeError("the agent exited before its session was up")
            deadline = time.monotonic() + 20
            while True:
                try:
                    status, _ = _raw_request(f"http://{addr}", "GET", _api_path(spec))
                    if status < 500:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the agent's API never answered")
                time.sleep(0.001)
            samples.append(time.perf_counter() - start)
        finally:
            proc.terminate()
            proc.wait(10)
    return {"seconds": samples}


def _op_connect(spec: Dict[str, Any], pyngrok: Any) -> Dict[str, Any]:
    from pyngrok import ngrok  # type: ignore[attr-defined]  # a facade module of ours

    config = _config(spec, spec["configs"][0])
    addr = spec.get("addr", "8080")
    library: List[float] = []
    raw: List[float] = []
    try:
        api_url = ngrok.get_ngrok_process(config).api_url

        def library_round_trip() -> None:
            tunnel = ngrok.connect(addr, pyngrok_config=config)
            ngrok.disconnect(tunnel.public_url, pyngrok_config=config)

        for index in range(spec["warmup"] + spec["iterations"]):
            pair: List[Tuple[List[float], Callable[[], None]]] = [
                (library, library_round_trip),
                (raw, lambda: _raw_round_trip(spec, api_url, addr)),
            ]
            for samples, round_trip in pair if index % 2 == 0 else reversed(pair):
                time.sleep(0.003)  # let the library's reader threads take the agent's log lines first
                start = time.perf_counter()
                round_trip()
                if index >= spec["warmup"]:
                    samples.append(time.perf_counter() - start)
    finally:
        ngrok.kill(config)
    return {"seconds": library, "raw_seconds": raw}


def _op_many(spec: Dict[str, Any], pyngrok: Any) -> Dict[str, Any]:
    from pyngrok import ngrok  # type: ignore[attr-defined]  # a facade module of ours

    config = _config(spec, spec["configs"][0])
    try:
        ngrok.get_ngrok_process(config)
        warm = ngrok.connect("8080", pyngrok_config=config)
        ngrok.disconnect(warm.public_url, pyngrok_config=config)
        start = time.perf_counter()
        tunnels = [ngrok.connect(str(8000 + index % 1000), pyngrok_config=config) for index in range(spec["count"])]
        opened = time.perf_counter()
        for tunnel in tunnels:
            ngrok.disconnect(tunnel.public_url, pyngrok_config=config)
        closed = time.perf_counter()
        left = len(ngrok.get_tunnels(config))
    finally:
        ngrok.kill(config)
    if len({tunnel.public_url for tunnel in tunnels}) != spec["count"]:
        raise RuntimeError("the agent gave two tunnels one public URL")
    return {"seconds": [closed - start], "open": opened - start, "close": closed - opened, "left": left}


def _op_idle(spec: Dict[str, Any], pyngrok: Any) -> Dict[str, Any]:
    import threading

    from pyngrok import ngrok  # type: ignore[attr-defined]  # a facade module of ours

    config = _config(spec, spec["configs"][0])
    try:
        ngrok.get_ngrok_process(config)
        time.sleep(0.5)  # let startup work settle
        threads = threading.active_count()
        cpu_start, wall_start = time.process_time(), time.monotonic()
        time.sleep(spec["duration"])
        cpu, wall = time.process_time() - cpu_start, time.monotonic() - wall_start
    finally:
        ngrok.kill(config)
    return {"cpu": cpu, "wall": wall, "threads": threads}


def _timed_calls(function: Callable[[int], Any], budget: float, samples: int) -> Tuple[List[float], List[float]]:
    """CPU and wall seconds per call: calibrate a loop count to ``budget`` seconds, then take ``samples``."""
    loops = 1
    while True:
        start = time.perf_counter()
        for index in range(loops):
            function(index)
        elapsed = time.perf_counter() - start
        if elapsed >= budget / 4 or loops >= 1 << 20:
            break
        loops *= 2
    loops = max(1, int(loops * budget / max(elapsed, 1e-9)))
    cpu, wall = [], []
    for _ in range(samples):
        start, cpu_start = time.perf_counter(), time.process_time()
        for index in range(loops):
            function(index)
        cpu.append((time.process_time() - cpu_start) / loops)
        wall.append((time.perf_counter() - start) / loops)
    return cpu, wall


def _op_yaml(spec: Dict[str, Any], pyngrok: Any) -> Dict[str, Any]:
    texts = spec["texts"]
    count = len(texts)
    result: Dict[str, Any] = {}
    if spec["side"] == "ours":
        load = pyngrok._yaml_load
        result["parsed"] = json.loads(json.dumps(load(texts[0], "bench.yml"), default=str))
        result["seconds"], result["wall_seconds"] = _timed_calls(
            lambda i: load(texts[i % count], "bench.yml"), spec["budget"], spec["samples"]
        )
    else:
        import yaml

        result["parsed"] = json.loads(json.dumps(yaml.load(texts[0], Loader=yaml.SafeLoader), default=str))
        result["seconds"], result["wall_seconds"] = _timed_calls(
            lambda i: yaml.load(texts[i % count], Loader=yaml.SafeLoader), spec["budget"], spec["samples"]
        )
        c_loader = getattr(yaml, "CSafeLoader", None)
        if c_loader is not None:
            result["c_seconds"], result["c_wall_seconds"] = _timed_calls(
                lambda i: yaml.load(texts[i % count], Loader=c_loader), spec["budget"], spec["samples"]
            )
        result["pyyaml"] = f"{yaml.__version__} (libyaml {'yes' if c_loader else 'no'})"
    return result


def _op_install(spec: Dict[str, Any], pyngrok: Any) -> Dict[str, Any]:
    import shutil
    import subprocess

    install = pyngrok._install_ngrok_binary
    archive, digest, work = spec["archive"], spec["sha256"], spec["work"]
    ours: List[float] = []
    limit: List[float] = []
    for index in range(spec["warmup"] + spec["repeats"]):
        target = os.path.join(work, f"ours-{index}")
        extract = os.path.join(work, f"limit-{index}")
        os.makedirs(extract)

        def ours_install(target: str = target) -> None:
            install(os.path.join(target, "ngrok"), "3", archive=archive, sha256=digest, quiet=True)

        def tar_and_sha256sum(extract: str = extract) -> None:
            subprocess.run(
                ["sh", "-c", 'sha256sum "$0" >/dev/null && tar xzf "$0" -C "$1"', archive, extract], check=True
            )

        pair = [(ours, ours_install), (limit, tar_and_sha256sum)]
        for samples, step in pair if index % 2 == 0 else reversed(pair):
            start = time.perf_counter()
            step()
            if index >= spec["warmup"]:
                samples.append(time.perf_counter() - start)
        if index == 0 and _file_sha256(os.path.join(target, "ngrok")) != spec["binary_sha256"]:
            raise RuntimeError("the installed binary is not the one in the archive")
        shutil.rmtree(target, ignore_errors=True)
        shutil.rmtree(extract, ignore_errors=True)
    return {"seconds": ours, "limit_seconds": limit}


_OPS: Dict[str, Callable[[Dict[str, Any], Any], Dict[str, Any]]] = {
    "logparse": _op_logparse,
    "coldstart": _op_coldstart,
    "rawstart": _op_rawstart,
    "connect": _op_connect,
    "many": _op_many,
    "idle": _op_idle,
    "yaml": _op_yaml,
    "install": _op_install,
}


def _file_sha256(path: str) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _classify(error: BaseException) -> Dict[str, Any]:
    import traceback

    frames = traceback.extract_tb(error.__traceback__)
    where = frames[-1].name if frames else "?"
    detail = "".join(traceback.format_exception(type(error), error, error.__traceback__)[-4:]).strip()
    if isinstance(error, NotImplementedError):
        return {"status": "unavailable", "reason": f"not available yet: {where}() raises NotImplementedError",
                "detail": detail}
    if isinstance(error, (NameError, AttributeError)) and "pyngrok" in detail:
        return {"status": "unavailable", "reason": f"not available yet: {error}", "detail": detail}
    return {"status": "error", "reason": f"{type(error).__name__}: {error} (in {where})", "detail": detail}


def worker_main(spec_path: str) -> int:
    with open(spec_path, encoding="utf-8") as source:
        spec = json.load(source)
    try:
        pyngrok = _import_library(spec)
        result = _OPS[spec["op"]](spec, pyngrok)
        result["status"] = "ok"
    except BaseException as error:  # reported to the driver, which decides
        result = _classify(error)
    sys.stdout.flush()
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
