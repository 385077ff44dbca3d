"""Seeded fuzzing of the parsers that read what we do not control.

Targets: the agent's log lines (``NgrokLog``), the YAML reader (``_yaml_load``, with a dump/load round trip
of what it reads), the config validator (``validate_config`` and ``_validate_config_file``), and the
handling of the agent's API answers (``api_request``, ``get_tunnels`` and the other API calls, ``NgrokTunnel``,
``NgrokApiResponse.from_body``), both in-process and through a real loopback HTTP server that answers
mutated raw responses.

The contract checked for every case: the call ends in a value or a ``PyngrokError``, never another
exception, a hang or a crash. Every case is generated from ``(FUZZ_SEED, target, index)`` alone, so a
failing case can be regenerated; the cases that found bugs are kept in ``tests/fuzz_regressions/`` and
replayed by ``test_regression_case``. New failures are written to ``.cache/fuzz_found/``.

Counts: 100,000 cases per target where a case costs microseconds. The targets that cost more per case run
a smaller deterministic count by default and 100,000 with ``FUZZ_FULL=1``; each target's counts and timing go
with its test's result, and ``make reports`` makes ``.cache/fuzz_counts.md`` of them.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import glob
import hashlib
import importlib
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import pytest

import pyngrok
from helpers import LoopbackListener, read_text, same_value
from pyngrok.conf import PyngrokConfig
from pyngrok.exception import PyngrokError

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(HERE)
REGRESSION_DIR = os.path.join(HERE, "fuzz_regressions")
CACHE_DIR = os.path.join(REPO_ROOT, ".cache")
sys.path.insert(0, os.path.join(HERE, "oracle"))
yamlgen = importlib.import_module("yamlgen")  # the one generator of YAML text, shared with the oracle tier

FULL = os.environ.get("FUZZ_FULL") == "1"
SEED = int(os.environ.get("FUZZ_SEED") or "7")
# A single case slower than this counts as a hang.
SLOW_CASE_SECONDS = 2.0
# At most this many failures are kept per target for the report.
KEPT_FAILURES = 20


def cases(default: int, full: int = 100_000) -> int:
    return full if FULL else default


def case_seed(target: str, index: int) -> int:
    """The seed of case ``index`` of a target: a case is regenerated from (FUZZ_SEED, target, index) alone."""
    return (SEED << 64) + (zlib.crc32(target.encode("utf-8")) << 32) + index


# --- bookkeeping: outcomes, failures, the counts table ----------------------------------------------------


class Tally:
    """What the cases of one target ended in."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.outcomes: Dict[str, int] = {}
        self.failures: List[Dict[str, Any]] = []
        self.known: Dict[str, int] = {}
        self.kinds: Dict[str, int] = {}
        self.cases = 0
        self.seconds = 0.0
        self.slowest = 0.0

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def fail(self, index: int, case: Any, problem: str) -> None:
        self.add("FAILURE")
        kind = re.sub(
            r"[0-9]+",
            "N",
            problem.split(":", 1)[0] + ":" + problem.split(":", 2)[1][:60] if ":" in problem else problem,
        )
        self.kinds[kind] = self.kinds.get(kind, 0) + 1
        if len(self.failures) < KEPT_FAILURES or self.kinds[kind] == 1:
            self.failures.append(
                {"target": self.target, "seed": SEED, "index": index, "problem": problem, "input": case}
            )

    def row(self) -> Dict[str, Any]:
        """What the report table shows of this tally."""
        return {
            "target": self.target,
            "cases": self.cases,
            "seconds": round(self.seconds, 3),
            "outcomes": dict(self.outcomes),
            "known": dict(self.known),
            "mode": f"FUZZ_SEED={SEED}, {'FUZZ_FULL' if FULL else 'default'} mode",
        }

    def summary(self) -> str:
        shown = ", ".join(f"{name} {count}" for name, count in sorted(self.outcomes.items()))
        known = "".join(f"; known bug {name}: {count}" for name, count in sorted(self.known.items()))
        kinds = "".join(f"\n    {count} x {kind}" for kind, count in sorted(self.kinds.items()))
        return f"{self.target}: {self.cases} cases in {self.seconds:.1f}s ({shown}{known}){kinds}"


REPORT_TABLE = "fuzz"
REPORT_ROWS: List[Dict[str, Any]] = []  # each target's tally: see conftest.py


def save_found(tally: Tally) -> List[str]:
    """Write the failing cases of a target to .cache/fuzz_found/, to be curated into fuzz_regressions/."""
    directory = os.path.join(CACHE_DIR, "fuzz_found")
    os.makedirs(directory, exist_ok=True)
    paths = []
    for failure in tally.failures:
        text = json.dumps(failure, indent=1, default=repr)
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", tally.target).strip("-")
        name = f"{slug}-{hashlib.sha256(text.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}.json"
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        paths.append(path)
    return paths


class CaseHang(BaseException):
    """Raised in the main thread by SIGALRM when one case runs past its limit (a BaseException, so that no
    ``except Exception`` in the code under test swallows it)."""


def _on_alarm(signum: int, frame: Any) -> None:
    raise CaseHang()


@contextlib.contextmanager
def hang_guard(seconds: float) -> Iterator[None]:
    """Interrupt a case that loops for ever (main thread, POSIX only; elsewhere only the time is checked)."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGALRM, _on_alarm) if usable else None
    try:
        yield
    finally:
        if usable:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def run_target(
    target: str,
    count: int,
    make_case: Callable[[random.Random], Any],
    check: Callable[[Any], str],
    known_bugs: Optional[Dict[str, Callable[[Any, BaseException], bool]]] = None,
    hang_seconds: float = SLOW_CASE_SECONDS,
) -> Tally:
    """Run ``count`` cases: each is made from its own seed, checked, and its outcome tallied.

    ``check`` returns an outcome name or raises; a ``PyngrokError`` is an outcome, anything else (or a case
    running past ``hang_seconds``) is a failure unless it matches a known bug that still reproduces (see
    ``open_bugs``).
    """
    tally = Tally(target)
    rng = random.Random()
    base = case_seed(target, 0)
    alarm = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    started = time.perf_counter()
    with hang_guard(hang_seconds):
        for index in range(count):
            rng.seed(base + index)
            case = make_case(rng)
            case_started = time.perf_counter()
            try:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, hang_seconds)
                outcome = check(case)
            except PyngrokError as error:
                outcome = type(error).__name__
            except AssertionError as error:
                tally.fail(index, case, f"AssertionError: {error}")
                continue
            except (Exception, CaseHang) as error:
                name = next((bug for bug, matches in (known_bugs or {}).items() if matches(case, error)), None)
                if name is not None:
                    tally.known[name] = tally.known.get(name, 0) + 1
                    tally.add(f"known:{name}")
                    continue
                problem = (
                    f"hang: still running after {hang_seconds}s"
                    if isinstance(error, CaseHang)
                    else (f"{type(error).__name__}: {error}"[:500])
                )
                tally.fail(index, case, problem)
                continue
            finally:
                if alarm:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                elapsed = time.perf_counter() - case_started
                tally.slowest = max(tally.slowest, elapsed)
            if elapsed > SLOW_CASE_SECONDS:
                tally.fail(index, case, f"took {elapsed:.1f}s")
                continue
            tally.add(outcome)
    tally.cases = count
    tally.seconds = time.perf_counter() - started
    REPORT_ROWS.append(tally.row())
    print(tally.summary())
    return tally


def assert_clean(tally: Tally) -> None:
    if tally.failures:
        paths = save_found(tally)
        first = tally.failures[0]
        pytest.fail(
            f"{tally.summary()}\n{tally.outcomes.get('FAILURE', 0)} of {tally.cases} cases failed; first (index "
            f"{first['index']}): {first['problem']}; input {first['input']!r:.300}; saved to {paths[0]}"
        )


@pytest.fixture(autouse=True)
def _quiet_pyngrok_logs() -> Iterator[None]:
    """Unknown-key warnings would pile up in pytest's log capture over 100k cases."""
    pyngrok_logger = logging.getLogger("pyngrok")
    previous = pyngrok_logger.disabled
    pyngrok_logger.disabled = True
    try:
        yield
    finally:
        pyngrok_logger.disabled = previous


# --- known open bugs: tolerated in the big loops only while their regression case still fails ------------


def _regression_cases() -> List[Tuple[str, Dict[str, Any]]]:
    found = []
    for path in sorted(glob.glob(os.path.join(REGRESSION_DIR, "*.json"))):
        with open(path, encoding="utf-8") as handle:
            found.append((os.path.basename(path), json.load(handle)))
    return found


def _replay(case: Dict[str, Any]) -> Optional[BaseException]:
    """Run a regression case; return the exception that breaks the contract, or None when it holds."""
    try:
        REPLAYERS[case["target"]](case["input"])
    except PyngrokError:
        return None
    except Exception as error:
        return error
    return None


_OPEN_BUGS: Optional[Dict[str, str]] = None


def open_bugs() -> Dict[str, str]:
    """The ``bug`` ids of regression cases that still reproduce: {bug id: target}."""
    global _OPEN_BUGS
    if _OPEN_BUGS is None:
        _OPEN_BUGS = {}
        for _, case in _regression_cases():
            if _replay(case) is not None:
                _OPEN_BUGS[case["bug"]] = case["target"]
    return _OPEN_BUGS


def known(*names: str) -> Dict[str, Callable[[Any, BaseException], bool]]:
    """The matchers of the named bugs that are still open."""
    still_open = open_bugs()
    return {name: BUG_MATCHERS[name] for name in names if name in still_open}


def _api_text(case: Any) -> str:
    """The body text the library read: for a raw HTTP case, the body as its Content-Length cut it."""
    if not isinstance(case, dict):
        return ""
    raw = case.get("raw")
    if isinstance(raw, bytes):
        head, _, body = raw.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*([0-9]+)\s*$", head)
        if b"chunked" in head.lower():
            chunks, rest = [], body
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                match = re.match(rb"\s*([0-9a-fA-F]+)", size_line)
                if not match or int(match.group(1), 16) == 0:
                    break
                size = int(match.group(1), 16)
                chunks.append(rest[:size])
                rest = rest[size + 2 :]
            body = b"".join(chunks)
        elif length:
            body = body[: int(length.group(1))]
        return body.decode("utf-8", "replace")
    return str(case.get("text", ""))


def _has_bad_tunnel_field(case: Any) -> bool:
    """An API answer with a tunnel whose fields have types the agent never sends."""
    try:
        answer = json.loads(_api_text(case)) if isinstance(case, dict) and ("text" in case or "raw" in case) else case
    except (ValueError, RecursionError):
        return False
    items: List[Any] = []
    if isinstance(answer, dict):
        items.append(answer)
        for key in ("endpoints", "tunnels"):
            if isinstance(answer.get(key), list):
                items.extend(answer[key])
    for item in items:
        if not isinstance(item, dict):
            continue
        for key in ("ID", "id", "name", "proto", "uri", "public_url", "url"):
            if key in item and item[key] is not None and not isinstance(item[key], str):
                return True
        for key in ("config", "upstream", "metrics"):
            if item.get(key) and not isinstance(item[key], dict):
                return True
    return False


def _answer_not_an_object(case: Any) -> bool:
    try:
        answer = json.loads(_api_text(case))
    except (ValueError, RecursionError):
        return False
    if not isinstance(answer, dict):
        return True
    return any(key in answer and not isinstance(answer[key], (list, type(None), str, dict)) for key in ("requests",))


BUG_MATCHERS: Dict[str, Callable[[Any, BaseException], bool]] = {
    "deep-json-recursion": lambda case, error: isinstance(error, RecursionError),
    "tunnel-field-types": lambda case, error: (
        isinstance(error, (TypeError, AttributeError)) and _has_bad_tunnel_field(case)
    ),
    "api-answer-not-object": lambda case, error: (
        isinstance(error, (TypeError, AttributeError)) and _answer_not_an_object(case)
    ),
    "yaml-dump-huge-int": lambda case, error: isinstance(error, ValueError) and "integer string" in str(error),
    "http-answer-parse-error": lambda case, error: (
        isinstance(error, (OverflowError, ValueError)) and not isinstance(error, UnicodeError)
    ),
    "http-chunk-hang": lambda case, error: isinstance(error, CaseHang) and b"chunked" in case.get("raw", b""),
    "api-url-bad-port": lambda case, error: (
        isinstance(error, ValueError) and ("Port" in str(error) or "IPv6" in str(error))
    ),
    "config-version-huge-int": lambda case, error: isinstance(error, ValueError) and "integer string" in str(error),
    "api-requests-not-list": lambda case, error: (
        isinstance(error, TypeError) and isinstance(case, dict) and case.get("call") == "get_requests"
    ),
}


# --- generators ------------------------------------------------------------------------------------------

UNICODE_BITS = [
    "é",
    "ü",
    "☃",
    "😀",
    "\u200b",
    "\ufeff",
    "\u2028",
    "\x85",
    "\x00",
    "\x1b",
    "\x7f",
    "\ufffd",
    "\r",
    "\t",
    "\\",
    '"',
    "'",
    "\ud800",
    "\U0010ffff",
]


def random_text(rng: random.Random, alphabet: str, low: int = 0, high: int = 20) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def mutate_text(rng: random.Random, text: str, alphabet: str, edits: int = 3) -> str:
    """Character-level mutations: insert, delete, replace, duplicate a slice, truncate."""
    chars = list(text)
    for _ in range(rng.randint(1, edits)):
        roll = rng.random()
        position = rng.randint(0, len(chars))
        if roll < 0.3:
            chars[position:position] = list(rng.choice(alphabet) if rng.random() < 0.8 else rng.choice(UNICODE_BITS))
        elif roll < 0.5 and chars:
            del chars[min(position, len(chars) - 1)]
        elif roll < 0.7 and chars:
            chars[min(position, len(chars) - 1)] = rng.choice(alphabet)
        elif roll < 0.85 and chars:
            end = min(len(chars), position + rng.randint(1, 12))
            chars[position:position] = chars[position:end]
        elif chars:
            chars = chars[: rng.randint(0, len(chars))]
    return "".join(chars)


def random_json_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 3 or roll < 0.45:
        return rng.choice(
            [
                None,
                True,
                False,
                0,
                -1,
                2**70,
                1.5,
                -0.0,
                float("inf"),
                "",
                "x",
                "tcp://1.tcp.ngrok.io:1",
                "https://a.ngrok.app",
                "é\u0000",
                random_text(rng, 'abc:/%\\"{}[] ', 0, 12),
                "ERR_NGROK_105",
            ]
        )
    if roll < 0.7:
        return [random_json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [
        "name",
        "public_url",
        "url",
        "proto",
        "uri",
        "config",
        "upstream",
        "metrics",
        "id",
        "ID",
        "addr",
        "endpoints",
        "tunnels",
        "requests",
        "status",
        "msg",
        "error_code",
        "details",
        "x",
    ]
    return {rng.choice(keys): random_json_value(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def deep_json(rng: random.Random) -> str:
    depth = rng.choice([50, 999, 1500, 3000, 10000])
    opener = rng.choice(["[", '{"a":', '[{"a":'])
    closer = {"[": "]", '{"a":': "}", '[{"a":': "}]"}[opener]
    inner = opener * depth + "1" + closer * depth
    return inner if rng.random() < 0.7 else inner[: rng.randint(1, len(inner))]


# Log lines as the agents write them (the fake agent, ngrok 3, ngrok 2.3.41).
LOG_CORPUS = [
    't=2026-11-28T15:31:31+0000 lvl=info msg="starting web service" obj=web addr=127.0.0.1:4040 allow_hosts=[]',
    't=2026-11-28T15:31:31+0000 lvl=info msg="tunnel session started" obj=tunnels.session',
    't=2026-11-28T15:31:31+0000 lvl=info msg="client session established" obj=csess id=8f0b0ad34d06',
    't=2026-11-28T15:31:31+0000 lvl=info msg="started tunnel" obj=tunnels name=web addr=http://localhost:80 '
    "url=https://ab12.ngrok.io",
    't=2026-11-28T15:31:31+0000 lvl=eror msg="session closing" obj=tunnels.session err="authentication failed: '
    'The authtoken you specified does not look like a proper ngrok tunnel authtoken.\\r\\n\\r\\nERR_NGROK_105\\r\\n"',
    't=2026-11-28T15:31:31+0000 lvl=warn msg="can\'t bind default web address, trying alternatives" obj=web '
    "addr=127.0.0.1:4040",
    't=2026-11-28T15:31:31+0000 lvl=info msg="received stop request" obj=app stopReq="{err:<nil> restart:false}"',
    "t=2026-11-28T15:31:31+0000 lvl=dbug msg=flood obj=fake n=99999",
    't=2026-11-28T15:31:31+0000 lvl=dbug msg="invalid utf-8" data=\ufffd\ufffd\ufffd(\ufffd',
    "t=2026-11-28T15:31:31+0000 lvl=info msg=end pg=/api/tunnels id=5bc2 status=201 dur=3.485605ms",
    't=2026-11-28T15:31:31+0000 lvl=crit msg="command failed" err="listen tcp 127.0.0.1:4040: bind: address '
    'already in use"',
    '{"lvl":"info","msg":"started tunnel","obj":"tunnels","name":"web","addr":"http://localhost:80"}',
    '{"t":"2026-11-28T15:31:31Z","lvl":"eror","msg":"session closing","err":"x","obj":{"a":[1,2]}}',
    "ERROR:  authentication failed: Usage of ngrok requires a verified account and authtoken.",
    'lvl=info msg="caf\\u00e9 \\x41 \\101 \\U0001F600 \\ud800 \\q" line=hijack __class__=x _read_json=y',
]
LOG_ALPHABET = 'abclvmsgtr= "\\[]{}:,.-_0123456789\tx\nuU'


def gen_log_line(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return mutate_text(rng, rng.choice(LOG_CORPUS), LOG_ALPHABET, 6)
    if roll < 0.75:
        keys = [
            "t",
            "lvl",
            "msg",
            "obj",
            "err",
            "addr",
            "line",
            "id",
            "pg",
            "stopReq",
            "url",
            "name",
            "1x",
            "a-b",
            "é",
            "__dict__",
            "__class__",
            "_read_json",
            "lvl",
            "",
        ]
        values = [
            "info",
            "eror",
            "CRIT",
            "warn",
            "",
            '"',
            '""',
            '"a\\"b"',
            '"\\u00e9\\x41\\101\\U0010ffff"',
            '"\\ud800\\U00110000\\x"',
            '"unterminated',
            "[a b]",
            "[",
            "]",
            "=",
            "==",
            '"\\',
            "x=y",
            random_text(rng, LOG_ALPHABET, 0, 10),
        ]
        parts = []
        for _ in range(rng.randint(0, 8)):
            key = rng.choice(keys)
            parts.append(key if rng.random() < 0.1 else f"{key}={rng.choice(values)}")
        separator = rng.choice([" ", " ", "  ", "\t", ""])
        return separator.join(parts)
    if roll < 0.94:
        value = random_json_value(rng)
        text = json.dumps(value if rng.random() < 0.2 else {"lvl": rng.choice(["info", "eror", 3]), "x": value})
        if rng.random() < 0.3:
            text = mutate_text(rng, text, '{}[]":,0123456789abc\\', 3)
        return text
    if roll < 0.95:  # rare: a deep document costs a thousand times a plain line
        return rng.choice(['{"lvl":"eror","msg":', "lvl=info msg="]) + deep_json(rng)
    return random_text(rng, LOG_ALPHABET + "".join(UNICODE_BITS), 0, 80)


LEVELS = set(pyngrok._NGROK_LEVELS.values()) | {"NOTSET"}


def check_log_line(line: str) -> str:
    parsed = pyngrok.NgrokLog(line)
    assert parsed.line == line.strip(), "line is not the raw line"
    assert parsed.lvl in LEVELS, f"lvl {parsed.lvl!r}"
    for key, value in vars(parsed).items():
        assert value is None or isinstance(value, str), f"attribute {key} is {type(value).__name__}"
    str(parsed)
    repr(parsed)
    return "parsed"


def test_fuzz_log_lines() -> None:
    tally = run_target("logfmt: NgrokLog", cases(100_000), gen_log_line, check_log_line, known("deep-json-recursion"))
    assert_clean(tally)


# --- YAML reader ------------------------------------------------------------------------------------------


def check_yaml(text: str) -> str:
    value = pyngrok._yaml_load(text, "fuzz.yml")
    if not isinstance(value, dict):
        return "value"
    # What the config writer makes of what the reader read must read back the same: install_default_config
    # rewrites a user's file this way.
    dumped = pyngrok._yaml_dump(value)
    again = pyngrok._yaml_load(dumped, "dumped.yml")
    assert same_value(value, again), f"round trip changed the value: {dumped!r}"
    return "mapping, round trip ok"


def test_fuzz_yaml_reader() -> None:
    tally = run_target(
        "yaml: _yaml_load + dump round trip",
        cases(30_000),
        yamlgen.garbled,
        check_yaml,
        known("yaml-dump-huge-int", "config-version-huge-int"),
    )
    assert_clean(tally)


# --- config validator -------------------------------------------------------------------------------------


def _schema_keys() -> List[str]:
    keys = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "properties" and isinstance(value, dict):
                    keys.update(value)
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(pyngrok._CONFIG_SCHEMA)
    return sorted(keys)


SCHEMA_KEYS = _schema_keys()
_DEFS = pyngrok._CONFIG_SCHEMA["$defs"]
# The keys each level of a config knows, so that most generated keys are known where they stand (an unknown
# key costs a difflib "did you mean" search, and reaches less of the validator).
LEVEL_KEYS: Dict[str, List[str]] = {
    "top": sorted(set(_DEFS["config_v2"]["properties"]) | set(_DEFS["config_v3"]["properties"])),
    "agent": sorted(set(_DEFS["config_v2"]["properties"]) - {"tunnels", "version"}),
    "tunnel": sorted(_DEFS["tunnel"]["properties"]),
    "endpoint": sorted(_DEFS["endpoint"]["properties"]),
    "any": SCHEMA_KEYS,
}
CONFIG_VALUES: List[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    3,
    2.0,
    2.5,
    float("nan"),
    float("inf"),
    10**30,
    "",
    "3",
    "2",
    "info",
    "debug",
    "json",
    "logfmt",
    "term",
    "us",
    "http",
    "tcp",
    "tls",
    "https",
    "127.0.0.1:4040",
    "10s",
    "false",
    "iftty",
    "é\u0000",
    [],
    {},
    ["a"],
    [1, None],
    {"url": 80},
    {"a": {"b": {"c": []}}},
    datetime.date(2001, 2, 3),
    datetime.datetime(2001, 2, 3, 4, 5, 6),
    b"bytes",
    ("tuple",),
    {1: 2, None: 3, 2.5: "x", False: "f"},
]


def gen_config_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth >= 4 or roll < 0.55:
        return copy.deepcopy(rng.choice(CONFIG_VALUES))
    if roll < 0.75:
        return [gen_config_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return gen_config_mapping(rng, depth + 1)


def gen_config_mapping(rng: random.Random, depth: int = 0, level: str = "any") -> Dict[Any, Any]:
    mapping: Dict[Any, Any] = {}
    pool = LEVEL_KEYS[level]
    for _ in range(rng.randint(0, 6)):
        roll = rng.random()
        if roll < 0.88:
            key: Any = rng.choice(pool)
        elif roll < 0.95:
            key = mutate_text(rng, rng.choice(pool), "abcdefghijklmnopqrstuvwxyz_", 2)
        else:
            key = rng.choice([1, None, True, 2.5, "", "é", "a.b", "x" * 2000, datetime.date(2000, 1, 1)])
        mapping[key] = gen_config_value(rng, depth)
    return mapping


def gen_config(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.03:
        return copy.deepcopy(rng.choice(CONFIG_VALUES))
    config = gen_config_mapping(rng, 0, "top")
    if rng.random() < 0.8:
        config["version"] = rng.choice(["3", "2", 3, 2, "1", None, 3.0, "v3", [3]])
    if rng.random() < 0.6:
        config["agent"] = gen_config_mapping(rng, 1, "agent") if rng.random() < 0.9 else gen_config_value(rng, 1)
    if rng.random() < 0.4:
        config["endpoints"] = [gen_config_mapping(rng, 2, "endpoint") for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.4:
        config["tunnels"] = {f"t{n}": gen_config_mapping(rng, 2, "tunnel") for n in range(rng.randint(0, 3))}
    return config


def check_config(data: Any) -> str:
    before = copy.deepcopy(data)
    try:
        pyngrok.validate_config(data)
        outcome = "valid"
    except pyngrok.PyngrokConfigError as error:
        assert str(error), "an empty error message"
        outcome = "PyngrokConfigError"
    assert same_value(before, data), "validate_config changed its input"
    return outcome


def test_fuzz_config_validator() -> None:
    tally = run_target(
        "config: validate_config", cases(6_000), gen_config, check_config, known("config-version-huge-int")
    )
    assert_clean(tally)


def test_fuzz_config_file_validator(tmp_path: Any) -> None:
    """``_validate_config_file`` on mutated config files: warnings or a PyngrokConfigError that names the file."""
    path = str(tmp_path / "ngrok.yml")

    def make(rng: random.Random) -> str:
        if rng.random() < 0.3:
            try:
                return pyngrok._yaml_dump(gen_config(rng))
            except PyngrokError:
                pass
        return yamlgen.garbled(rng)

    def check(text: str) -> str:
        with open(path, "w", encoding="utf-8", errors="surrogatepass") as handle:
            handle.write(text)
        try:
            warnings = pyngrok._validate_config_file(path)
        except pyngrok.PyngrokConfigError as error:
            assert path in str(error) or error.path == path, f"the error does not name the file: {error}"
            return "PyngrokConfigError"
        assert isinstance(warnings, list) and all(isinstance(w, str) for w in warnings)
        return "warnings" if warnings else "clean"

    tally = run_target(
        "config: _validate_config_file",
        cases(1_000),
        make,
        check,
        known("yaml-dump-huge-int", "config-version-huge-int"),
    )
    pyngrok._config_cache.pop(path, None)
    assert_clean(tally)


# --- the agent's API answers, in process ------------------------------------------------------------------

API_CORPUS = [
    {
        "endpoints": [
            {
                "id": "ep_1",
                "name": "web",
                "url": "https://a.ngrok.app",
                "public_url": "https://a.ngrok.app",
                "proto": "https",
                "upstream": {"url": "http://localhost:80", "protocol": "http1"},
                "uri": "/api/endpoints/web",
                "metrics": {"conns": {"count": 0}},
            }
        ],
        "uri": "/api/endpoints",
    },
    {
        "tunnels": [
            {
                "ID": "1",
                "name": "web",
                "uri": "/api/tunnels/web",
                "public_url": "http://127.0.0.1:5",
                "proto": "http",
                "config": {"addr": "http://localhost:80", "inspect": True},
                "metrics": {"http": {"count": 0}},
            }
        ],
        "uri": "/api/tunnels",
    },
    {
        "name": "web",
        "uri": "/api/endpoints/web",
        "public_url": "tcp://1.tcp.ngrok.io:1",
        "proto": "tcp",
        "upstream": {"url": "localhost:22"},
    },
    {"status": "online", "agent_version": "3.30.0", "session": {"leg": 0}, "uri": "/api/status"},
    {
        "requests": [
            {
                "id": "r1",
                "uri": "/api/requests/http/r1",
                "tunnel_name": "web",
                "duration": 5,
                "request": {"method": "GET"},
                "response": {"status_code": 200},
            }
        ],
        "uri": "/api/requests/http",
    },
    {"error_code": 102, "status_code": 400, "msg": "invalid tunnel configuration", "details": {"err": "x"}},
]


def mutate_json(rng: random.Random, value: Any, depth: int = 0) -> Any:
    """Structural mutations: replace a value by one of another type, drop or add keys, wrap, unwrap."""
    roll = rng.random()
    if roll < 0.15 or depth > 5:
        return random_json_value(rng)
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if rng.random() < 0.1:
                continue
            result[key] = mutate_json(rng, item, depth + 1) if rng.random() < 0.5 else item
        if rng.random() < 0.1:
            result[rng.choice(["public_url", "name", "uri", "config", "x"])] = random_json_value(rng)
        return [result] if roll > 0.97 else result
    if isinstance(value, list):
        return [mutate_json(rng, item, depth + 1) for item in value if rng.random() > 0.1]
    return value


def gen_api_answer(rng: random.Random) -> Dict[str, Any]:
    """A fake answer of the agent's API: status, reason, body text; or a failure to answer."""
    roll = rng.random()
    if roll < 0.02:
        return {"fail": True}
    status = rng.choice([200, 200, 200, 200, 201, 204, 301, 400, 404, 405, 500, 502, 503, 0, 99, 299, 600])
    body_roll = rng.random()
    if body_roll < 0.55:
        text = json.dumps(mutate_json(rng, rng.choice(API_CORPUS)))
    elif body_roll < 0.75:
        text = mutate_text(rng, json.dumps(rng.choice(API_CORPUS)), '{}[]":,0123456789abc\\ ', 4)
    elif body_roll < 0.85:
        text = json.dumps(random_json_value(rng))
    elif body_roll < 0.9:
        text = deep_json(rng)
    else:
        text = rng.choice(
            [
                "",
                " ",
                "\n",
                "null",
                "NaN",
                "Infinity",
                "<html>502 Bad Gateway</html>",
                "\ufffd\ufffd",
                '{"a": "\\ud800"}',
                "1e999999",
                "-" * 10,
                "[]",
                '"just a string"',
            ]
        )
    return {
        "status": status,
        "reason": rng.choice(["OK", "", "Bad Gateway", "é"]),
        "text": text,
        "call": rng.choice(
            [
                "api_request",
                "get_tunnels",
                "get_tunnels",
                "get_agent_status",
                "get_requests",
                "get_request",
                "disconnect",
                "connect",
                "refresh_metrics",
            ]
        ),
    }


class ScriptedExchange:
    """Stands in for ``pyngrok._http_exchange``: answers every request with the current case."""

    def __init__(self) -> None:
        self.answer: Dict[str, Any] = {}

    def __call__(self, method: str, url: str, body: Any, headers: Any, timeout: float) -> Tuple[int, str, str]:
        if self.answer.get("fail"):
            raise pyngrok.PyngrokNgrokURLError("ngrok client exception, URLError: [Errno 111] refused", "refused")
        return self.answer["status"], self.answer["reason"], self.answer["text"]


def api_call(config: PyngrokConfig, call: str) -> Any:
    """One call of the library that reads the agent's API; what it returns is used as a caller would."""
    api_url = pyngrok.get_ngrok_process(config).api_url
    if call == "api_request":
        return pyngrok.api_request(f"{api_url}/api/tunnels", timeout=config.request_timeout)
    if call == "get_tunnels":
        tunnels = pyngrok.get_tunnels(config)
        return [(repr(t), str(t), t.public_url) for t in tunnels]
    if call == "get_agent_status":
        status = pyngrok.get_agent_status(config)
        return repr(status), str(status)
    if call == "get_requests":
        return [repr(request) for request in pyngrok.get_requests(pyngrok_config=config)]
    if call == "get_request":
        return repr(pyngrok.get_request("r1", config))
    if call == "disconnect":
        return pyngrok.disconnect("https://a.ngrok.app", config)
    if call == "connect":
        tunnel = pyngrok.connect("80", pyngrok_config=config)
        return repr(tunnel), str(tunnel)
    if call == "refresh_metrics":
        tunnel = pyngrok.NgrokTunnel({"name": "web", "public_url": "http://x"}, config, api_url)
        tunnel.refresh_metrics()
        return tunnel.metrics
    raise AssertionError(call)


def test_fuzz_api_answers_in_process(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    """The library's API calls against mutated answers, with the exchange itself replaced (no sockets)."""
    pyngrok.get_ngrok_process(pyngrok_config)  # a real agent: its registration is what the calls look up
    exchange = ScriptedExchange()
    monkeypatch.setattr(pyngrok, "_http_exchange", exchange)
    monkeypatch.setattr(pyngrok, "_CREATE_RETRY_FIRST_DELAY", 0.001)
    pyngrok_config.startup_timeout = 0.05  # the budget for retrying a "not ready yet" answer

    def check(case: Dict[str, Any]) -> str:
        exchange.answer = case
        api_call(pyngrok_config, case.get("call", "api_request"))
        return "value"

    try:
        tally = run_target(
            "api: answers in process",
            cases(30_000),
            gen_api_answer,
            check,
            known("deep-json-recursion", "tunnel-field-types", "api-answer-not-object", "api-requests-not-list"),
        )
    finally:
        monkeypatch.undo()
        with pyngrok._tunnels_lock:
            pyngrok._current_tunnels.clear()
    assert_clean(tally)


def gen_tunnel_data(rng: random.Random) -> Any:
    base = rng.choice(API_CORPUS)
    items = base.get("endpoints") or base.get("tunnels") or [base]
    return mutate_json(rng, items[0])


def check_tunnel_data(data: Any) -> str:
    if not isinstance(data, dict):
        return "not a dict (skipped: the library passes dicts only)"
    tunnel = pyngrok.NgrokTunnel(data, PyngrokConfig(ngrok_path="/nonexistent/ngrok"), "http://127.0.0.1:1")
    repr(tunnel)
    str(tunnel)
    return "tunnel"


def test_fuzz_tunnel_data() -> None:
    tally = run_target(
        "api: NgrokTunnel(data)", cases(50_000), gen_tunnel_data, check_tunnel_data, known("tunnel-field-types")
    )
    assert_clean(tally)


def gen_api_command_output(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.5:
        return "HTTP/2 200 OK\n" + json.dumps(mutate_json(rng, rng.choice(API_CORPUS)))
    if roll < 0.8:
        return mutate_text(rng, "HTTP/2 200 OK\n" + json.dumps(rng.choice(API_CORPUS)), '{}[]":,0123456789\\ ', 4)
    if roll < 0.9:
        return "HTTP/2 200 OK\n" + deep_json(rng)
    return random_text(rng, '{}[]":,abc \n' + "".join(UNICODE_BITS), 0, 40)


def check_api_command_output(body: str) -> str:
    response = pyngrok.NgrokApiResponse.from_body(body)
    assert isinstance(response.status, str)
    return "response"


def test_fuzz_api_command_output() -> None:
    tally = run_target(
        "api: NgrokApiResponse.from_body",
        cases(50_000),
        gen_api_command_output,
        check_api_command_output,
        known("deep-json-recursion"),
    )
    assert_clean(tally)


# --- the agent's API answers, over a real loopback socket --------------------------------------------------


class RawHttpServer(LoopbackListener):
    """A loopback server that answers each request with the raw bytes of the current case, then closes.

    Nothing here parses like an HTTP server would: the answers are mutated status lines, headers, chunked
    framing, truncated bodies, silence, resets.
    """

    def __init__(self) -> None:
        self.answer: Dict[str, Any] = {"raw": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"}
        self.held: List[socket.socket] = []
        super().__init__(self._serve, name="fuzz-raw-http")

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                self._answer(connection)
            except OSError:
                pass

    def _answer(self, connection: socket.socket) -> None:
        connection.settimeout(2)
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = connection.recv(65536)
            if not chunk:
                return
            request += chunk
        answer = self.answer
        if answer.get("silent"):
            # Keep the connection open without answering (the client must time out), without holding up
            # the next case: the socket is closed when the next connection comes.
            self.held.append(connection.dup())
            return
        for held in self.held:
            held.close()
        self.held.clear()
        if answer.get("reset"):
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return
        connection.sendall(answer["raw"])

    def close(self) -> None:
        super().close()
        for held in self.held:
            held.close()


def gen_raw_answer(rng: random.Random) -> Dict[str, Any]:
    roll = rng.random()
    if roll < 0.001:
        return {"silent": True, "call": "api_request"}
    if roll < 0.008:
        return {"reset": True, "call": "api_request"}
    case = gen_api_answer(rng)
    if case.get("fail"):
        case = {"status": 200, "reason": "OK", "text": "{}", "call": "api_request"}
    body = case["text"].encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 40)))
    version = "HTTP/1.1" if rng.random() < 0.85 else rng.choice(["HTTP/1.0", "HTTP/2", "HTTP/1.1x", "ICY", ""])
    status_text = (
        str(case["status"])
        if rng.random() < 0.85
        else rng.choice(["abc", "-1", "1000", "", "200 200", "2\xb200", "\xb9\xb2\xb3", "+200", " 200", "2_00", "0x1F"])
    )
    headers = [f"Content-Length: {len(body)}"]
    framing = rng.random()
    if framing < 0.1:
        lengths: List[Any] = [0, len(body) + 10, -5, "abc", "1, 2", 2**70, "\xb9", "+2"]
        headers = ["Content-Length: " + str(rng.choice(lengths))]
    elif framing < 0.2:
        headers = ["Transfer-Encoding: chunked"]
        body = (
            (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
            if rng.random() < 0.6
            else (
                rng.choice(
                    [
                        b"zz\r\n",
                        b"ffffff\r\nab",
                        b"2\r\nabc\r\n0\r\n\r\n",
                        b"\r\n",
                        b"0x2\r\nab\r\n0\r\n\r\n",
                        b"2;ext=1\r\nab\r\n0\r\n\r\n",
                        b"+2\r\nab\r\n0\r\n\r\n",
                        b"\xb2\r\nab\r\n0\r\n\r\n",
                    ]
                    + ([b"-10\r\n", b"2\r\nab\r\n-4\r\n"] if rng.random() < 0.03 else [])
                )
            )
        )
    elif framing < 0.25:
        headers = []  # read to the end of the connection
    extra = rng.choice(
        [
            [],
            [],
            [],
            [],
            ["Content-Type: application/json"],
            ["X-" + "a" * 70000 + ": 1"],
            [f"X-{n}: y" for n in range(120)],
            ["Bad Header Line"],
            ["Content-Type: text/html; é"],
            ["Connection: close"],
        ]
    )
    head = f"{version} {status_text} {case['reason']}\r\n" + "".join(f"{h}\r\n" for h in headers + extra) + "\r\n"
    try:  # a server's bytes as they are: latin-1 where the text allows it
        raw = head.encode("latin-1") + body
    except UnicodeEncodeError:
        raw = head.encode("utf-8", "surrogatepass") + body
    if rng.random() < 0.03:
        raw = raw[: rng.randint(0, len(raw))]
    return {"raw": raw, "call": case["call"], "text": case["text"]}


def test_fuzz_api_answers_over_loopback(pyngrok_config: PyngrokConfig, monkeypatch: Any) -> None:
    """api_request and the calls built on it against a real socket answering mutated raw HTTP."""
    server = RawHttpServer()
    ngrok_process = pyngrok.get_ngrok_process(pyngrok_config)
    real_api_url = ngrok_process.api_url
    pyngrok_config.request_timeout = 0.3
    monkeypatch.setattr(pyngrok, "_CREATE_RETRY_FIRST_DELAY", 0.001)
    pyngrok_config.startup_timeout = 0.05  # the budget for retrying a "not ready yet" answer

    def check(case: Dict[str, Any]) -> str:
        server.answer = case
        api_call(pyngrok_config, case["call"])
        return "value"

    try:
        ngrok_process.api_url = f"http://127.0.0.1:{server.port}"
        tally = run_target(
            "api: raw HTTP over loopback",
            cases(3_000),
            gen_raw_answer,
            check,
            known(
                "deep-json-recursion",
                "tunnel-field-types",
                "api-answer-not-object",
                "http-answer-parse-error",
                "http-chunk-hang",
                "api-requests-not-list",
                "api-url-bad-port",
            ),
            hang_seconds=0.5,
        )
    finally:
        ngrok_process.api_url = real_api_url
        server.close()
        with pyngrok._tunnels_lock:
            pyngrok._current_tunnels.clear()
    assert_clean(tally)


# --- regression cases -------------------------------------------------------------------------------------


def _replay_log(line: str) -> None:
    check_log_line(line)


def _replay_yaml(text: str) -> None:
    check_yaml(text)


def _replay_api(case: Dict[str, Any]) -> None:
    config = PyngrokConfig(ngrok_path="/nonexistent/ngrok")
    status, text = case.get("status", 200), case["text"]
    if case["call"] == "api_request":
        original = pyngrok._http_exchange
        try:
            pyngrok._http_exchange = lambda *args: (status, "OK", text)  # type: ignore[assignment]
            pyngrok.api_request("http://127.0.0.1:1/api/tunnels", timeout=1)
        finally:
            pyngrok._http_exchange = original  # type: ignore[assignment]
    elif case["call"] == "get_tunnels":
        _get_tunnels_from(text, config)
    elif case["call"] == "get_requests":
        _get_tunnels_from(text, config, pyngrok.get_requests)
    else:
        raise AssertionError(case["call"])


def _get_tunnels_from(text: str, config: PyngrokConfig, call: Any = None) -> None:
    """What get_tunnels (or another call) does with an answer, without an agent: api_request, then the rest."""

    class _Process:
        api_url = "http://127.0.0.1:1"

    original_exchange, original_get = pyngrok._http_exchange, pyngrok.get_ngrok_process
    try:
        pyngrok._http_exchange = lambda *args: (200, "OK", text)  # type: ignore[assignment]
        pyngrok.get_ngrok_process = lambda config=None: _Process()  # type: ignore[assignment]
        if call is not None:
            [repr(item) for item in call(pyngrok_config=config)]
            return
        tunnels = pyngrok.get_tunnels(config)
        [(repr(t), str(t)) for t in tunnels]
    finally:
        pyngrok._http_exchange = original_exchange  # type: ignore[assignment]
        pyngrok.get_ngrok_process = original_get  # type: ignore[assignment]
        with pyngrok._tunnels_lock:
            for url in [url for url, t in pyngrok._current_tunnels.items() if t.api_url == "http://127.0.0.1:1"]:
                del pyngrok._current_tunnels[url]


def _replay_tunnel(data: Dict[str, Any]) -> None:
    check_tunnel_data(data)


def _replay_api_command(body: str) -> None:
    check_api_command_output(body)


def _replay_config_write(text: str) -> None:
    """A user's config read, then rewritten as set_auth_token does it."""
    import tempfile

    directory = tempfile.mkdtemp(prefix="fuzz-config-")
    path = os.path.join(directory, "ngrok.yml")
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        pyngrok.install_default_config(path, {"agent": {"authtoken": "regression-token"}})
        pyngrok._yaml_load(read_text(path), path)
    finally:
        pyngrok._config_cache.pop(path, None)
        for name in os.listdir(directory):
            os.unlink(os.path.join(directory, name))
        os.rmdir(directory)


REPLAY_CLIENT = """
import os, signal, sys, pyngrok

def hang(*args):
    print("hang: api_request still running 2 s after it started (timeout=1)", flush=True)
    os._exit(5)

signal.signal(signal.SIGALRM, hang)
signal.alarm(2)
try:
    pyngrok.api_request(sys.argv[1], timeout=1)
except pyngrok.PyngrokError:
    sys.exit(3)
except Exception as error:
    print(type(error).__name__ + ": " + str(error)[:200])
    sys.exit(4)
"""


class ReplayHang(Exception):
    pass


def _replay_raw_http(case: Dict[str, Any]) -> None:
    """A raw HTTP answer (stored as latin-1 text) from a loopback server, read by api_request in a child
    process, so that a client that loops for ever can be stopped."""
    server = RawHttpServer()
    try:
        server.answer = {"raw": case["raw"].encode("latin-1")}
        client = subprocess.Popen(
            [sys.executable, "-c", REPLAY_CLIENT, f"http://127.0.0.1:{server.port}/api/tunnels"],
            env=dict(os.environ, PYTHONPATH=REPO_ROOT),
            stdout=subprocess.PIPE,
        )
        try:  # the child stops itself 2 s into the request; this is only a backstop for a stuck start
            out, _ = client.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            client.kill()
            client.wait()
            raise ReplayHang("the replay did not finish in 30 s") from None
    finally:
        server.close()
    if client.returncode == 5:
        raise ReplayHang(out.decode("utf-8", "replace").strip())
    if client.returncode not in (0, 3):
        raise RuntimeError(out.decode("utf-8", "replace").strip() or f"exit code {client.returncode}")


def _replay_config_file(text: str) -> None:
    """A config file checked as the agent's start checks it (``_validate_config_file``)."""
    import tempfile

    directory = tempfile.mkdtemp(prefix="fuzz-config-")
    path = os.path.join(directory, "ngrok.yml")
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        pyngrok._validate_config_file(path)
    finally:
        pyngrok._config_cache.pop(path, None)
        os.unlink(path)
        os.rmdir(directory)


def _replay_api_url(url: str) -> None:
    """api_request on a URL built from what an agent answered (a tunnel's ``uri`` after the API URL)."""
    pyngrok.api_request(url, timeout=1)


REPLAYERS: Dict[str, Callable[[Any], None]] = {
    "api_url": _replay_api_url,
    "config_file": _replay_config_file,
    "raw_http": _replay_raw_http,
    "logfmt": _replay_log,
    "yaml": _replay_yaml,
    "api": _replay_api,
    "tunnel": _replay_tunnel,
    "api_command": _replay_api_command,
    "config_write": _replay_config_write,
}


def _regression_params() -> List[Any]:
    params = []
    for name, case in _regression_cases():
        marks = []
        if case.get("status") == "open":
            marks.append(pytest.mark.xfail(strict=True, reason=f"bug: {case['summary']}"))
        params.append(pytest.param(case, id=name[: -len(".json")], marks=marks))
    return params


@pytest.mark.parametrize("case", _regression_params())
def test_regression_case(case: Dict[str, Any]) -> None:
    """Each case a fuzzer found: it must end in a value or a PyngrokError (open bugs are xfail, strict)."""
    error = _replay(case)
    assert error is None, f"{type(error).__name__}: {error}"


def test_regression_cases_are_well_formed() -> None:
    cases_found = _regression_cases()
    assert cases_found, "tests/fuzz_regressions/ holds no cases"
    for name, case in cases_found:
        assert case["target"] in REPLAYERS, name
        assert case.get("status") in ("open", "fixed"), name
        assert case.get("bug") in BUG_MATCHERS or case.get("status") == "fixed", name


def test_yaml_deep_flow_nesting_is_refused_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(pyngrok.PyngrokConfigError, match="nests deeper"):
        pyngrok._yaml_load("[" * 10_000, "deep.yml")
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"{elapsed:.2f}s to refuse 10,000 nested '['"
