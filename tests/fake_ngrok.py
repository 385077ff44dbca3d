#!/usr/bin/env python3
"""A fake ngrok agent for tests: runs like the real ``ngrok`` binary, offline.

The library under test starts this script exactly as it starts the real agent
(``ngrok start --none --log stdout --config ...``).  The fake writes the same
log lines, serves the same local JSON API, and gives every tunnel a real
listener on 127.0.0.1 that forwards traffic to the tunnel's local address.
Nothing here talks to ngrok's cloud.

The fake is as strict as the real v3 agent by default: every strict behaviour
rests on a documented fact, listed with its source in ``tests/FAKE_AGENT_FACTS.md``
and marked ``# fact:`` where it is coded.  A test that needs the fake's old
leniency names it in ``FAKE_NGROK_LENIENT`` or ``--lenient=a,b`` (see ``LENIENT_BEHAVIOURS``);
``--strict`` (the default) turns every leniency off.

Which agent the fake plays: ``V3_AGENT_VERSION`` (a 3.x version, default
3.30.0; 3.20-3.29 have no /api/endpoints) or ``FAKE_NGROK_VERSION`` (any
version, e.g. 2.3.41 for a v2 agent, which was lenient about everything).
Faults that tests can switch on are read from ``FAKE_NGROK_*`` environment
variables when the agent starts; see ``FaultPlan`` below.

Stdlib only; runs on CPython 3.8 and later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import http.client
import json
import os
import random
import re
import signal
import socket
import socketserver
import ssl
import string
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Optional
from urllib.parse import parse_qs, quote, unquote, urlsplit

DEFAULT_VERSION = "3.30.0"
DEFAULT_WEB_ADDR = "127.0.0.1:4040"
WEB_PORT_ATTEMPTS = 20
MAX_CAPTURED_REQUESTS = 200
MAX_TIMINGS = 1000

AUTH_ERROR_105 = (
    "authentication failed: The authtoken you specified does not look like a proper "
    "ngrok tunnel authtoken.\r\n\r\nERR_NGROK_105\r\n"
)
AUTH_ERROR_4018 = (
    "authentication failed: Usage of ngrok requires a verified account and authtoken.\r\n\r\n"
    "Sign up for an account: https://dashboard.ngrok.com/signup\r\n"
    "Install your authtoken: https://dashboard.ngrok.com/get-started/your-authtoken\r\n\r\n"
    "ERR_NGROK_4018\r\n"
)
AUTH_ERROR_121 = (
    'authentication failed: Your ngrok-agent version "2.3.41" is too old. The minimum supported agent version '
    'for your account is "3.2.0". Please update to a newer version with `ngrok update`.\r\n\r\nERR_NGROK_121\r\n'
)
AUTH_ERROR_108 = (
    "authentication failed: Your account is limited to 1 simultaneous ngrok agent sessions.\r\n"
    "You can run multiple simultaneous tunnels from a single agent session by defining the tunnels in your "
    "agent configuration file and starting them with the command `ngrok start --all`.\r\n\r\nERR_NGROK_108\r\n"
)
RECONNECT_ERROR = "dial tcp: lookup connect.ngrok-agent.com: no such host"
SESSION_NOT_READY = "a successful ngrok tunnel session has not yet been established"

USAGE = """NAME:
  ngrok - tunnel local ports to public URLs and inspect traffic (fake agent for tests)

USAGE:
  ngrok [command] [flags]

COMMANDS:
  start       start tunnels by name from the configuration file (use --none for none)
  config      add-authtoken TOKEN | add-api-key KEY | check
  authtoken   save an authtoken to the configuration file (v2 style)
  api         call the ngrok API (prints the arguments it got)
  update      update ngrok to the latest version
  version     print the version string
  help        show this help
"""


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


class CommandError(Exception):
    """A failure the CLI reports as ``ERROR:  <text>`` on stderr with exit 1."""


def agent_version() -> str:
    return os.environ.get("FAKE_NGROK_VERSION") or os.environ.get("V3_AGENT_VERSION") or DEFAULT_VERSION


def version_at_least(*wanted: int) -> bool:
    parts = []
    for part in agent_version().split(".")[:3]:
        digits = re.match(r"\d*", part).group(0)
        parts.append(int(digits or 0))
    return tuple(parts) >= wanted


def agent_major() -> int:
    return 3 if version_at_least(3) else 2


# Leniencies a test may ask for by name (FAKE_NGROK_LENIENT=a,b); everything else is strict.
LENIENT_BEHAVIOURS = {
    "busy-web-addr": "an explicit busy web_addr moves to the next port, as only the default does",
    "config": "config files need no version and may hold unknown keys",
    "names": "config-defined names and names of failed POSTs are free to use",
}


def lenient(behaviour: str) -> bool:
    return behaviour in os.environ.get("FAKE_NGROK_LENIENT", "").replace(" ", "").split(",")


def take_strictness_flags(argv: list) -> list:
    """``--strict`` (the default) and ``--lenient=a,b`` (the same as FAKE_NGROK_LENIENT), removed from argv."""
    rest = []
    for arg in argv:
        if arg == "--strict":
            os.environ["FAKE_NGROK_LENIENT"] = ""
        elif arg.startswith("--lenient="):
            os.environ["FAKE_NGROK_LENIENT"] = arg.split("=", 1)[1]
        else:
            rest.append(arg)
    return rest


def strict_agent() -> bool:
    """The v3 agent refuses what it does not know; v2 ignored unknown parameters silently."""
    # fact: ngrok docs guides/upgrade-v2-v3 ("Unrecognized configuration parameters")
    return agent_major() >= 3


def random_hex(nbytes: int) -> str:
    return binascii.hexlify(os.urandom(nbytes)).decode("ascii")


def random_token(length: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(random.SystemRandom().choice(alphabet) for _ in range(length))


def local_timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime())


def utc_rfc3339(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def go_duration(seconds: float) -> str:
    """Format like Go's time.Duration: 850.2µs, 3.485605ms, 1.2s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("\u00b5s", 1e-6)):
        if seconds >= scale or unit == "\u00b5s":
            return ("%.6f" % (seconds / scale)).rstrip("0").rstrip(".") + unit
    return "0s"


def print_error(text: str) -> None:
    """Write ``ERROR:  text`` (one prefix per line) to stderr, like the agent."""
    lines = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    try:
        for line in lines:
            sys.stderr.write("ERROR:  " + line + "\n")
        sys.stderr.flush()
    except OSError:
        os._exit(1)


def print_out(text: str) -> None:
    try:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except OSError:
        os._exit(1)


def env_float(name: str, default: float = 0.0) -> float:
    try:
        return float(os.environ.get(name, "") or default)
    except ValueError:
        return default


def env_int(name: str, default: int = 0) -> int:
    try:
        return int(os.environ.get(name, "") or default)
    except ValueError:
        return default


def as_bool(value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


# ---------------------------------------------------------------------------
# A tiny YAML-subset reader
# ---------------------------------------------------------------------------


class YamlError(Exception):
    def __init__(self, lineno: int, message: str):
        super().__init__(f"yaml: line {lineno}: {message}")
        self.lineno = lineno


class YamlLine:
    __slots__ = ("indent", "lineno", "text")

    def __init__(self, lineno: int, indent: int, text: str):
        self.lineno = lineno
        self.indent = indent
        self.text = text

    def is_sequence_item(self) -> bool:
        return self.text == "-" or self.text.startswith("- ")


KEY_PATTERN = re.compile(
    r"""^(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[\]{},:][^:]*?)\s*:(?:\s+(?P<rest>.*))?$"""
)
YAML_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    '"': '"',
    "\\": "\\",
    "/": "/",
    "0": "\0",
    "a": "\a",
    "b": "\b",
    "e": "\x1b",
    "f": "\f",
    "v": "\v",
    " ": " ",
}


def strip_comment(text: str) -> str:
    """Remove a trailing ``# comment`` that is outside quotes."""
    quote_char = None
    index = 0
    while index < len(text):
        char = text[index]
        if quote_char == '"' and char == "\\":
            index += 2
            continue
        if quote_char:
            if char == quote_char:
                quote_char = None
        elif char in "\"'" and (index == 0 or text[index - 1] in " \t:[{,-"):
            quote_char = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip()
        index += 1
    return text.rstrip()


def tokenize_yaml(source: str) -> list:
    lines = []
    for lineno, raw in enumerate(source.splitlines(), start=1):
        body = raw.lstrip(" ")
        if body.startswith("\t"):
            raise YamlError(lineno, "found character that cannot start any token")
        if not body.strip() or body.startswith("#") or body.rstrip() in ("---", "..."):
            lines.append(YamlLine(lineno, len(raw) - len(body), ""))  # kept for block scalars
            continue
        lines.append(YamlLine(lineno, len(raw) - len(body), strip_comment(body)))
    return lines


def decode_double_quoted(inner: str, lineno: int) -> str:
    out = []
    index = 0
    while index < len(inner):
        char = inner[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        code = inner[index + 1 : index + 2]
        if code in YAML_ESCAPES:
            out.append(YAML_ESCAPES[code])
            index += 2
            continue
        width = {"x": 2, "u": 4, "U": 8}.get(code)
        digits = inner[index + 2 : index + 2 + (width or 0)]
        if not width or len(digits) != width:
            raise YamlError(lineno, "found unknown escape character while parsing a quoted scalar")
        try:
            out.append(chr(int(digits, 16)))
        except ValueError:
            raise YamlError(lineno, "did not find expected hexdecimal number") from None
        index += 2 + width
    return "".join(out)


def split_flow(inner: str) -> list:
    """Split the inside of ``[a, "b", c]`` at top-level commas."""
    parts, depth, quote_char, current = [], 0, None, []
    for char in inner:
        if quote_char:
            if char == quote_char:
                quote_char = None
        elif char in "\"'":
            quote_char = char
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def parse_scalar(text: str, lineno: int):
    text = text.strip()
    if text.startswith('"'):
        match = re.match(r'^"((?:[^"\\]|\\.)*)"\s*$', text)
        if not match:
            raise YamlError(lineno, "found unexpected end of stream")
        return decode_double_quoted(match.group(1), lineno)
    if text.startswith("'"):
        match = re.match(r"^'((?:[^']|'')*)'\s*$", text)
        if not match:
            raise YamlError(lineno, "found unexpected end of stream")
        return match.group(1).replace("''", "'")
    if text.startswith("[") and text.endswith("]"):
        return [parse_scalar(part, lineno) for part in split_flow(text[1:-1])]
    if text.startswith("{") and text.endswith("}"):
        result = {}
        for part in split_flow(text[1:-1]):
            key, _, value = part.partition(":")
            result[str(parse_scalar(key, lineno))] = parse_scalar(value, lineno) if value.strip() else None
        return result
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in ("null", "~", ""):
        return None
    return text


class Mapping(dict):
    """A block mapping that remembers the line of each key (for the agent's "line N: field X" errors)."""

    def __init__(self):
        super().__init__()
        self.lines = {}


class YamlReader:
    """Recursive-descent reader for block mappings, block sequences and scalars."""

    def __init__(self, source: str):
        self.all_lines = tokenize_yaml(source)
        self.lines = [line for line in self.all_lines if line.text]
        self.pos = 0

    def read(self) -> dict:
        if not self.lines:
            return {}
        value = self.parse_block(self.lines[0].indent)
        if self.pos < len(self.lines):
            raise YamlError(self.lines[self.pos].lineno, "did not find expected <document start>")
        if not isinstance(value, dict):
            raise YamlError(self.lines[0].lineno, "cannot unmarshal into a configuration mapping")
        return value

    @property
    def current(self) -> YamlLine:
        return self.lines[self.pos]

    def at_end(self) -> bool:
        return self.pos >= len(self.lines)

    def parse_block(self, indent: int):
        if self.current.is_sequence_item():
            return self.parse_sequence(indent)
        return self.parse_mapping(indent)

    def parse_nested(self, parent_indent: int):
        if self.at_end():
            return None
        line = self.current
        if line.indent > parent_indent or (line.indent == parent_indent and line.is_sequence_item()):
            return self.parse_block(line.indent)
        return None

    def parse_mapping(self, indent: int) -> dict:
        result = Mapping()
        while not self.at_end():
            line = self.current
            if line.indent < indent:
                break
            if line.indent > indent:
                raise YamlError(line.lineno, "mapping values are not allowed in this context")
            if line.is_sequence_item():
                raise YamlError(line.lineno, "did not find expected key")
            match = KEY_PATTERN.match(line.text)
            if not match:
                raise YamlError(line.lineno, "could not find expected ':'")
            key = parse_scalar(match.group("key"), line.lineno)
            rest = (match.group("rest") or "").strip()
            self.pos += 1
            if not rest:
                value = self.parse_nested(indent)
            elif rest[0] in "|>":
                value = self.skip_block_scalar(line)
            else:
                value = parse_scalar(rest, line.lineno)
            result[str(key)] = value
            result.lines[str(key)] = line.lineno
        return result

    def parse_sequence(self, indent: int) -> list:
        items = []
        while not self.at_end():
            line = self.current
            if line.indent < indent or (line.indent == indent and not line.is_sequence_item()):
                break
            if line.indent > indent:
                raise YamlError(line.lineno, "did not find expected '-' indicator")
            after_dash = line.text[1:]
            content = after_dash.lstrip(" ")
            if not content:
                self.pos += 1
                items.append(self.parse_nested(indent))
                continue
            inner_indent = indent + 1 + len(after_dash) - len(content)
            if KEY_PATTERN.match(content) or content == "-" or content.startswith("- "):
                self.lines[self.pos] = YamlLine(line.lineno, inner_indent, content)
                items.append(self.parse_block(inner_indent))
            else:
                self.pos += 1
                items.append(parse_scalar(content, line.lineno))
        return items

    def skip_block_scalar(self, owner: YamlLine) -> str:
        """Collect the lines of a ``|`` / ``>`` block scalar (kept as plain text)."""
        collected = []
        for raw in self.all_lines:
            if raw.lineno > owner.lineno:
                if raw.text and raw.indent <= owner.indent:
                    break
                collected.append(raw.text)
        while not self.at_end() and self.current.indent > owner.indent:
            self.pos += 1
        return "\n".join(collected).strip("\n") + "\n"


def parse_yaml(source: str) -> dict:
    return YamlReader(source).read()


# ---------------------------------------------------------------------------
# Configuration files
# ---------------------------------------------------------------------------


def default_config_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "ngrok", "ngrok.yml")


def read_config_file(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            source = handle.read().decode("utf-8", "replace")
    except FileNotFoundError:
        raise CommandError(f"open {path}: no such file or directory") from None
    except OSError as exc:
        raise CommandError(f"open {path}: {exc.strerror or exc}") from exc
    try:
        config = parse_yaml(source)
    except YamlError as exc:
        raise CommandError(f"Error reading configuration file '{path}': {exc}") from exc
    if strict_agent() and not lenient("config"):
        problem = config_problem(config)
        if problem:
            raise CommandError(f"Error reading configuration file '{path}': {problem}")
    return config


# What the v3 agent accepts in a config file.  fact: docs agent/config/v2.mdx and v3.mdx (the keys),
# changelog (crl_url 3.39.7, local_storage 3.32.0); an unknown key is fatal: facts table "unknown config key".
AGENT_KEYS = {
    "api_key", "authtoken", "connect_interface", "connect_timeout", "console_ui", "console_ui_color",
    "crl_noverify", "dns_resolver_ips", "heartbeat_interval", "heartbeat_tolerance", "inspect_db_size",
    "log_level", "log_format", "log", "metadata", "proxy_url", "region", "remote_management",
    "update_channel", "update_check", "web_addr", "web_allow_hosts",
}  # fmt: skip
V3_AGENT_KEYS = AGENT_KEYS | {"connect_url", "connect_cas"}
NEWER_AGENT_KEYS = {"local_storage": (3, 32, 0), "crl_url": (3, 39, 7)}
V2_TOP_KEYS = AGENT_KEYS | {"version", "tunnels", "server_addr", "root_cas"}
V3_TOP_KEYS = {"version", "agent", "endpoints", "tunnels"}
ENDPOINT_KEYS = {
    "name", "url", "upstream", "bindings", "metadata", "description", "traffic_policy",
    "agent_tls_termination", "pooling_enabled",
}  # fmt: skip
UPSTREAM_KEYS = {"url", "protocol", "proxy_protocol"}
# fact: facts table "POST /api/endpoints fields"
ENDPOINT_POST_KEYS = {
    "name", "url", "upstream", "pooling_enabled", "inspect", "traffic_policy", "bindings", "metadata", "description",
}  # fmt: skip
# A tunnel definition (v2 file, v3 "tunnels:", POST /api/tunnels): no auth, bind_tls, hostname, labels, policy.
TUNNEL_KEYS = {
    "name", "addr", "proto", "metadata", "inspect", "basic_auth", "circuit_breaker", "compression",
    "host_header", "domain", "schemes", "subdomain", "oauth", "oidc", "ip_restriction", "request_header",
    "response_header", "mutual_tls_cas", "proxy_proto", "user_agent_filter", "verify_webhook",
    "websocket_tcp_converter", "traffic_policy", "remote_addr", "crt", "key",
}  # fmt: skip
# The Go types the agent names in its errors.  fact: config.v3yamlConfig (facts table), config.HTTPv2Tunnel
# (an agent 3.23.1 error in abhishekkrthakur/colabcode#120); the other names are the fake's own.
TUNNEL_TYPES = {"http": "config.HTTPv2Tunnel", "tcp": "config.TCPv2Tunnel", "tls": "config.TLSv2Tunnel"}


def unknown_field(mapping: dict, known: set, type_name: str):
    """The agent's strict-decoding error for the first key of ``mapping`` it does not know, or None."""
    for key in mapping:
        if key not in known:
            line = getattr(mapping, "lines", {}).get(key, 1)
            return f"yaml: unmarshal errors:\n  line {line}: field {key} not found in type {type_name}"
    return None


def config_problem(config: dict):
    """Why the v3 agent refuses this (single) config file, or None."""
    if config.get("version") is None:
        return "`version` property is required"  # fact: facts table "config without version"
    v3 = str(config.get("version")) == "3"
    checks = [(config, V3_TOP_KEYS if v3 else V2_TOP_KEYS, "config.v3yamlConfig" if v3 else "config.v2yamlConfig")]
    if v3 and isinstance(config.get("agent"), dict):
        newer = {key for key, since in NEWER_AGENT_KEYS.items() if version_at_least(*since)}
        checks.append((config["agent"], V3_AGENT_KEYS | newer, "config.v3yamlAgent"))
    endpoints = config.get("endpoints") if v3 else None
    for endpoint in endpoints if isinstance(endpoints, list) else []:
        if isinstance(endpoint, dict):
            checks.append((endpoint, ENDPOINT_KEYS, "config.v3yamlEndpoint"))
            if isinstance(endpoint.get("upstream"), dict):
                checks.append((endpoint["upstream"], UPSTREAM_KEYS, "config.v3yamlUpstream"))
    tunnels = config.get("tunnels")
    for tunnel in tunnels.values() if isinstance(tunnels, dict) else []:
        if isinstance(tunnel, dict):
            checks.append((tunnel, TUNNEL_KEYS, TUNNEL_TYPES.get(str(tunnel.get("proto") or "http"), "config.tunnel")))
    for mapping, known, type_name in checks:
        problem = unknown_field(mapping, known, type_name)
        if problem:
            return problem
    return None


def config_names(config: dict) -> set:
    """Names defined in the config file: ``tunnels:`` keys and ``endpoints:`` names."""
    tunnels = config.get("tunnels")
    names = set(tunnels) if isinstance(tunnels, dict) else set()
    endpoints = config.get("endpoints")
    for endpoint in endpoints if isinstance(endpoints, list) else []:
        if isinstance(endpoint, dict) and endpoint.get("name"):
            names.add(str(endpoint["name"]))
    return names


def merge_maps(base: dict, overlay: dict) -> dict:
    """Later wins; nested maps are merged by key; lists are replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_maps(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_configs(paths: list) -> dict:
    merged = {}
    for path in paths:
        merged = merge_maps(merged, read_config_file(path))
    return merged


def config_value(config: dict, key: str):
    """A key from the v3 ``agent:`` block, else from the v2 top level."""
    agent = config.get("agent")
    if isinstance(agent, dict) and agent.get(key) is not None:
        return agent[key]
    return config.get(key)


def yaml_scalar_text(value: str) -> str:
    if re.match(r"^[A-Za-z0-9_.\-/+]+$", value) and value.lower() not in ("true", "false", "null", "~"):
        return value
    return json.dumps(value)


def set_config_key(path: str, key: str, value: str) -> None:
    """Write ``key: value`` into a config file, keeping every other line."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except FileNotFoundError:
        lines = []
    entry = f"{key}: {yaml_scalar_text(value)}"
    if not any(line.strip() for line in lines):
        lines = ['version: "3"', "agent:", "    " + entry] if agent_major() >= 3 else ['version: "2"', entry]
    else:
        lines = upsert_config_line(lines, key, entry)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")


def upsert_config_line(lines: list, key: str, entry: str) -> list:
    key_line = re.compile(rf"^(\s*){re.escape(key)}\s*:")
    agent_index = next((i for i, line in enumerate(lines) if re.match(r"^agent\s*:\s*(#.*)?$", line)), None)
    if agent_index is None:
        for index, line in enumerate(lines):
            match = key_line.match(line)
            if match and not match.group(1):
                lines[index] = entry
                return lines
        return [*lines, entry]
    child_indent = None
    index = agent_index + 1
    while index < len(lines):
        line = lines[index]
        stripped = line.lstrip(" ")
        if not stripped.strip() or stripped.startswith("#"):
            index += 1
            continue
        indent = len(line) - len(stripped)
        if indent == 0:
            break
        if child_indent is None:
            child_indent = indent
        if indent == child_indent and key_line.match(line):
            lines[index] = " " * indent + entry
            return lines
        index += 1
    lines.insert(agent_index + 1, " " * (child_indent or 4) + entry)
    return lines


# ---------------------------------------------------------------------------
# Command-line parsing
# ---------------------------------------------------------------------------

VALUE_FLAGS = {
    "--config",
    "--log",
    "--log-format",
    "--log-level",
    "--region",
    "--authtoken",
    "--api-key",
    "--metadata",
    "--inspect-db-size",
}


def parse_flags(args: list):
    """Split argv into ({flag: [values]}, [positionals]); accepts ``--f v`` and ``--f=v``."""
    flags, positionals = {}, []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("--") and len(arg) > 2:
            name, has_value, value = arg.partition("=")
            if not has_value and name in VALUE_FLAGS and index + 1 < len(args):
                index += 1
                value = args[index]
            elif not has_value:
                value = "true"
            flags.setdefault(name, []).append(value)
        else:
            positionals.append(arg)
        index += 1
    return flags, positionals


def config_paths_from(flags: dict) -> list:
    paths = []
    for value in flags.get("--config", []):
        paths.extend(part for part in value.split(",") if part)
    return paths


def last_flag(flags: dict, name: str, default=None):
    values = flags.get(name)
    return values[-1] if values else default


# ---------------------------------------------------------------------------
# Logging (logfmt / json), flushed line by line
# ---------------------------------------------------------------------------

LEVEL_RANK = {"crit": 0, "eror": 1, "warn": 2, "info": 3, "dbug": 4}
LEVEL_ALIASES = {"error": "eror", "debug": "dbug", "warning": "warn", "critical": "crit"}


def logfmt_value(value) -> str:
    if value is None:
        return "<nil>" if agent_major() >= 3 else "nil"  # fact: facts table "startup line order" (err=<nil>)
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if text == "" or any(ch in text for ch in ' ="\\') or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        return json.dumps(text, ensure_ascii=False)
    return text


class Logger:
    """Writes agent log lines to stdout, stderr, a file, or nowhere."""

    def __init__(self, target: str, log_format: str, level: str):
        self.lock = threading.RLock()
        self.format = "json" if log_format == "json" else "logfmt"
        self.threshold = LEVEL_RANK.get(LEVEL_ALIASES.get(level, level), LEVEL_RANK["info"])
        self.stream = self.open_target(target)

    @staticmethod
    def open_target(target: str):
        if target in ("", "false", "none"):
            return None
        if target == "stdout":
            return sys.stdout.buffer
        if target == "stderr":
            return sys.stderr.buffer
        return open(target, "ab")

    def format_line(self, level: str, msg: str, fields: list) -> str:
        stamp = local_timestamp()
        if self.format == "json":
            record = {"t": stamp, "lvl": level, "msg": msg}
            for key, value in fields:
                record[key] = value
            return json.dumps(record, sort_keys=True, ensure_ascii=False)
        parts = ["t=" + stamp, "lvl=" + level, "msg=" + logfmt_value(msg)]
        parts.extend(f"{key}={logfmt_value(value)}" for key, value in fields)
        return " ".join(parts)

    def log(self, level: str, msg: str, *fields, force: bool = False) -> None:
        """``fields`` are (key, value) pairs, kept in order."""
        if not force and LEVEL_RANK[level] > self.threshold:
            return
        self.write_raw((self.format_line(level, msg, list(fields)) + "\n").encode("utf-8"))

    def write_raw(self, data: bytes) -> None:
        if self.stream is None:
            return
        with self.lock:
            try:
                self.stream.write(data)
                self.stream.flush()
            except (OSError, ValueError):
                os._exit(1)  # the reader went away (EPIPE): nothing left to do


# ---------------------------------------------------------------------------
# Local addresses and HTTP forwarding
# ---------------------------------------------------------------------------


class BadAddress(ValueError):
    pass


class Target:
    """Where a tunnel forwards to: scheme, host, port."""

    def __init__(self, scheme: str, host: str, port: int):
        self.scheme = scheme
        self.host = host
        self.port = port

    @property
    def hostport(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def connect_host(self) -> str:
        return "127.0.0.1" if self.host == "localhost" else self.host

    def as_http(self) -> str:
        return "{}://{}".format(self.scheme or "http", self.hostport)


def parse_target(addr) -> Target:
    """Accept "8000", "localhost:8000", "127.0.0.1:8000", "http://localhost:8000"."""
    if addr is None or str(addr).strip() == "":
        raise BadAddress("missing required field: addr")
    text = str(addr).strip()
    scheme = ""
    match = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://(.*)$", text)
    if match:
        scheme, text = match.group(1).lower(), match.group(2)
    text = text.rstrip("/")
    if re.match(r"^\d+$", text):
        host, port_text = "localhost", text
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        host = host.strip("[]") or "localhost"
    elif text and scheme:
        host, port_text = text, "443" if scheme == "https" else "80"
    else:
        raise BadAddress(f'invalid address "{addr}"')
    if not port_text.isdigit() or not 0 < int(port_text) < 65536 or not re.match(r"^[\w.\-:]+$", host):
        raise BadAddress(f'invalid address "{addr}"')
    return Target(scheme, host, int(port_text))


HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
}


class UpstreamResponse:
    def __init__(self, status: int, reason: str, proto: str, headers: list, body: bytes):
        self.status = status
        self.reason = reason
        self.proto = proto
        self.headers = headers
        self.body = body


def forward_http(target: Target, method: str, path: str, headers: list, body: bytes) -> UpstreamResponse:
    """Send one request to the local service; raises OSError if it is down."""
    if target.scheme == "https":
        context = ssl._create_unverified_context()
        conn = http.client.HTTPSConnection(target.connect_host, target.port, timeout=30, context=context)
    else:
        conn = http.client.HTTPConnection(target.connect_host, target.port, timeout=30)
    try:
        conn.putrequest(method, path or "/", skip_host=True, skip_accept_encoding=True)
        names = set()
        for name, value in headers:
            if name.lower() in HOP_BY_HOP or name.lower() == "content-length":
                continue
            names.add(name.lower())
            conn.putheader(name, value)
        if "host" not in names:
            conn.putheader("Host", target.hostport)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.putheader("Connection", "close")
        conn.endheaders(body or None)
        response = conn.getresponse()
        data = b"" if method == "HEAD" else response.read()
        proto = "HTTP/1.0" if response.version == 10 else "HTTP/1.1"
        return UpstreamResponse(response.status, response.reason, proto, response.getheaders(), data)
    except http.client.HTTPException as exc:
        raise OSError(str(exc)) from exc
    finally:
        conn.close()


def bad_gateway(target: Target) -> UpstreamResponse:
    body = (
        "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>\n"
        "<h1>502 Bad Gateway</h1>\n<p>The connection to the tunnel was successfully established, "
        f"but the agent failed to establish a connection to the upstream web service at {target.hostport}.</p>\n"
        "<p>ERR_NGROK_8012</p>\n</body></html>\n"
    ).encode()
    headers = [("Content-Type", "text/html"), ("Content-Length", str(len(body)))]
    return UpstreamResponse(502, "Bad Gateway", "HTTP/1.1", headers, body)


def headers_to_json(items: list) -> dict:
    result = {}
    for name, value in items:
        result.setdefault(name, []).append(value)
    return result


def raw_http_message(first_line: str, headers: list, body: bytes) -> bytes:
    head = first_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1", "replace") + (body or b"")


# ---------------------------------------------------------------------------
# Captured requests (the inspector)
# ---------------------------------------------------------------------------


class CapturedRequest:
    def __init__(self, tunnel_name: str, target: Target, remote_addr: str, started: float):
        self.id = "airt_" + random_token(27)
        self.tunnel_name = tunnel_name
        self.target = target
        self.remote_addr = remote_addr
        self.started = started
        self.duration_ns = 0
        self.method = "GET"
        self.path = "/"
        self.proto = "HTTP/1.1"
        self.request_headers = []
        self.request_body = b""
        self.response = None

    def to_json(self) -> dict:
        request_line = f"{self.method} {self.path} {self.proto}"
        result = {
            "uri": "/api/requests/http/" + self.id,
            "id": self.id,
            "tunnel_name": self.tunnel_name,
            "remote_addr": self.remote_addr,
            "start": utc_rfc3339(self.started),
            "duration": self.duration_ns,
            "request": {
                "method": self.method,
                "proto": self.proto,
                "headers": headers_to_json(self.request_headers),
                "uri": self.path,
                "raw": base64.b64encode(raw_http_message(request_line, self.request_headers, self.request_body)).decode(
                    "ascii"
                ),
            },
            "response": None,
        }
        if self.response is not None:
            resp = self.response
            status_line = f"{resp.proto} {resp.status} {resp.reason}"
            result["response"] = {
                "status": f"{resp.status} {resp.reason}",
                "status_code": resp.status,
                "proto": resp.proto,
                "headers": headers_to_json(resp.headers),
                "raw": base64.b64encode(raw_http_message(status_line, resp.headers, resp.body)).decode("ascii"),
            }
        return result


class RequestStore:
    def __init__(self, limit: int = MAX_CAPTURED_REQUESTS):
        self.lock = threading.Lock()
        self.items = []  # oldest first
        self.limit = limit

    def add(self, captured: CapturedRequest) -> None:
        with self.lock:
            self.items.append(captured)
            del self.items[: -self.limit]

    def newest_first(self, tunnel_name=None, limit=None) -> list:
        with self.lock:
            items = [c for c in reversed(self.items) if tunnel_name in (None, c.tunnel_name)]
        return items[:limit] if limit is not None else items

    def get(self, request_id: str):
        with self.lock:
            return next((c for c in self.items if c.id == request_id), None)

    def clear(self) -> None:
        with self.lock:
            self.items = []


# ---------------------------------------------------------------------------
# Tunnels: metrics and real listeners
# ---------------------------------------------------------------------------


def percentiles(samples: list) -> dict:
    ordered = sorted(samples)
    result = {}
    for label, fraction in (("p50", 0.50), ("p90", 0.90), ("p95", 0.95), ("p99", 0.99)):
        result[label] = ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else 0
    return result


class Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.conn_count = 0
        self.conn_gauge = 0
        self.conn_times = []
        self.http_count = 0
        self.http_times = []

    def connection_opened(self) -> None:
        with self.lock:
            self.conn_count += 1
            self.conn_gauge += 1

    def connection_closed(self, duration_ns: int) -> None:
        with self.lock:
            self.conn_gauge -= 1
            self.conn_times = [*self.conn_times, duration_ns][-MAX_TIMINGS:]

    def http_request(self, duration_ns: int) -> None:
        with self.lock:
            self.http_count += 1
            self.http_times = [*self.http_times, duration_ns][-MAX_TIMINGS:]

    def to_json(self) -> dict:
        with self.lock:
            conns = {"count": self.conn_count, "gauge": self.conn_gauge, "rate1": 0, "rate5": 0, "rate15": 0}
            conns.update(percentiles(self.conn_times))
            http_part = {"count": self.http_count, "rate1": 0, "rate5": 0, "rate15": 0}
            http_part.update(percentiles(self.http_times))
        return {"conns": conns, "http": http_part}


class QuietServerMixin:
    """Skip the reverse-DNS lookup HTTPServer does on bind; don't print errors."""

    daemon_threads = True
    allow_reuse_address = True
    # Go's listeners have a deep accept backlog; socketserver's default of 5 resets bursts of clients.
    request_queue_size = 128

    def server_bind(self):
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        pass


class ThreadedHttpServer(QuietServerMixin, socketserver.ThreadingMixIn, HTTPServer):
    pass


class ThreadedTcpServer(QuietServerMixin, socketserver.ThreadingTCPServer):
    pass


class HttpProxyHandler(BaseHTTPRequestHandler):
    """Public side of an http tunnel: forwards each request to the local service."""

    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.opened_at = time.perf_counter()
        self.server.tunnel.metrics.connection_opened()

    def finish(self):
        try:
            super().finish()
        finally:
            elapsed = int((time.perf_counter() - self.opened_at) * 1e9)
            self.server.tunnel.metrics.connection_closed(elapsed)

    def log_message(self, *args):
        pass

    def __getattr__(self, name):
        if name.startswith("do_"):
            return self.proxy_request
        raise AttributeError(name)

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def proxy_request(self):
        tunnel = self.server.tunnel
        started = time.time()
        clock = time.perf_counter()
        body = self.read_body()
        header_items = list(self.headers.items())
        if not tunnel.authorized(self.headers.get("Authorization")):
            response = unauthorized_response()
        else:
            tunnel.agent.log_join(tunnel.target, self.client_address)
            host = policy_host_header(tunnel.options)
            if host is not None:
                header_items = [(k, v) for k, v in header_items if k.lower() != "host"] + [("Host", host)]
            try:
                response = forward_http(tunnel.target, self.command, self.path, header_items, body)
            except OSError:
                response = bad_gateway(tunnel.target)
        # Record before answering, so a client that asks the API right after
        # its response already sees the capture and the metrics.
        duration_ns = int((time.perf_counter() - clock) * 1e9)
        tunnel.metrics.http_request(duration_ns)
        captured = CapturedRequest(tunnel.name, tunnel.target, self.client_address[0], started)
        captured.method, captured.path, captured.proto = self.command, self.path, self.request_version
        captured.request_headers, captured.request_body = header_items, body
        captured.response, captured.duration_ns = response, duration_ns
        tunnel.record(captured)
        self.send_upstream_response(response)

    def send_upstream_response(self, response: UpstreamResponse) -> None:
        self.send_response_only(response.status, response.reason)
        for name, value in response.headers:
            lowered = name.lower()
            if lowered in HOP_BY_HOP or (lowered == "content-length" and self.command != "HEAD"):
                continue
            self.send_header(name, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        self.close_connection = True


def unauthorized_response() -> UpstreamResponse:
    body = b"Authorization Failed\n"
    headers = [
        ("Www-Authenticate", 'Basic realm="ngrok"'),
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
    ]
    return UpstreamResponse(401, "Unauthorized", "HTTP/1.1", headers, body)


def pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes until EOF, then half-close the other side."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class TcpProxyHandler(socketserver.BaseRequestHandler):
    """Public side of a tcp/tls tunnel: raw bytes, both ways."""

    def handle(self):
        tunnel = self.server.tunnel
        client = self.request
        opened = time.perf_counter()
        tunnel.metrics.connection_opened()
        upstream = None
        try:
            tunnel.agent.log_join(tunnel.target, self.client_address)
            try:
                upstream = socket.create_connection((tunnel.target.connect_host, tunnel.target.port), timeout=10)
            except OSError as exc:
                tunnel.agent.logger.log(
                    "warn",
                    "failed to dial local address",
                    ("obj", "join"),
                    ("addr", tunnel.target.hostport),
                    ("err", str(exc)),
                )
                return
            upstream.settimeout(None)
            client.settimeout(None)
            tunnel.track(client, upstream)
            back = threading.Thread(target=pump, args=(upstream, client), daemon=True)
            back.start()
            pump(client, upstream)
            back.join()
        finally:
            for sock in (upstream, client):
                if sock is not None:
                    tunnel.untrack(sock)
                    try:
                        sock.close()
                    except OSError:
                        pass
            tunnel.metrics.connection_closed(int((time.perf_counter() - opened) * 1e9))


class Tunnel:
    """One tunnel or endpoint with its own listener on 127.0.0.1."""

    def __init__(self, agent: "Agent", name: str, proto: str, target: Target, options: dict):
        self.agent = agent
        self.name = name
        self.proto = proto  # http, https, tcp or tls
        self.target = target
        self.options = options
        self.id = random_hex(16)
        self.inspect = as_bool(options.get("inspect"), proto in ("http", "https"))
        self.credentials = basic_auth_credentials(options)
        self.metrics = Metrics()
        self.sockets = set()
        self.sockets_lock = threading.Lock()
        self.server = None
        self.public_url = ""

    # -- lifecycle --------------------------------------------------------

    def start(self) -> None:
        if self.proto in ("http", "https"):
            server = ThreadedHttpServer(("127.0.0.1", 0), HttpProxyHandler)
            scheme = "http"
        else:
            server = ThreadedTcpServer(("127.0.0.1", 0), TcpProxyHandler)
            scheme = self.proto
        server.tunnel = self
        self.server = server
        self.public_url = f"{scheme}://127.0.0.1:{server.server_address[1]}"
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()

    def stop(self, wait: bool = True) -> None:
        if self.server is None:
            return
        # Closing the listener first makes the public port refuse at once; the serving loop notices its
        # shutdown on its next poll, in the background, so a DELETE is answered without waiting for it.
        try:
            self.server.socket.shutdown(socket.SHUT_RDWR)  # on Linux this ends LISTEN even while polled
        except OSError:
            pass
        self.server.server_close()
        if wait:
            threading.Thread(target=self.server.shutdown, daemon=True).start()
        with self.sockets_lock:
            open_sockets, self.sockets = list(self.sockets), set()
        for sock in open_sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass

    def track(self, *socks) -> None:
        with self.sockets_lock:
            self.sockets.update(socks)

    def untrack(self, sock) -> None:
        with self.sockets_lock:
            self.sockets.discard(sock)

    # -- behaviour --------------------------------------------------------

    def authorized(self, header) -> bool:
        if not self.credentials:
            return True
        if not header or not header.lower().startswith("basic "):
            return False
        try:
            decoded = base64.b64decode(header.split(None, 1)[1].strip()).decode("utf-8")
        except (binascii.Error, ValueError, IndexError):
            return False
        return decoded in self.credentials

    def record(self, captured: CapturedRequest) -> None:
        if self.inspect:
            self.agent.requests.add(captured)

    # -- JSON -------------------------------------------------------------

    def config_addr(self) -> str:
        if self.proto in ("http", "https"):
            return self.target.as_http()
        return self.target.hostport

    def log_addr(self) -> str:
        if self.proto in ("http", "https"):
            return self.target.as_http()
        return "//" + self.target.hostport

    def tunnel_json(self) -> dict:
        return {
            "name": self.name,
            "ID": self.id,
            "uri": "/api/tunnels/" + quote(self.name, safe=""),
            "public_url": self.public_url,
            "proto": self.proto,
            "config": {"addr": self.config_addr(), "inspect": self.inspect},
            "metrics": self.metrics.to_json(),
        }

    def endpoint_json(self, detail: bool) -> dict:
        """fact: facts table "endpoint object": no id/public_url/proto; metrics only on the detail call."""
        policy = self.options.get("traffic_policy")
        if policy is not None and not isinstance(policy, str):
            policy = json.dumps(policy)
        upstream_url = self.target.as_http() if self.proto in ("http", "https") else "tcp://" + self.target.hostport
        upstream_protocol = (self.options.get("upstream") or {}).get("protocol") or "http1"
        result = {
            "name": self.name,
            "uri": "/api/endpoints/" + quote(self.name, safe=""),
            "url": self.public_url,
            "upstream": {"url": upstream_url, "protocol": upstream_protocol},
            "inspect": self.inspect,
            "traffic_policy": policy or "",
            "pooling_enabled": as_bool(self.options.get("pooling_enabled"), False),
        }
        if detail:
            result["metrics"] = self.metrics.to_json()
        return result


def request_actions(options: dict) -> list:
    """The ``on_http_request`` actions of an endpoint's traffic policy (a mapping, JSON or YAML text)."""
    policy = options.get("traffic_policy")
    if isinstance(policy, str):
        try:
            policy = json.loads(policy) if policy.strip().startswith("{") else parse_yaml(policy)
        except (ValueError, YamlError):
            policy = None
    rules = policy.get("on_http_request") if isinstance(policy, dict) else None
    actions = []
    for rule in rules if isinstance(rules, list) else []:
        listed = rule.get("actions") if isinstance(rule, dict) else None
        actions.extend(action for action in listed or [] if isinstance(action, dict))
    return actions


def action_config(options: dict, action_type: str) -> list:
    return [a.get("config") or {} for a in request_actions(options) if a.get("type") == action_type]


def policy_host_header(options: dict):
    """fact: ngrok docs traffic-policy/actions/add-headers (a "host" header replaces the Host header)."""
    for config in action_config(options, "add-headers"):
        headers = config.get("headers") if isinstance(config.get("headers"), dict) else {}
        for name, value in headers.items():
            if str(name).lower() == "host":
                return str(value)
    return None


def basic_auth_credentials(options: dict) -> list:
    # fact: ngrok docs traffic-policy/actions/basic-auth (config.credentials: "user:password" strings)
    values = [str(c) for config in action_config(options, "basic-auth") for c in config.get("credentials") or []]
    for key in ("auth", "basic_auth"):
        value = options.get(key)
        if isinstance(value, str) and value:
            values.append(value)
        elif isinstance(value, list):
            values.extend(str(v) for v in value if v)
    return values


# ---------------------------------------------------------------------------
# Local API
# ---------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, error_code: int, msg: str, details: Optional[dict] = None):
        super().__init__(msg)
        self.status = status
        self.body = {"error_code": error_code, "status_code": status, "msg": msg, "details": details or {}}


def invalid_config(err: str) -> ApiError:
    # fact: facts table "POST /api/endpoints fields" (pyngrok#77, bubenshchykov#331)
    return ApiError(400, 102, "invalid tunnel configuration", {"err": err})


def name_taken(name: str) -> ApiError:
    return invalid_config(f'tunnel "{name}" already exists')  # fact: facts table "name reuse"


def not_ready() -> ApiError:
    # fact: facts table "transient vs permanent" (the one transient answer)
    return ApiError(503, 104, "ngrok is not yet ready to start tunnels", {"err": SESSION_NOT_READY})


def failed_to_start(err: str) -> ApiError:
    # fact: facts table "transient vs permanent" (502/103 is permanent; bubenshchykov#61)
    return ApiError(502, 103, "failed to start tunnel", {"err": err})


def not_found(kind: str, name: str) -> ApiError:
    return ApiError(404, 100, f"{kind} not found", {"name": name})


ENDPOINT_ONLINE = (
    "failed to start tunnel: The endpoint '{url}' is already online. Either stop the other agent serving it, "
    "or start both with pooling enabled to balance traffic between them.\r\n\r\nERR_NGROK_334\r\n"
)


def injected_failure(kind: str) -> ApiError:
    """FAKE_NGROK_API_FAIL kinds: 503 (not ready), 502 (session closed), ERR_NGROK_<n> (502/103), 500."""
    if kind == "503":
        return not_ready()
    if kind == "502":
        return failed_to_start("session closed")
    if kind == "ERR_NGROK_334":
        return failed_to_start(ENDPOINT_ONLINE.format(url="https://fake.ngrok.app"))
    if kind.startswith("ERR_NGROK_"):
        return failed_to_start(f"failed to start tunnel\r\n\r\n{kind}\r\n")
    if kind == "500":
        return ApiError(500, 0, "panic: runtime error")  # fact: facts section 4 (500 body containing "panic")
    return ApiError(int(kind) if kind.isdigit() else 500, 0, "injected failure")


class ApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def dispatch(self):
        agent = self.server.agent
        request_id = random_hex(8)
        parts = urlsplit(self.path)
        clock = time.perf_counter()
        agent.logger.log("info", "start", ("pg", parts.path), ("id", request_id))
        if agent.faults.api_delay > 0 and agent.faults.api_delay_begins(self.command):
            time.sleep(agent.faults.api_delay)
        try:
            body = self.read_json_body()
            creates = self.command == "POST" and parts.path.rstrip("/") in ("/api/tunnels", "/api/endpoints")
            if creates and agent.faults.hold_when == "before":
                agent.hold_request(body)
            status, payload = agent.api.route(self.command, parts.path, parse_qs(parts.query), body)
            if creates and agent.faults.hold_when == "after":
                agent.hold_request(body)
        except ApiError as exc:
            status, payload = exc.status, exc.body
        self.send_json(status, payload)
        dur = go_duration(time.perf_counter() - clock)
        agent.logger.log("info", "end", ("pg", parts.path), ("id", request_id), ("status", status), ("dur", dur))

    def read_json_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        if self.command not in ("POST", "PUT"):
            return None
        content_type = (self.headers.get("Content-Type") or "").lower()
        if "x-www-form-urlencoded" in content_type or "multipart/form-data" in content_type:
            raise ApiError(
                415, 101, "unsupported media type: the API only accepts JSON bodies", {"content_type": content_type}
            )
        if not raw.strip():
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError as exc:
            raise ApiError(400, 101, "failed to parse request body", {"err": str(exc)}) from exc

    def send_json(self, status: int, payload) -> None:
        if payload is None:
            data = b""
        elif isinstance(payload, bytes):
            data = payload
        else:
            data = json.dumps(payload, separators=(",", ":")).encode("utf-8")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)


class Api:
    """Routes for the local API; state lives here."""

    def __init__(self, agent: "Agent"):
        self.agent = agent
        self.lock = threading.RLock()
        self.tunnels = {}  # name -> Tunnel (insertion ordered)
        self.endpoints = {}
        self.failed_names = set()
        self.failures_left = agent.faults.api_fail_count

    # -- routing ----------------------------------------------------------

    def route(self, method: str, path: str, query: dict, body):
        path = path.rstrip("/") or "/"
        if path.startswith("/api/endpoints") and not version_at_least(3, 30):
            raise ApiError(404, 100, "not found", {"path": path})  # fact: facts table "/api/endpoints" (3.30.0)
        if path in ("/api/tunnels", "/api/endpoints"):
            kind = path.rsplit("/", 1)[1]
            if method == "GET":
                return self.list_all(kind)
            if method == "POST":
                return 201, self.create(kind, require_object(body), None)
            raise method_not_allowed(method, path)
        for kind in ("tunnels", "endpoints"):
            prefix = f"/api/{kind}/"
            if path.startswith(prefix):
                return self.one(kind, method, unquote(path[len(prefix) :]), body)
        if path == "/api/requests/http":
            return self.requests(method, query, body)
        if path.startswith("/api/requests/http/") and method == "GET":
            return self.one_request(unquote(path[len("/api/requests/http/") :]))
        if path == "/api/status" and method == "GET":
            return 200, self.status()
        raise ApiError(404, 100, "not found", {"path": path})

    def one(self, kind: str, method: str, name: str, body):
        if method == "GET":
            return 200, self.render(kind, self.find(kind, name), detail=True)
        if method == "DELETE":
            self.delete(kind, name)
            return 204, None
        if method == "PUT" and kind == "endpoints":
            return self.put_endpoint(name, require_object(body))
        raise method_not_allowed(method, f"/api/{kind}/{name}")

    # -- tunnels and endpoints --------------------------------------------

    def check_fields(self, kind: str, body: dict) -> None:
        """The v3 agent decodes a body strictly: an unknown field is a 400."""
        if not strict_agent():
            return
        if kind == "endpoints":
            problem = unknown_field(body, ENDPOINT_POST_KEYS, "config.EndpointConfig")
            if problem is None and isinstance(body.get("upstream"), dict):
                problem = unknown_field(body["upstream"], {"url", "protocol"}, "config.EndpointUpstream")
        else:
            type_name = TUNNEL_TYPES.get(str(body.get("proto") or "http").lower(), "config.HTTPv2Tunnel")
            problem = unknown_field(body, TUNNEL_KEYS, type_name)
        if problem:
            raise invalid_config(problem)

    def check_name_free(self, kind: str, name: str) -> None:
        if name in self.table(kind):
            raise name_taken(name)
        # fact: changelog 3.29.0 "Blocked creating tunnels with duplicate names via the agent HTTP API";
        # facts table "name reuse" (config-defined names, and names of failed POSTs)
        reserved = config_names(self.agent.config) | self.failed_names
        if name in reserved and version_at_least(3, 29) and not lenient("names"):
            raise name_taken(name)

    def check_can_start(self, name: str) -> None:
        if not self.agent.session_ready.is_set():
            raise not_ready()
        if self.failures_left > 0:
            self.failures_left -= 1
            failure = injected_failure(self.agent.faults.api_fail_kind)
            if failure.status == 502:
                self.failed_names.add(name)  # a failed start keeps its name (3.29+)
            raise failure

    def table(self, kind: str) -> dict:
        return self.tunnels if kind == "tunnels" else self.endpoints

    def render(self, kind: str, tunnel: Tunnel, detail: bool = False) -> dict:
        return tunnel.tunnel_json() if kind == "tunnels" else tunnel.endpoint_json(detail)

    def list_all(self, kind: str):
        if self.agent.faults.api_badjson:
            return 200, b"{not json"
        with self.lock:
            items = [self.render(kind, t) for t in self.table(kind).values()]
        return 200, {kind: items, "uri": "/api/" + kind}

    def find(self, kind: str, name: str) -> Tunnel:
        with self.lock:
            tunnel = self.table(kind).get(name)
        if tunnel is None:
            raise not_found("tunnel" if kind == "tunnels" else "endpoint", name)
        return tunnel

    def create(self, kind: str, body: dict, forced_name):
        self.check_fields(kind, body)
        name = forced_name or str(body.get("name") or random_hex(8))
        with self.lock:
            self.check_name_free(kind, name)
            self.check_can_start(name)
            if kind == "tunnels":
                created = self.create_tunnels(name, body)
            else:
                created = [self.start_tunnel(name, *endpoint_spec(body), options=body)]
            for tunnel in created:
                self.table(kind)[tunnel.name] = tunnel
        return self.render(kind, created[-1])

    def create_tunnels(self, name: str, body: dict) -> list:
        proto = str(body.get("proto") or "http").lower()
        if proto not in ("http", "tcp", "tls"):
            raise invalid_config(f'invalid protocol "{proto}": must be one of http, tcp, tls')
        try:
            target = parse_target(body.get("addr"))
        except BadAddress as exc:
            raise invalid_config(str(exc)) from exc
        if proto != "http":
            return [self.start_tunnel(name, proto, target, body)]
        schemes = http_schemes(body)
        created = []
        if "http" in schemes and "https" in schemes:
            created.append(self.start_tunnel(name + " (http)", "http", target, body))
            created.append(self.start_tunnel(name, "https", target, body))
        else:
            created.append(self.start_tunnel(name, schemes[0], target, body))
        return created

    def start_tunnel(self, name: str, proto: str, target: Target, options: dict) -> Tunnel:
        tunnel = Tunnel(self.agent, name, proto, target, options)
        tunnel.start()
        self.agent.logger.log(
            "info",
            "started tunnel",
            ("obj", "tunnels"),
            ("name", name),
            ("addr", tunnel.log_addr()),
            ("url", tunnel.public_url),
        )
        return tunnel

    def delete(self, kind: str, name: str) -> None:
        with self.lock:
            table = self.table(kind)
            if name not in table:
                raise not_found("tunnel" if kind == "tunnels" else "endpoint", name)
            doomed = [table.pop(name)]
            if kind == "tunnels" and name + " (http)" in table:
                doomed.append(table.pop(name + " (http)"))
        for tunnel in doomed:
            tunnel.stop()
            self.agent.logger.log(
                "info",
                "stopped tunnel",
                ("obj", "tunnels"),
                ("name", tunnel.name),
                ("addr", tunnel.log_addr()),
                ("url", tunnel.public_url),
            )

    def put_endpoint(self, name: str, body: dict):
        if body.get("name") not in (None, name):
            raise invalid_config("the endpoint name in the body does not match the URL")
        self.check_fields("endpoints", body)
        with self.lock:
            existing = self.endpoints.get(name)
            if existing is None:
                return 201, self.create("endpoints", body, name)
            proto, target = endpoint_spec(body)
            if proto != existing.proto:
                self.delete("endpoints", name)
                return 200, self.create("endpoints", body, name)
            existing.target = target
            existing.options = body
            existing.inspect = as_bool(body.get("inspect"), existing.inspect)
            existing.credentials = basic_auth_credentials(body)
            return 200, existing.endpoint_json(detail=False)

    def stop_all(self, forget: bool = False) -> None:
        with self.lock:
            everything = list(self.tunnels.values()) + list(self.endpoints.values())
            if forget:
                self.tunnels.clear()
                self.endpoints.clear()
        for tunnel in everything:
            tunnel.stop(wait=False)

    # -- captured requests -------------------------------------------------

    def requests(self, method: str, query: dict, body):
        store = self.agent.requests
        if method == "GET":
            limit = query.get("limit", [None])[0]
            name = query.get("tunnel_name", [None])[0]
            items = store.newest_first(name or None, int(limit) if limit and limit.isdigit() else None)
            return 200, {"uri": "/api/requests/http", "requests": [c.to_json() for c in items]}
        if method == "DELETE":
            store.clear()
            return 204, None
        if method == "POST":
            self.replay(require_object(body))
            return 204, None
        raise method_not_allowed(method, "/api/requests/http")

    def one_request(self, request_id: str):
        captured = self.agent.requests.get(request_id)
        if captured is None:
            raise ApiError(404, 100, "request not found", {"id": request_id})
        return 200, captured.to_json()

    def replay(self, body: dict) -> None:
        original = self.agent.requests.get(str(body.get("id") or ""))
        if original is None:
            raise ApiError(404, 100, "request not found", {"id": body.get("id")})
        tunnel_name = body.get("tunnel_name") or original.tunnel_name
        tunnel = self.tunnels.get(tunnel_name) or self.endpoints.get(tunnel_name)
        if body.get("tunnel_name") and tunnel is None:
            raise not_found("tunnel", tunnel_name)
        target = tunnel.target if tunnel else original.target
        self.agent.logger.log(
            "info", "replaying request", ("obj", "web"), ("id", original.id), ("tunnelName", tunnel_name)
        )
        started, clock = time.time(), time.perf_counter()
        try:
            response = forward_http(
                target, original.method, original.path, original.request_headers, original.request_body
            )
        except OSError:
            response = bad_gateway(target)
        replayed = CapturedRequest(tunnel_name, target, original.remote_addr, started)
        replayed.method, replayed.path, replayed.proto = original.method, original.path, original.proto
        replayed.request_headers, replayed.request_body = original.request_headers, original.request_body
        replayed.response = response
        replayed.duration_ns = int((time.perf_counter() - clock) * 1e9)
        if tunnel is not None:
            tunnel.metrics.http_request(replayed.duration_ns)
        self.agent.requests.add(replayed)

    def status(self) -> dict:
        return {
            "status": "online" if self.agent.session_ready.is_set() else "reconnecting",
            "agent_version": agent_version(),
            "session": {"legs": [{"region": self.agent.region, "latency": "1ms"}]},
            "uri": "/api/status",
        }


def require_object(body) -> dict:
    if not isinstance(body, dict):
        raise ApiError(400, 101, "failed to parse request body", {"err": "expected a JSON object"})
    return body


def method_not_allowed(method: str, path: str) -> ApiError:
    return ApiError(405, 100, "method not allowed", {"method": method, "path": path})


def http_schemes(body: dict) -> list:
    """Which of http/https an http tunnel serves (bind_tls / schemes, v2 defaults to both)."""
    schemes = body.get("schemes")
    if isinstance(schemes, str):
        schemes = [schemes]
    if isinstance(schemes, list) and schemes:
        chosen = [s.lower() for s in schemes if str(s).lower() in ("http", "https")]
        return chosen or ["https"]
    bind_tls = body.get("bind_tls")
    if bind_tls is None:
        return ["http", "https"] if agent_major() < 3 else ["https"]
    if str(bind_tls).lower() == "both":
        return ["http", "https"]
    return ["https"] if as_bool(bind_tls, True) else ["http"]


def endpoint_spec(body: dict):
    """(proto, Target) for a POST/PUT /api/endpoints body."""
    url = str(body.get("url") or "")
    proto = "http"
    for prefix, kind in (("tcp://", "tcp"), ("tls://", "tls"), ("https://", "https"), ("http://", "http")):
        if url.lower().startswith(prefix):
            proto = kind
    upstream = body.get("upstream")
    if not isinstance(upstream, dict):
        raise invalid_config("missing required field: upstream.url")
    try:
        return proto, parse_target(upstream.get("url"))
    except BadAddress as exc:
        raise invalid_config(str(exc).replace("addr", "upstream.url")) from exc


# ---------------------------------------------------------------------------
# Faults on demand
# ---------------------------------------------------------------------------


class FaultPlan:
    """Everything ``FAKE_NGROK_*`` can switch on, read once at start."""

    def __init__(self, environ):
        self.startup = (environ.get("FAKE_NGROK_STARTUP") or "ok").strip().lower()
        self.require_authtoken = environ.get("FAKE_NGROK_REQUIRE_AUTHTOKEN")
        self.crash_after = env_float("FAKE_NGROK_CRASH_AFTER", 0.0)
        self.restart_after = env_float("FAKE_NGROK_RESTART_AFTER", 0.0)
        self.api_delay = env_float("FAKE_NGROK_API_DELAY", 0.0)
        # An HTTP method: the delay starts with the first request of that method (an API that hangs mid-session,
        # once the first tunnel is asked for); unset, every request waits.
        self.api_delay_from = (environ.get("FAKE_NGROK_API_DELAY_FROM") or "").upper()
        self.api_delay_begun = not self.api_delay_from
        self.api_fail_kind, self.api_fail_count = parse_api_fail(environ.get("FAKE_NGROK_API_FAIL") or "")
        self.api_badjson = as_bool(environ.get("FAKE_NGROK_API_BADJSON"), False)
        self.flood = env_int("FAKE_NGROK_FLOOD", 0)
        self.bad_bytes = as_bool(environ.get("FAKE_NGROK_BAD_BYTES"), False)
        self.state_file = environ.get("FAKE_NGROK_STATE_FILE")
        # The first wait between failed connects (the real agent's is 0.5 s): tests cut it to their size.
        self.reconnect_backoff = env_float("FAKE_NGROK_RECONNECT_BACKOFF", 0.5)
        # A test control, not agent behaviour: ``<before|after>:<gate file>``; see Agent.hold_request.
        self.hold_when, _, self.hold_gate = (environ.get("FAKE_NGROK_HOLD") or "").partition(":")

    def api_delay_begins(self, method: str) -> bool:
        """Whether a request with this method waits ``FAKE_NGROK_API_DELAY`` (see ``api_delay_from``)."""
        if method == self.api_delay_from:
            self.api_delay_begun = True
        return self.api_delay_begun


def parse_api_fail(text: str):
    """``<kind>:<count>``: the next <count> tunnel creations fail (kinds: see ``injected_failure``)."""
    kind, _, count = text.partition(":")
    try:
        return kind, int(count or 1) if kind else 0
    except ValueError:
        return kind, 0


# ---------------------------------------------------------------------------
# The running agent (``ngrok start``)
# ---------------------------------------------------------------------------


class Agent:
    def __init__(self, flags: dict):
        self.flags = flags
        self.faults = FaultPlan(os.environ)
        self.config_paths = config_paths_from(flags)
        self.stop_requested = threading.Event()
        self.session_ready = threading.Event()
        self.session_id = random_hex(6)
        self.requests = RequestStore()
        self.logger = None
        self.web_server = None
        self.config = {}
        self.region = "us"
        self.api = None

    # -- startup -----------------------------------------------------------

    def run(self) -> int:
        install_signal_handlers(self.stop_requested)
        # The tests' stand-in for the dashboard's Restart button: SIGUSR1 restarts the session in place now.
        signal.signal(signal.SIGUSR1, lambda signum, frame: background(self.restart_in_place))
        if self.faults.startup == "stderr_error":
            path = self.config_paths[0] if self.config_paths else default_config_path()
            raise CommandError(
                f"Error reading configuration file '{path}': yaml: line 3: mapping values are "
                "not allowed in this context"
            )
        self.load_configuration()
        if self.faults.startup == "silent":
            self.write_state_file()  # tells a test the signal handlers are in place
            self.wait_for_stop()
            return 0
        self.setup_logger()
        self.log_config_files()
        self.write_state_file()
        self.api = Api(self)
        if not self.start_web_service():
            return 1
        auth_error = self.authentication_error()
        if auth_error:
            return self.fail_session(auth_error)
        if self.faults.startup == "reconnect_fail":
            background(self.reconnect_loop)
        elif self.faults.startup.startswith("reconnect:"):
            background(lambda: self.reconnect_loop(int(self.faults.startup.split(":")[1])))
        elif self.faults.startup != "hang_after_web":
            self.establish_session()
        return self.wait_for_stop()

    def load_configuration(self) -> None:
        paths = self.config_paths
        if not paths and os.path.exists(default_config_path()):
            paths = [default_config_path()]
        self.config = load_configs(paths)
        self.config_paths = paths
        self.region = last_flag(self.flags, "--region") or config_value(self.config, "region") or "us"

    def setup_logger(self) -> None:
        target = last_flag(self.flags, "--log") or config_value(self.config, "log") or "stdout"
        log_format = last_flag(self.flags, "--log-format") or config_value(self.config, "log_format") or "logfmt"
        level = last_flag(self.flags, "--log-level") or config_value(self.config, "log_level") or "info"
        if target is False:
            target = "false"
        self.logger = Logger(str(target), str(log_format), str(level).lower())

    def log_config_files(self) -> None:
        for path in self.config_paths:
            self.logger.log("info", "open config file", ("path", path), ("err", None))

    def effective_authtoken(self):
        """(token, source) with flag > config > NGROK_AUTHTOKEN env."""
        flag = last_flag(self.flags, "--authtoken")
        if flag:
            return flag, "flag"
        configured = config_value(self.config, "authtoken")
        if configured:
            return str(configured), "config"
        env = os.environ.get("NGROK_AUTHTOKEN")
        if env:
            return env, "env"
        return None, None

    def write_state_file(self) -> None:
        if not self.faults.state_file:
            return
        token, source = self.effective_authtoken()
        state = {
            "pid": os.getpid(),
            "argv": sys.argv,
            "authtoken_seen": token is not None,
            "authtoken_sha256": hashlib.sha256(token.encode("utf-8")).hexdigest() if token else None,
            "authtoken_source": source,
            "config_paths": self.config_paths,
            "env_has_authtoken": bool(os.environ.get("NGROK_AUTHTOKEN")),
        }
        temporary = self.faults.state_file + ".tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(state, handle)
        os.replace(temporary, self.faults.state_file)

    def authentication_error(self):
        if self.faults.startup == "error":
            return AUTH_ERROR_105
        if self.faults.startup == "too_old":
            return AUTH_ERROR_121
        if self.faults.startup == "limit":
            return AUTH_ERROR_108
        required = self.faults.require_authtoken
        if required is None:
            return None
        token, _ = self.effective_authtoken()
        if token == required:
            return None
        return AUTH_ERROR_4018 if not token else AUTH_ERROR_105

    def fail_session(self, err: str) -> int:
        """fact: facts table "auth failure" (the lines, stderr, exit 1)."""
        self.logger.log("eror", "failed to reconnect session", ("obj", "csess"), ("id", self.session_id), ("err", err))
        self.logger.log("eror", "session closing", ("obj", "tunnels.session"), ("err", err))
        self.logger.log("eror", "terminating with error", ("obj", "app"), ("err", err))
        self.logger.log("crit", "command failed", ("err", err))
        print_error(err)
        return 1

    def start_web_service(self) -> bool:
        configured = config_value(self.config, "web_addr")
        if configured is False or str(configured).lower() == "false":
            return True
        default = os.environ.get("FAKE_NGROK_DEFAULT_WEB_ADDR") or DEFAULT_WEB_ADDR  # stands in for 4040 in tests
        host, port = split_web_addr(str(configured or default))
        # fact: facts table "busy web address": only the default address moves on.
        attempts = WEB_PORT_ATTEMPTS + 1 if not configured or lenient("busy-web-addr") else 1
        for attempt in range(attempts):
            try:
                server = ThreadedHttpServer((host, port + attempt), ApiHandler)
                break
            except OSError:
                if attempts == 1:
                    continue
                self.logger.log(
                    "warn",
                    "can't bind default web address, trying alternatives",
                    ("obj", "web"),
                    ("addr", f"{host}:{port + attempt}"),
                )
        else:
            err = f"listen tcp {host}:{port}: bind: address already in use"
            self.logger.log("crit", "command failed", ("err", err))
            print_error(err)
            return False
        server.agent = self
        self.web_server = server
        background(lambda: server.serve_forever(poll_interval=0.1))
        bound = f"{host}:{server.server_address[1]}"
        self.logger.log("info", "starting web service", ("obj", "web"), ("addr", bound), ("allow_hosts", "[]"))
        return True

    def establish_session(self) -> None:
        # Ready before the lines that announce it: a client that reacts to "client session established" at once
        # must not be told 104 "not yet ready".
        self.session_ready.set()
        if agent_major() >= 3:  # fact: facts table "startup line order"
            self.logger.log(
                "info",
                "client session established",
                ("obj", "tunnels.session"),
                ("obj", "csess"),
                ("id", self.session_id),
            )
            self.logger.log("info", "tunnel session started", ("obj", "tunnels.session"))
        else:
            self.logger.log("info", "tunnel session started", ("obj", "tunnels.session"))
            self.logger.log("info", "client session established", ("obj", "csess"), ("id", self.session_id))
        if self.faults.crash_after > 0:
            background(self.crash_later)
        if self.faults.restart_after > 0:
            background(self.restart_in_place_later)
        if self.faults.flood > 0:
            background(self.flood_logs)
        if self.faults.bad_bytes:
            background(self.emit_bad_bytes)

    # -- background behaviours ------------------------------------------

    def reconnect_loop(self, failures: int = -1) -> None:
        """Fail to reach the service ``failures`` times (for ever if negative), then come online.

        fact: facts table "network trouble" (the agent keeps running; back-off 0.5 s doubling to 30 s). The
        first wait is ``FAKE_NGROK_RECONNECT_BACKOFF`` when a test sets it.
        """
        backoff = self.faults.reconnect_backoff
        while failures != 0 and not self.stop_requested.is_set():
            self.logger.log(
                "eror",
                "failed to reconnect session",
                ("obj", "csess"),
                ("id", self.session_id),
                ("err", RECONNECT_ERROR),
            )
            failures -= 1
            if self.stop_requested.wait(backoff):
                return
            backoff = min(backoff * 2, 30.0)
        if not self.stop_requested.is_set():
            self.establish_session()

    def restart_in_place_later(self) -> None:
        if self.stop_requested.wait(self.faults.restart_after):
            return
        self.faults.restart_after = 0  # once
        self.restart_in_place()

    def restart_in_place(self) -> None:
        """A Restart from ngrok's dashboard: same process, tunnels gone, session re-established."""
        self.session_ready.clear()
        self.api.stop_all(forget=True)  # before the line, so a test that saw the line sees no tunnels
        request = "{err:<nil> restart:true}"
        if agent_major() >= 3:  # fact: facts table "restart from the dashboard" (both forms)
            self.logger.log("info", f'INFO received stop request obj=app stopReq="{request}"')
        else:
            self.logger.log("info", "received stop request", ("obj", "app"), ("stopReq", request))
        self.establish_session()

    def hold_request(self, body) -> None:
        """FAKE_NGROK_HOLD, a test control (no agent does this): while the gate file exists, a POST that creates
        a tunnel waits, before it is handled or after (before its answer goes out), so that a test can restart
        the agent at a chosen point of the request. The name of each request that waits is added to
        ``<gate>.held``, a line each, so the test knows when to act."""
        gate = self.faults.hold_gate
        if not os.path.exists(gate):
            return
        with open(gate + ".held", "a", encoding="utf-8") as held:
            held.write(f"{body.get('name') if isinstance(body, dict) else None}\n")
        while os.path.exists(gate) and not self.stop_requested.wait(0.02):
            pass

    def crash_later(self) -> None:
        if self.stop_requested.wait(self.faults.crash_after):
            return
        self.logger.log("crit", "command failed", ("obj", "app"), ("err", "FAKE_NGROK_CRASH_AFTER: simulated crash"))
        os._exit(2)

    def flood_logs(self) -> None:
        for number in range(self.faults.flood):
            self.logger.log("dbug", "flood", ("obj", "fake"), ("n", number), force=True)

    def emit_bad_bytes(self) -> None:
        prefix = (f"t={local_timestamp()} lvl=dbug msg=").encode("ascii")
        self.logger.write_raw(prefix + b'"invalid utf-8" data=\xff\xfe\xc3\x28\x80\n')
        self.logger.write_raw(prefix + b"big data=" + b"x" * (1024 * 1024) + b"\n")

    def log_join(self, target: Target, client_address) -> None:
        self.logger.log(
            "info",
            "join connections",
            ("obj", "join"),
            ("id", random_hex(6)),
            ("l", target.hostport),
            ("r", "{}:{}".format(*tuple(client_address[:2]))),
        )

    # -- shutdown ----------------------------------------------------------

    def wait_for_stop(self) -> int:
        while not self.stop_requested.wait(0.1):
            pass
        if self.logger is not None:
            self.logger.log("info", "received stop request", ("obj", "app"), ("stopReq", "{err:<nil> restart:false}"))
        if self.api is not None:
            self.api.stop_all()
        if self.web_server is not None:
            self.web_server.server_close()
        return 0


def split_web_addr(text: str):
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host == "localhost":
        host = "127.0.0.1"
    try:
        return host, int(port)
    except ValueError:
        raise CommandError(f'invalid web_addr "{text}"') from None


def background(function) -> threading.Thread:
    thread = threading.Thread(target=function, daemon=True)
    thread.start()
    return thread


def install_signal_handlers(event: threading.Event) -> None:
    def handler(signum, frame):
        event.set()

    for name in ("SIGTERM", "SIGINT", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


# ---------------------------------------------------------------------------
# Other commands
# ---------------------------------------------------------------------------


def command_version(args: list) -> int:
    print_out("ngrok version " + agent_version())
    return 0


def config_target(flags: dict) -> str:
    paths = config_paths_from(flags)
    return paths[0] if paths else default_config_path()


def save_authtoken(flags: dict, token) -> int:
    if not token:
        raise CommandError("accepts 1 arg(s), received 0")
    path = config_target(flags)
    set_config_key(path, "authtoken", token)
    print_out("Authtoken saved to configuration file: " + path)
    return 0


def save_api_key(flags: dict, key) -> int:
    if not key:
        raise CommandError("accepts 1 arg(s), received 0")
    path = config_target(flags)
    set_config_key(path, "api_key", key)
    print_out("API key saved to configuration file: " + path)
    return 0


def command_config(args: list) -> int:
    flags, positionals = parse_flags(args)
    sub = positionals[0] if positionals else ""
    value = positionals[1] if len(positionals) > 1 else None
    if sub == "add-authtoken":
        return save_authtoken(flags, value)
    if sub == "add-api-key":
        return save_api_key(flags, value)
    if sub == "check":
        paths = config_paths_from(flags) or [default_config_path()]
        load_configs(paths)
        for path in paths:
            print_out("Valid configuration file at " + path)
        return 0
    raise CommandError(f'unknown command "{sub}" for "ngrok config"')


def command_authtoken(args: list) -> int:
    flags, positionals = parse_flags(args)
    return save_authtoken(flags, positionals[0] if positionals else None)


def command_update(args: list) -> int:
    print_out("No update available, this is the latest version.")
    return 0


def command_api(args: list) -> int:
    flags, _ = parse_flags(args)
    api_args, index = [], 0
    while index < len(args):
        arg = args[index]
        name = arg.partition("=")[0]
        if name in ("--config", "--api-key"):
            index += 1 if "=" in arg else 2
            continue
        api_args.append(arg)
        index += 1
    config = load_configs(config_paths_from(flags)) if config_paths_from(flags) else {}
    key = last_flag(flags, "--api-key") or config_value(config, "api_key") or os.environ.get("NGROK_API_KEY")
    if not key:
        raise CommandError(
            "You must specify an api key with the --api-key flag, the NGROK_API_KEY "
            "environment variable or the api_key configuration file property."
        )
    print_out("HTTP/2 200 OK")
    print_out(json.dumps({"args": api_args, "uri": "/fake"}))
    return 0


def command_help(args: list) -> int:
    print_out(USAGE.rstrip("\n"))
    return 0


def command_start(args: list) -> int:
    flags, _ = parse_flags(args)
    return Agent(flags).run()


COMMANDS = {
    "version": command_version,
    "--version": command_version,
    "config": command_config,
    "authtoken": command_authtoken,
    "update": command_update,
    "api": command_api,
    "help": command_help,
    "-h": command_help,
    "--help": command_help,
    "start": command_start,
}


def main(argv: list) -> int:
    argv = take_strictness_flags(argv)
    if not argv:
        return command_help([])
    command = COMMANDS.get(argv[0])
    try:
        unknown = set(filter(None, os.environ.get("FAKE_NGROK_LENIENT", "").replace(" ", "").split(","))) - set(
            LENIENT_BEHAVIOURS
        )
        if unknown:
            raise CommandError(f"FAKE_NGROK_LENIENT: unknown behaviours {sorted(unknown)}")
        if command is None:
            raise CommandError(f'unknown command "{argv[0]}" for "ngrok"')
        return command(argv[1:])
    except CommandError as exc:
        print_error(str(exc))
        return 1


def run_as_program() -> None:
    """Run as ``ngrok`` with this process's arguments, and exit with the command's code."""
    code = main(sys.argv[1:])
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        pass
    os._exit(code)


if __name__ == "__main__":
    run_as_program()
