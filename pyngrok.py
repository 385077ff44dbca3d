"""pyngrok, single-file edition: a drop-in, standard-library-only replacement for ``pyngrok``.

It installs the ngrok agent, writes and validates its YAML config, runs it as a subprocess, watches its
logs, and drives its local HTTP API to open and close tunnels (v2 "tunnels" and v3 "endpoints") and to
inspect and replay captured requests.

The file reads top to bottom in the order data flows: errors, logs, YAML, config, installer, process,
API client, tunnels, agent inspection, async, module facades, CLI. The upstream submodules
(``pyngrok.ngrok``, ``pyngrok.conf``, ``pyngrok.process``, ...) are registered as facades over this one
module, so ``from pyngrok.conf import PyngrokConfig`` works, also when the file is vendored under another
package name.
"""

from __future__ import annotations

import atexit
import collections
import copy
import functools
import http.client
import json
import logging
import os
import re
import subprocess
import sys
import queue
import tempfile
import threading
import time
import types
import uuid
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Tuple, Union
from urllib.parse import quote, urlencode, urlsplit

__version__ = "9.1.0"
__license__ = "MIT"

logger = logging.getLogger("pyngrok")


# ======================================================================================================
# Errors
# ======================================================================================================


class PyngrokError(Exception):
    """Raised when a general ``pyngrok`` error occurs."""


class PyngrokSecurityError(PyngrokError):
    """Raised when a ``pyngrok`` security error occurs (a refused URL scheme, an unsafe archive, ...)."""


class PyngrokNgrokInstallError(PyngrokError):
    """Raised when an error occurs while downloading or installing the ``ngrok`` binary."""


class PyngrokConfigError(PyngrokError):
    """Raised when an ngrok config file cannot be read, written or validated.

    :param message: What went wrong, already naming the file, line and key at fault.
    :param path: The config file at fault, if known.
    :param line: The 1-based line at fault, if known.
    :param column: The 1-based column at fault, if known.
    """

    def __init__(
        self, message: str, path: Optional[str] = None, line: Optional[int] = None, column: Optional[int] = None
    ) -> None:
        super().__init__(message)
        #: The config file at fault, if known.
        self.path = path
        #: The 1-based line at fault, if known.
        self.line = line
        #: The 1-based column at fault, if known.
        self.column = column


_NGROK_ERROR_CODE = re.compile(r"ERR_NGROK_\d+")


class PyngrokNgrokError(PyngrokError):
    """Raised when an error occurs interacting directly with the ``ngrok`` binary.

    :param error: A description of the error.
    :param ngrok_logs: The ``ngrok`` logs, which may be useful for debugging the error.
    :param ngrok_error: The error that caused the ``ngrok`` process to fail.
    """

    def __init__(
        self,
        error: Union[str, BaseException],
        ngrok_logs: Optional[List[NgrokLog]] = None,
        ngrok_error: Optional[str] = None,
    ) -> None:
        super().__init__(error)
        #: The ``ngrok`` logs, which may be useful for debugging the error.
        self.ngrok_logs: List[NgrokLog] = ngrok_logs if ngrok_logs else []
        #: The error that caused the ``ngrok`` process to fail.
        self.ngrok_error: Optional[str] = ngrok_error
        #: The ``ERR_NGROK_<n>`` code found in ``ngrok_error``, if any.
        self.ngrok_error_code: Optional[str] = self._parse_ngrok_error_code(ngrok_error)

    @staticmethod
    def _parse_ngrok_error_code(ngrok_error: Optional[str]) -> Optional[str]:
        match = _NGROK_ERROR_CODE.search(ngrok_error) if ngrok_error else None
        return match.group(0) if match else None


class PyngrokNgrokHTTPError(PyngrokNgrokError):
    """Raised when a request to the ``ngrok`` agent's API returns an error status.

    :param error: A description of the error.
    :param url: The request URL that failed.
    :param status_code: The response status code.
    :param message: The response reason phrase.
    :param headers: The request headers sent.
    :param body: The response body.
    """

    def __init__(
        self,
        error: Union[str, BaseException],
        url: str,
        status_code: int,
        message: Optional[str],
        headers: Any,
        body: str,
    ) -> None:
        super().__init__(error)
        #: The request URL that failed.
        self.url: str = url
        #: The response status code from ``ngrok``.
        self.status_code: int = status_code
        #: The response message from ``ngrok``.
        self.message: Optional[str] = message
        #: The request headers sent to ``ngrok``.
        self.headers: Any = headers
        #: The response body from ``ngrok``.
        self.body: str = body

    def __str__(self) -> str:
        base = super().__str__()
        if self.status_code == 404 and "/api/endpoints" in self.url:
            return f"{base} (the ngrok binary may be too old to support /api/endpoints; call ngrok.update())"
        return base


class PyngrokNgrokURLError(PyngrokNgrokError):
    """Raised when a request to the ``ngrok`` agent's API cannot be made (refused, timed out).

    :param error: A description of the error.
    :param reason: The reason for the URL error.
    """

    def __init__(self, error: Union[str, BaseException], reason: Any) -> None:
        super().__init__(error)
        #: The reason for the URL error.
        self.reason: Any = reason


# ======================================================================================================
# Logs: the agent's logfmt lines
# ======================================================================================================

# Levels the agent writes, mapped to Python's level names.
_NGROK_LEVELS = {
    "dbug": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "eror": "ERROR",
    "err": "ERROR",
    "error": "ERROR",
    "crit": "CRITICAL",
    "critical": "CRITICAL",
}

# One logfmt pair: a key, then optionally `=` and a double-quoted value (with backslash escapes), a quoted
# value that never closes (it runs to the end of the line), a `[...]` list, or a bare word.
_LOGFMT_PAIR = re.compile(r'([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|"[^\n]*|\[[^\]]*\]|[^\s]*))?')
_GO_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[0-7]{3}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}
# Attributes a log line may not overwrite.
_RESERVED_LOG_KEYS = frozenset({"line"})


def _unescape_go(escape: "re.Match[str]") -> str:
    code = escape.group(1)
    if code[0] in "uUx" and len(code) > 1:
        return _code_point(int(code[1:], 16))
    if code[0] in "01234567" and len(code) == 3:
        return chr(int(code, 8))
    return _SIMPLE_ESCAPES.get(code, code)


def _code_point(value: int) -> str:
    return chr(value) if value <= sys.maxunicode and not 0xD800 <= value <= 0xDFFF else "\ufffd"


def _logfmt_value(raw: str) -> str:
    if raw[:1] != '"':
        return raw
    closed = len(raw) > 1 and raw[-1] == '"'
    body = raw[1:-1] if closed else raw[1:]
    return _GO_ESCAPE.sub(_unescape_go, body) if "\\" in body else body


class NgrokLog:
    """A parsed line of the ``ngrok`` agent's log.

    Every ``key=value`` of the line becomes an attribute; ``lvl`` is normalised to a Python logging level
    name (``eror`` becomes ``ERROR``, ``crit`` ``CRITICAL``, ``warn`` ``WARNING``, ``dbug`` ``DEBUG``).
    Parsing never raises: a malformed line keeps what could be read.

    :param line: The raw log line.
    """

    def __init__(self, line: str) -> None:
        #: The raw, unparsed log line.
        self.line: str = line.strip()
        #: The log's ISO 8601 timestamp.
        self.t: Optional[str] = None
        #: The log's level, as a Python logging level name.
        self.lvl: str = "NOTSET"
        #: The log's message.
        self.msg: Optional[str] = None
        #: The log's error, if applicable.
        self.err: Optional[str] = None
        #: The log's type.
        self.obj: Optional[str] = None
        #: The address, if ``obj`` is "web".
        self.addr: Optional[str] = None

        if self.line[:1] == "{":
            self._read_json()
        else:
            self._read_logfmt()

    def _read_logfmt(self) -> None:
        fields = self.__dict__
        for match in _LOGFMT_PAIR.finditer(self.line):
            key, raw = match.group(1), match.group(2)
            if key in _RESERVED_LOG_KEYS or not key.isidentifier():
                continue
            if key == "lvl":
                self.lvl = _python_level(raw or "")
            else:
                fields[key] = _logfmt_value(raw) if raw is not None else ""

    def _read_json(self) -> None:
        try:
            record = json.loads(self.line)
        except ValueError:
            return
        if not isinstance(record, dict):
            return
        for key, value in record.items():
            if not isinstance(key, str) or key in _RESERVED_LOG_KEYS or not key.isidentifier():
                continue
            if key == "lvl":
                self.lvl = _python_level(str(value))
            else:
                self.__dict__[key] = value if isinstance(value, str) else json.dumps(value)

    def __repr__(self) -> str:
        return f'<NgrokLog: t={self.t} lvl={self.lvl} msg="{self.msg}">'

    def __str__(self) -> str:
        attrs = [f"{key}={value}" for key, value in self.__dict__.items() if key != "line" and value is not None]
        return " ".join(attrs)


def _python_level(ngrok_level: str) -> str:
    return _NGROK_LEVELS.get(ngrok_level.lower(), "NOTSET")

# ======================================================================================================
# YAML: reader and writer for ngrok config files
# ======================================================================================================

# OWNED BY THE YAML/CONFIG WORK (issue 3). Contract used by the rest of the file:
#   _yaml_load(text: str, path: str = "<string>") -> Any      raises PyngrokConfigError(path, line, column)
#   _yaml_dump(data: Any) -> str                               block style, keys in insertion order


def _yaml_load(text: str, path: str = "<string>") -> Any:
    raise NotImplementedError


def _yaml_dump(data: Any) -> str:
    raise NotImplementedError


# ======================================================================================================
# Config: PyngrokConfig, default paths, the ngrok config file and its schema
# ======================================================================================================


def get_default_ngrok_dir() -> str:
    """Get the default directory of the ``ngrok`` binary and its config file for this OS.

    :return: ``~/Library/Application Support/ngrok`` on macOS, ``~/AppData/Local/ngrok`` on Windows,
        ``$XDG_CONFIG_HOME/ngrok`` (default ``~/.config/ngrok``) elsewhere.
    """
    home = os.path.expanduser("~")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Application Support", "ngrok")
    if sys.platform.startswith(("win", "cygwin", "msys")):
        return os.path.join(home, "AppData", "Local", "ngrok")
    return os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "ngrok")


def _ngrok_bin_name() -> str:
    return "ngrok.exe" if sys.platform.startswith(("win", "cygwin", "msys")) else "ngrok"


DEFAULT_CONFIG_PATH: Optional[str] = None
DEFAULT_NGROK_DIR = get_default_ngrok_dir()
DEFAULT_NGROK_CONFIG_PATH = os.path.join(DEFAULT_NGROK_DIR, "ngrok.yml")
DEFAULT_NGROK_PATH = os.path.join(DEFAULT_NGROK_DIR, _ngrok_bin_name())


class PyngrokConfig:
    """``pyngrok``'s configuration for interacting with the ``ngrok`` binary.

    All values are optional; defaults are used for those not passed. Use :func:`get_default` and
    :func:`set_default` for the default config, or pass an instance as ``pyngrok_config``.

    :param ngrok_path: The path to the ``ngrok`` binary (default: env ``PYNGROK_NGROK_PATH``, then
        ``DEFAULT_NGROK_PATH``).
    :param config_path: The path to the ``ngrok`` config file (default: ngrok's default location).
    :param auth_token: The authtoken the agent runs with (default: env ``NGROK_AUTHTOKEN``). It is handed
        to the agent through a private 0600 config overlay, never on its command line.
    :param region: The region the agent connects to.
    :param monitor_thread: Whether the agent's logs are logged and passed to ``log_event_callback``
        after startup. The agent's output is drained either way.
    :param log_event_callback: Called with each :class:`NgrokLog` the agent emits.
    :param startup_timeout: Seconds to wait for the agent to become healthy.
    :param max_logs: The number of recent logs kept on :class:`NgrokProcess`.
    :param request_timeout: Seconds to wait for each request to the agent's API.
    :param start_new_session: Start the agent in a new process session (POSIX only).
    :param ngrok_version: The major version of the ``ngrok`` agent, ``"2"`` or ``"3"``.
    :param api_key: The ngrok API key (default: env ``NGROK_API_KEY``).
    :param config_version: The config and API flavour: ``"3"`` uses endpoints, ``"2"`` uses tunnels.
    :param session_callback: Called with a :class:`NgrokSessionEvent` whenever the agent's session state
        changes (``starting``, ``online``, ``reconnecting``, ``stopped``), from a thread of its own.
    :param supervise: Restart an agent that dies without :func:`kill_process`, and re-open its tunnels.
    :param max_restarts: How many restarts supervision tries in a row before it gives up.
    :param restart_backoff: Seconds before the first restart; doubled for each further try.
    """

    def __init__(
        self,
        ngrok_path: Optional[str] = None,
        config_path: Optional[str] = None,
        auth_token: Optional[str] = None,
        region: Optional[str] = None,
        monitor_thread: bool = True,
        log_event_callback: Optional[Callable[[NgrokLog], None]] = None,
        startup_timeout: int = 15,
        max_logs: int = 100,
        request_timeout: float = 4,
        start_new_session: bool = False,
        ngrok_version: str = "3",
        api_key: Optional[str] = None,
        config_version: str = "3",
        session_callback: Optional[Callable[[NgrokSessionEvent], None]] = None,
        supervise: bool = False,
        max_restarts: int = 5,
        restart_backoff: float = 0.5,
    ) -> None:
        self.ngrok_path: str = (
            os.environ.get("PYNGROK_NGROK_PATH", DEFAULT_NGROK_PATH) if ngrok_path is None else ngrok_path
        )
        self.config_path: Optional[str] = DEFAULT_CONFIG_PATH if config_path is None else config_path
        self.auth_token: Optional[str] = auth_token or os.environ.get("NGROK_AUTHTOKEN")
        self.region: Optional[str] = region
        self.monitor_thread: bool = monitor_thread
        self.log_event_callback: Optional[Callable[[NgrokLog], None]] = log_event_callback
        self.startup_timeout: int = startup_timeout
        self.max_logs: int = max_logs
        self.request_timeout: float = request_timeout
        self.start_new_session: bool = start_new_session
        self.ngrok_version: str = _strip_v(ngrok_version)
        self.api_key: Optional[str] = api_key or os.environ.get("NGROK_API_KEY")
        self.config_version: str = _strip_v(config_version)
        self.session_callback: Optional[Callable[[NgrokSessionEvent], None]] = session_callback
        self.supervise: bool = supervise
        self.max_restarts: int = max_restarts
        self.restart_backoff: float = restart_backoff

    def __repr__(self) -> str:
        # Secrets are masked: a config is often logged or shown in a traceback.
        fields = ", ".join(
            f"{key}={_mask_secret(key, value)!r}" for key, value in vars(self).items() if not key.startswith("_")
        )
        return f"PyngrokConfig({fields})"


def _strip_v(version: str) -> str:
    version = str(version) if version is not None else version
    return version[1:] if version and version[:1] in "vV" else version


def _mask_secret(key: str, value: Any) -> Any:
    return "********" if key in ("auth_token", "api_key") and value else value


_default_pyngrok_config: Optional[PyngrokConfig] = None


def get_default() -> PyngrokConfig:
    """Get the default config used by the module functions when no ``pyngrok_config`` is passed.

    :return: The default ``PyngrokConfig``, created on first use.
    """
    global _default_pyngrok_config
    if _default_pyngrok_config is None:
        _default_pyngrok_config = PyngrokConfig()
    return _default_pyngrok_config


def set_default(pyngrok_config: PyngrokConfig) -> None:
    """Set the default config used by the module functions when no ``pyngrok_config`` is passed.

    :param pyngrok_config: The new default config.
    """
    global _default_pyngrok_config
    _default_pyngrok_config = pyngrok_config


def get_config_path(pyngrok_config: PyngrokConfig) -> str:
    """Get the ngrok config file path of the given config, or ngrok's default path.

    :param pyngrok_config: The config whose ``config_path`` to check first.
    :return: The path of the ngrok config file.
    """
    return pyngrok_config.config_path if pyngrok_config.config_path is not None else DEFAULT_NGROK_CONFIG_PATH


# --- The ngrok config file (OWNED BY THE YAML/CONFIG WORK, issue 3) -----------------------------------
# Contract used by the rest of the file (upstream installer semantics):
#   config_file_lock: threading.RLock
#   get_ngrok_config(config_path, use_cache=True, ngrok_version="3", config_version="3") -> dict
#   get_default_config(ngrok_version, config_version) -> dict
#   install_default_config(config_path, data=None, ngrok_version="3", config_version="3") -> None
#   validate_config(data) -> None
#   _config_schema_json() -> str      (what `python -m pyngrok schema` prints)

SUPPORTED_NGROK_VERSIONS = ["2", "3"]

config_file_lock = threading.RLock()


def get_ngrok_config(
    config_path: str, use_cache: bool = True, ngrok_version: Optional[str] = "3", config_version: Optional[str] = "3"
) -> Dict[str, Any]:
    raise NotImplementedError


def get_default_config(ngrok_version: Optional[str], config_version: Optional[str]) -> Dict[str, Any]:
    raise NotImplementedError


def install_default_config(
    config_path: str,
    data: Optional[Dict[str, Any]] = None,
    ngrok_version: Optional[str] = "3",
    config_version: Optional[str] = "3",
) -> None:
    raise NotImplementedError


def validate_config(data: Dict[str, Any]) -> None:
    raise NotImplementedError


def _config_schema_json() -> str:
    raise NotImplementedError


# ======================================================================================================
# Installer: platform table, download, verify, extract
# ======================================================================================================

# OWNED BY THE INSTALLER WORK (issue 4). Contract used by the rest of the file:
#   get_system(), get_arch(), get_ngrok_bin(), get_ngrok_cdn_url(ngrok_version)
#   _install_ngrok_binary(ngrok_path, ngrok_version="3", **kwargs)   (the installer facade's install_ngrok)
#   _installer_cli(argv: List[str]) -> int                           (`python -m pyngrok install ...`)

CDN_URL_PREFIX = "https://bin.ngrok.com/c/bNyj1mQVY4c/"
DEFAULT_DOWNLOAD_TIMEOUT = 6
DEFAULT_RETRY_COUNT = 0


def _install_ngrok_binary(ngrok_path: str, ngrok_version: Optional[str] = "3", **kwargs: Any) -> None:
    raise NotImplementedError


def _installer_cli(argv: List[str]) -> int:
    raise NotImplementedError


# ======================================================================================================
# Process: running the agent, reading its output, supervising its life
# ======================================================================================================

_process_logger = logging.getLogger("pyngrok.process")
# The agent's own log lines are logged under this child logger, at the level the agent gave them.
_agent_logger = logging.getLogger("pyngrok.process.ngrok")

# How long a stopped agent gets between SIGTERM and SIGKILL, and readers get to finish.
_TERMINATE_GRACE_SECONDS = 3.0
_READER_JOIN_SECONDS = 2.0
# Errors ngrok's service gives an agent past its supported life.
_TOO_OLD_AGENT_CODES = frozenset({"ERR_NGROK_120", "ERR_NGROK_121"})
# A longer line than this is cut: the rest is read and dropped, so a runaway line cannot eat memory.
_MAX_LOG_LINE_BYTES = 64 * 1024


# The states of the agent's session, from its own log lines.
SESSION_STARTING = "starting"
SESSION_ONLINE = "online"
SESSION_RECONNECTING = "reconnecting"
SESSION_STOPPED = "stopped"

_RECONNECTING_MESSAGES = frozenset({"session closed, starting reconnect loop", "failed to reconnect session"})


class NgrokSessionEvent:
    """A change of an agent's session state, passed to ``PyngrokConfig.session_callback``.

    :param ngrok_process: The agent whose session changed.
    :param state: The new state: ``starting``, ``online``, ``reconnecting`` or ``stopped``.
    :param previous: The state before.
    :param reason: Why, when known: the agent's error, its exit code, or what supervision did.
    """

    def __init__(self, ngrok_process: NgrokProcess, state: str, previous: str, reason: Optional[str] = None) -> None:
        #: The agent whose session changed.
        self.ngrok_process = ngrok_process
        #: The new state.
        self.state = state
        #: The state before.
        self.previous = previous
        #: Why, when known.
        self.reason = reason

    def __repr__(self) -> str:
        return f"<NgrokSessionEvent: {self.previous} -> {self.state} ({self.reason})>"


class _EventDispatcher:
    """Calls session callbacks in order from one thread of its own, never under a lock of ours."""

    def __init__(self) -> None:
        self._queue: "queue.SimpleQueue[Tuple[Callable[[NgrokSessionEvent], None], NgrokSessionEvent]]" = (
            queue.SimpleQueue()
        )
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()

    def post(self, callback: Callable[[NgrokSessionEvent], None], event: NgrokSessionEvent) -> None:
        self._queue.put((callback, event))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pyngrok-events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            callback, event = self._queue.get()
            try:
                callback(event)
            except Exception:
                _process_logger.exception("session_callback raised; the event is dropped")


_event_dispatcher = _EventDispatcher()


class NgrokProcess:
    """A running ``ngrok`` agent, started by :func:`get_process`.

    The agent's stdout and stderr are always drained by reader threads, so the agent never blocks on a full
    pipe. Its log lines are kept in ``logs`` (the last ``max_logs``), and while monitoring is on (the
    ``monitor_thread`` option, or :meth:`start_monitor_thread`) they are also logged and passed to
    ``log_event_callback``.

    :param proc: The agent's child process.
    :param pyngrok_config: The config the agent was started with.
    """

    def __init__(self, proc: "subprocess.Popen[bytes]", pyngrok_config: PyngrokConfig) -> None:
        #: The agent's child process.
        self.proc: "subprocess.Popen[bytes]" = proc
        #: The ``pyngrok`` config the agent was started with.
        self.pyngrok_config: PyngrokConfig = pyngrok_config
        #: The URL of the agent's local API, as its log announced it.
        self.api_url: Optional[str] = None
        #: The most recent log lines of the agent.
        self.logs: List[NgrokLog] = []
        #: The error the agent gave when it failed to start, if any.
        self.startup_error: Optional[str] = None
        #: The state of the agent's session: ``starting``, ``online``, ``reconnecting`` or ``stopped``.
        self.session_state: str = SESSION_STARTING

        self._tunnel_started = False
        self._client_connected = False
        self._starting = True
        self._monitoring = False
        self._stopping = False
        self._exited = threading.Event()
        self._changed = threading.Condition()
        self._readers: List[threading.Thread] = []
        self._monitor_thread: Optional[threading.Thread] = None
        self._overlay_dir: Optional[str] = None
        # The tunnels connect() opened on this agent, by name: what supervision re-opens after a restart.
        self._opened: Dict[str, Tuple[str, Dict[str, Any], NgrokTunnel]] = {}

    def __repr__(self) -> str:
        return f'<NgrokProcess: "{self.api_url}">'

    def __str__(self) -> str:
        return f'NgrokProcess: "{self.api_url}"'

    # --- reading the agent's output ------------------------------------------------------------------

    def _start_readers(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        stdout_reader = threading.Thread(
            target=self._read_pipe, args=(self.proc.stdout, self._on_log_line), name="pyngrok-stdout", daemon=True
        )
        stderr_reader = threading.Thread(
            target=self._read_pipe, args=(self.proc.stderr, self._on_stderr_line), name="pyngrok-stderr", daemon=True
        )
        self._readers = [stdout_reader, stderr_reader]
        # The stdout reader is the "monitor thread" of upstream: it lives as long as the agent does.
        self._monitor_thread = stdout_reader
        for reader in self._readers:
            reader.start()

    def _read_pipe(self, pipe: Any, handle_line: Callable[[str], None]) -> None:
        continuing_long_line = False
        try:
            for chunk in iter(functools.partial(pipe.readline, _MAX_LOG_LINE_BYTES), b""):
                complete = chunk.endswith(b"\n")
                if not continuing_long_line:
                    handle_line(chunk.decode("utf-8", "replace").rstrip("\r\n"))
                continuing_long_line = not complete
        except (OSError, ValueError):
            pass  # the pipe was closed under us: the agent is gone
        finally:
            if handle_line == self._on_log_line:
                self._on_exit()

    def _on_log_line(self, line: str) -> None:
        if not line.strip():
            return
        self._record(NgrokLog(line))

    def _on_stderr_line(self, line: str) -> None:
        text = line.strip()
        if not text:
            return
        log = NgrokLog("")
        log.line = text
        is_error = text.upper().startswith("ERROR:")
        log.lvl = "ERROR" if is_error else "WARNING"
        log.msg = text[len("ERROR:") :].strip() if is_error else text
        log.err = log.msg if is_error else None
        self._record(log)

    def _record(self, log: NgrokLog) -> None:
        with self._changed:
            self.logs.append(log)
            if len(self.logs) > max(self.pyngrok_config.max_logs, 1):
                del self.logs[0]
            self._update_state(log)
            self._changed.notify_all()
        if self._starting or self._monitoring:
            self._emit(log)

    def _update_state(self, log: NgrokLog) -> None:
        if self._starting and log.lvl in ("ERROR", "CRITICAL"):
            self.startup_error = log.err or log.msg or log.line
        elif log.msg == "starting web service" and log.addr:
            self.api_url = f"http://{log.addr}"
        elif log.msg == "tunnel session started":
            self._tunnel_started = True
        elif log.msg == "client session established":
            self._client_connected = True
            self._set_session_state(SESSION_ONLINE)
        elif log.msg in _RECONNECTING_MESSAGES:
            self._set_session_state(SESSION_RECONNECTING, log.err)
        elif log.msg == "received stop request" and "restart:true" in str(getattr(log, "stopReq", "")):
            self._set_session_state(SESSION_RECONNECTING, "the agent is restarting")

    def _set_session_state(self, state: str, reason: Optional[str] = None) -> None:
        previous, self.session_state = self.session_state, state
        if state == previous:
            return
        _process_logger.info("ngrok session %s -> %s%s", previous, state, f" ({reason})" if reason else "")
        self._notify(state, previous, reason)

    def _notify(self, state: str, previous: str, reason: Optional[str] = None) -> None:
        callback = self.pyngrok_config.session_callback
        if callback is not None:
            _event_dispatcher.post(callback, NgrokSessionEvent(self, state, previous, reason))

    def _emit(self, log: NgrokLog) -> None:
        level = getattr(logging, log.lvl, logging.INFO) if log.lvl != "NOTSET" else logging.INFO
        if _agent_logger.isEnabledFor(level):
            _agent_logger.log(level, log.line)
        callback = self.pyngrok_config.log_event_callback
        if callback is not None:
            try:
                callback(log)
            except Exception:
                _process_logger.exception("log_event_callback raised; the agent's logs are still read")

    def _on_exit(self) -> None:
        try:
            exit_code: Optional[int] = self.proc.wait(_READER_JOIN_SECONDS)
        except subprocess.TimeoutExpired:
            exit_code = None
        unexpected = not self._stopping and not self._starting
        if unexpected:
            _process_logger.warning("ngrok process %s exited unexpectedly with code %s", self.proc.pid, exit_code)
        with self._changed:
            self._set_session_state(SESSION_STOPPED, f"ngrok exited with code {exit_code}")
            if unexpected and self.pyngrok_config.supervise:
                _supervise(self)  # registered before the exit is visible, so wait() sees supervision
            self._exited.set()
            self._changed.notify_all()

    # --- health and monitoring -----------------------------------------------------------------------

    def healthy(self) -> bool:
        """Check whether the agent is running, its session is up and its API answers.

        :return: ``True`` when the agent is healthy.
        """
        if self.api_url is None or not self._tunnel_started or not self._client_connected:
            return False
        if self.proc.poll() is not None:
            return False
        probe_path = "/api/endpoints" if self.pyngrok_config.config_version == "3" else "/api/tunnels"
        try:
            status, _, _ = _http_exchange("GET", f"{self.api_url}{probe_path}", None, {}, self._probe_timeout())
        except PyngrokNgrokURLError:
            return False
        # Any answer but a server error shows the API is up; a 404 on /api/endpoints means an agent too old
        # for endpoints, which connect() reports with a hint.
        return status < 500

    def _probe_timeout(self) -> float:
        return max(0.1, min(float(self.pyngrok_config.request_timeout), 2.0))

    def start_monitor_thread(self) -> None:
        """Start logging the agent's lines and passing them to ``log_event_callback``.

        The agent's output is always drained by a reader thread; this switches on what is done with it.
        """
        self._monitoring = True

    def stop_monitor_thread(self) -> None:
        """Stop logging the agent's lines and passing them to ``log_event_callback``.

        The reader thread keeps draining the agent's output (so the agent never blocks) until it exits.
        """
        self._monitoring = False

    # --- stopping ------------------------------------------------------------------------------------

    def _stop(self) -> None:
        self._stopping = True
        _terminate_gracefully(self.proc)
        for reader in self._readers:
            if reader is not threading.current_thread():
                reader.join(_READER_JOIN_SECONDS)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        self._remove_overlay()

    def _remove_overlay(self) -> None:
        if self._overlay_dir is not None:
            _remove_tree(self._overlay_dir)
            self._overlay_dir = None


def _terminate_gracefully(proc: "subprocess.Popen[bytes]") -> None:
    if proc.poll() is None:
        try:
            proc.terminate()
            proc.wait(_TERMINATE_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            _process_logger.warning("ngrok process %s ignored SIGTERM; killing it", proc.pid)
            proc.kill()
        except OSError:
            pass  # it exited between poll() and terminate()
    try:
        proc.wait(_TERMINATE_GRACE_SECONDS)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that survives SIGKILL
        _process_logger.error("ngrok process %s did not exit after SIGKILL", proc.pid)


def _remove_tree(directory: str) -> None:
    for entry in os.listdir(directory) if os.path.isdir(directory) else ():
        try:
            os.unlink(os.path.join(directory, entry))
        except OSError:
            pass
    try:
        os.rmdir(directory)
    except OSError:
        pass


# --- the registry of running agents, one per ngrok_path -----------------------------------------------

_current_processes: Dict[str, NgrokProcess] = {}
_current_processes_lock = threading.RLock()


def is_process_running(ngrok_path: str) -> bool:
    """Check whether an agent started by this library is running for the given binary.

    :param ngrok_path: The path of the ``ngrok`` binary.
    :return: ``True`` if the agent is running.
    """
    with _current_processes_lock:
        ngrok_process = _current_processes.get(ngrok_path)
        if ngrok_process is None:
            return False
        if ngrok_process.proc.poll() is None:
            return True
        _forget_dead_process(ngrok_path, ngrok_process)
        return False


def _forget_dead_process(ngrok_path: str, ngrok_process: NgrokProcess) -> None:
    _process_logger.debug("Removing stale process for ngrok_path %s", ngrok_path)
    _current_processes.pop(ngrok_path, None)
    ngrok_process._stop()


def get_process(pyngrok_config: PyngrokConfig) -> NgrokProcess:
    """Get the running agent for the config's ``ngrok_path``, starting one if none is running.

    :param pyngrok_config: The config to start the agent with.
    :return: The running agent.
    :raises PyngrokNgrokError: When the agent fails to start within ``startup_timeout``; the agent's own
        error and logs are attached, and no agent process is left behind.
    """
    with _current_processes_lock:
        if is_process_running(pyngrok_config.ngrok_path):
            return _current_processes[pyngrok_config.ngrok_path]
        return _start_process(pyngrok_config)


def kill_process(ngrok_path: str) -> None:
    """Stop the agent running for the given binary, if any: SIGTERM, then SIGKILL after a grace period.

    :param ngrok_path: The path of the ``ngrok`` binary.
    """
    with _supervisors_lock:
        supervisor = _supervisors.pop(ngrok_path, None)
    if supervisor is not None:
        supervisor.cancelled.set()
    with _current_processes_lock:
        ngrok_process = _current_processes.pop(ngrok_path, None)
    if ngrok_process is not None:
        _process_logger.info("Killing ngrok process: %s", ngrok_process.proc.pid)
        ngrok_process._stop()
    else:
        _process_logger.debug("ngrok_path %s is not running a process", ngrok_path)
    if supervisor is not None and supervisor is not threading.current_thread():
        supervisor.join()


@atexit.register
def _kill_all_processes() -> None:
    with _current_processes_lock:
        paths = list(_current_processes)
    for ngrok_path in paths:
        kill_process(ngrok_path)


# --- supervision: restarting an agent that died, with its tunnels ------------------------------------

_supervisors: Dict[str, _Supervisor] = {}
_supervisors_lock = threading.Lock()


class _Supervisor(threading.Thread):
    """Restarts a dead agent with the same config and re-opens its tunnels, with back-off and a limit."""

    def __init__(self, dead: NgrokProcess) -> None:
        super().__init__(name="pyngrok-supervisor", daemon=True)
        self.dead = dead
        self.cancelled = threading.Event()

    def run(self) -> None:
        config = self.dead.pyngrok_config
        try:
            for attempt in range(1, config.max_restarts + 1):
                if self.cancelled.wait(config.restart_backoff * 2 ** (attempt - 1)):
                    return
                if self._restart(attempt):
                    return
            _process_logger.error("ngrok supervision gave up after %s restarts", config.max_restarts)
            self.dead._notify(SESSION_STOPPED, SESSION_STOPPED, f"gave up after {config.max_restarts} restarts")
        finally:
            with _supervisors_lock:
                if _supervisors.get(config.ngrok_path) is self:
                    del _supervisors[config.ngrok_path]

    def _restart(self, attempt: int) -> bool:
        config = self.dead.pyngrok_config
        reason = f"restart {attempt} of {config.max_restarts}"
        _process_logger.warning("ngrok process died; %s", reason)
        self.dead._notify(SESSION_STARTING, SESSION_STOPPED, reason)
        try:
            with _current_processes_lock:
                if self.cancelled.is_set():
                    return True
                if is_process_running(config.ngrok_path):
                    fresh = _current_processes[config.ngrok_path]  # someone's call already started one
                else:
                    fresh = _start_process(config)
            _reopen_tunnels(self.dead, fresh)
        except PyngrokError as error:
            _process_logger.warning("ngrok %s failed: %s", reason, error)
            self.dead._notify(SESSION_STOPPED, SESSION_STARTING, f"{reason} failed: {error}")
            return False
        _process_logger.info("ngrok restarted (%s) with %s tunnels re-opened", reason, len(fresh._opened))
        return True


def _supervise(dead: NgrokProcess) -> None:
    ngrok_path = dead.pyngrok_config.ngrok_path
    with _supervisors_lock:
        if ngrok_path in _supervisors:
            return
        supervisor = _supervisors[ngrok_path] = _Supervisor(dead)
    supervisor.start()


def run_process(ngrok_path: str, args: List[str]) -> int:
    """Run the ``ngrok`` binary with the given arguments, blocking until it exits.

    :param ngrok_path: The path of the ``ngrok`` binary.
    :param args: The arguments for ``ngrok``.
    :return: The exit code of ``ngrok``.
    :raises PyngrokNgrokError: When the binary is missing.
    """
    _validate_binary(ngrok_path)
    return subprocess.call([ngrok_path, *args])


def capture_run_process(ngrok_path: str, args: List[str]) -> str:
    """Run the ``ngrok`` binary with the given arguments and return its output.

    :param ngrok_path: The path of the ``ngrok`` binary.
    :param args: The arguments for ``ngrok``.
    :return: What ``ngrok`` printed (stdout and stderr), stripped.
    :raises PyngrokNgrokError: When the binary is missing or exits with an error.
    """
    return _capture_run(ngrok_path, args)


def _capture_run(ngrok_path: str, args: List[str], secrets: Iterable[Optional[str]] = ()) -> str:
    _validate_binary(ngrok_path)
    try:
        output = subprocess.run(
            [ngrok_path, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
    except OSError as error:
        raise PyngrokNgrokError(f"The ngrok binary at {ngrok_path} could not be run: {error}") from None
    text = _redact(output.stdout.decode("utf-8", "replace").strip(), secrets)
    if output.returncode != 0:
        raise PyngrokNgrokError(f"The ngrok process exited with code {output.returncode}: {text}", ngrok_error=text)
    return text


def _redact(text: str, secrets: Iterable[Optional[str]]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text


def _validate_binary(ngrok_path: str) -> None:
    if not os.path.exists(ngrok_path):
        raise PyngrokNgrokError(
            f'ngrok binary was not found. Be sure to call "ngrok.install_ngrok()" first for "ngrok_path": '
            f"{ngrok_path}"
        )


# --- secrets: saved to the config file, handed to a running agent through a private overlay -----------


def _process_set_auth_token(pyngrok_config: PyngrokConfig, token: str) -> None:
    """Save the authtoken in the ngrok config file (the ``process`` facade's ``set_auth_token``).

    The file is edited directly (atomically, mode 0600); the token is never passed to a command line.

    :param pyngrok_config: The config whose ``config_path`` to edit.
    :param token: The authtoken.
    """
    _save_agent_secret(pyngrok_config, "authtoken", token)


def _process_set_api_key(pyngrok_config: PyngrokConfig, key: str) -> None:
    """Save the API key in the ngrok config file (the ``process`` facade's ``set_api_key``).

    :param pyngrok_config: The config whose ``config_path`` to edit.
    :param key: The API key.
    """
    _save_agent_secret(pyngrok_config, "api_key", key)


def _save_agent_secret(pyngrok_config: PyngrokConfig, key: str, value: str) -> None:
    if pyngrok_config.ngrok_version not in SUPPORTED_NGROK_VERSIONS:
        raise PyngrokError(f'"ngrok_version" must be a supported version: {SUPPORTED_NGROK_VERSIONS}')
    config_path = get_config_path(pyngrok_config)
    with config_file_lock:
        file_version = _config_file_version(pyngrok_config, config_path)
        data: Dict[str, Any] = {"agent": {key: value}} if file_version == "3" else {key: value}
        install_default_config(config_path, data, pyngrok_config.ngrok_version, file_version)
    _process_logger.info("Saved the %s to %s", key, config_path)


def _config_file_version(pyngrok_config: PyngrokConfig, config_path: str) -> str:
    """The config version of the user's file: its ``version`` key, or what the config asks for."""
    if pyngrok_config.ngrok_version == "2":
        return "2"
    if os.path.exists(config_path):
        version = get_ngrok_config(config_path, use_cache=False).get("version")
        if version is not None:
            return str(version)
    return pyngrok_config.config_version


def _write_overlay(pyngrok_config: PyngrokConfig, config_path: str, **secrets: Optional[str]) -> Optional[str]:
    """Write a private config file holding the secrets, for the agent to merge with the user's file.

    :return: The private directory holding ``overlay.yml``, or ``None`` when there is nothing to hand over.
    """
    values = {key: value for key, value in secrets.items() if value}
    if not values:
        return None
    file_version = _config_file_version(pyngrok_config, config_path)
    lines = [f"version: {json.dumps(file_version)}"]
    if file_version == "3":
        lines.append("agent:")
        lines.extend(f"  {key}: {json.dumps(value)}" for key, value in values.items())
    else:
        lines.extend(f"{key}: {json.dumps(value)}" for key, value in values.items())
    overlay_dir = tempfile.mkdtemp(prefix="pyngrok-")  # created 0700
    descriptor = os.open(os.path.join(overlay_dir, "overlay.yml"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as overlay:
        overlay.write("\n".join(lines) + "\n")
    return overlay_dir


def _overlay_args(overlay_dir: Optional[str]) -> List[str]:
    return ["--config", os.path.join(overlay_dir, "overlay.yml")] if overlay_dir else []


# --- starting an agent ---------------------------------------------------------------------------------


def _start_process(pyngrok_config: PyngrokConfig) -> NgrokProcess:
    config_path = get_config_path(pyngrok_config)
    _validate_binary(pyngrok_config.ngrok_path)
    if os.path.exists(config_path):
        _validate_config_file(config_path)

    overlay_dir = _write_overlay(pyngrok_config, config_path, authtoken=pyngrok_config.auth_token)
    try:
        proc = _spawn_agent(pyngrok_config, config_path, overlay_dir)
    except BaseException:
        if overlay_dir:
            _remove_tree(overlay_dir)
        raise
    ngrok_process = NgrokProcess(proc, pyngrok_config)
    ngrok_process._overlay_dir = overlay_dir
    ngrok_process._start_readers()
    _current_processes[pyngrok_config.ngrok_path] = ngrok_process
    try:
        _wait_until_healthy(ngrok_process)
    except BaseException:
        _current_processes.pop(pyngrok_config.ngrok_path, None)
        ngrok_process._stop()
        raise
    ngrok_process._starting = False
    ngrok_process._monitoring = pyngrok_config.monitor_thread
    _process_logger.debug("ngrok process has started with API URL: %s", ngrok_process.api_url)
    return ngrok_process


def _agent_args(pyngrok_config: PyngrokConfig, config_path: str, overlay_dir: Optional[str]) -> List[str]:
    args = [pyngrok_config.ngrok_path, "start", "--none", "--log", "stdout", "--log-format", "logfmt"]
    if os.path.exists(config_path):
        args += ["--config", config_path]
    args += _overlay_args(overlay_dir)
    if pyngrok_config.region:
        args += ["--region", pyngrok_config.region]
    return args


def _spawn_agent(
    pyngrok_config: PyngrokConfig, config_path: str, overlay_dir: Optional[str]
) -> "subprocess.Popen[bytes]":
    args = _agent_args(pyngrok_config, config_path, overlay_dir)
    popen_kwargs: Dict[str, Any] = {}
    if os.name == "posix":
        popen_kwargs["start_new_session"] = pyngrok_config.start_new_session
    elif pyngrok_config.start_new_session:
        _process_logger.warning("Ignoring start_new_session=True, which requires POSIX")
    if sys.platform == "win32":
        popen_kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    _process_logger.info("Starting ngrok: %s", " ".join(args))
    try:
        proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen_kwargs
        )
    except OSError as error:
        raise PyngrokNgrokError(f"The ngrok binary at {pyngrok_config.ngrok_path} could not be run: {error}") from None
    _process_logger.debug("ngrok process starting with PID: %s", proc.pid)
    return proc


def _wait_until_healthy(ngrok_process: NgrokProcess) -> None:
    """Wait for the agent's startup log and a first API answer, bounded by ``startup_timeout``.

    Reader threads do the reading, so a silent or hung agent cannot block this wait past its deadline.
    """
    deadline = time.monotonic() + ngrok_process.pyngrok_config.startup_timeout

    def startup_settled() -> bool:
        return bool(
            ngrok_process.startup_error
            or ngrok_process._exited.is_set()
            or (ngrok_process.api_url and ngrok_process._tunnel_started and ngrok_process._client_connected)
        )

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _raise_startup_failure(ngrok_process, "The ngrok process was unable to start within "
                                   f"{ngrok_process.pyngrok_config.startup_timeout} seconds.")
        with ngrok_process._changed:
            ngrok_process._changed.wait_for(startup_settled, remaining)
        if ngrok_process.startup_error or ngrok_process._exited.is_set():
            _raise_startup_failure(ngrok_process, "The ngrok process was unable to start.")
        if startup_settled() and ngrok_process.healthy():
            return
        time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))


def _raise_startup_failure(ngrok_process: NgrokProcess, reason: str) -> None:
    # Give the agent a moment to finish writing its error to stderr before we read what it said.
    if ngrok_process.proc.poll() is not None:
        for reader in ngrok_process._readers:
            reader.join(_READER_JOIN_SECONDS)
    error = ngrok_process.startup_error
    if error is None and ngrok_process.proc.poll() is not None:
        error = f"ngrok exited with code {ngrok_process.proc.returncode}"
    message = f"The ngrok process errored on start: {error}." if error else reason
    if error and _TOO_OLD_AGENT_CODES.intersection(_NGROK_ERROR_CODE.findall(error)):
        message += (
            " This ngrok agent is too old for ngrok's service: run ngrok.update(), or delete "
            f"{ngrok_process.pyngrok_config.ngrok_path} so that pyngrok installs a current one."
        )
    secrets = (ngrok_process.pyngrok_config.auth_token, ngrok_process.pyngrok_config.api_key)
    raise PyngrokNgrokError(_redact(message, secrets), list(ngrok_process.logs), _redact(error, secrets) if error else None)

# ======================================================================================================
# API client: requests to the agent's local HTTP API
# ======================================================================================================

_api_logger = logging.getLogger("pyngrok.ngrok")

# Statuses the agent answers while its session is still coming up ("tunnel session not ready yet", "a
# successful ngrok tunnel session has not yet been established"): worth a retry when creating a tunnel.
_TRANSIENT_STATUSES = frozenset({502, 503})
_CREATE_RETRY_DELAYS = (0.25, 0.5, 1.0)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def api_request(
    url: str,
    method: str = "GET",
    data: Optional[Dict[str, Any]] = None,
    params: Optional[Dict[str, Any]] = None,
    timeout: float = 4,
    auth: Optional[str] = None,
) -> Dict[str, Any]:
    """Make a request to the given URL (usually the agent's API) and return the JSON it answers.

    :param url: The request URL; only ``http`` and ``https`` are allowed.
    :param method: The HTTP method.
    :param data: The request body, sent as JSON.
    :param params: Query parameters to add to the URL.
    :param timeout: Seconds to wait for the answer.
    :param auth: A bearer token for an ``Authorization`` header.
    :return: The decoded JSON answer; ``{}`` for an empty answer.
    :raises PyngrokSecurityError: When the URL is not ``http`` or ``https``.
    :raises PyngrokNgrokHTTPError: When the answer has an error status.
    :raises PyngrokNgrokURLError: When no answer comes (refused, timed out).
    :raises PyngrokNgrokError: When the answer is not JSON.
    """
    if not url.lower().startswith(("http://", "https://")):
        raise PyngrokSecurityError(f'URL must start with "http": {url}')
    if params:
        url = f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(params)}"
    body = json.dumps(data).encode("utf-8") if data else None
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Ngrok-Version"] = "2"
        headers["Authorization"] = f"Bearer {auth}"

    _api_logger.debug("Making %s request to %s", method, url)
    status, reason, text = _http_exchange(method.upper(), url, body, headers, timeout)
    _api_logger.debug("Response %s: %s", status, text.strip()[:1000])
    if not 200 <= status < 300:
        raise PyngrokNgrokHTTPError(
            f"ngrok client exception, API returned {status}: {text}", url, status, reason, headers, text
        )
    if status == 204 or not text.strip():
        return {}
    try:
        decoded: Dict[str, Any] = json.loads(text)
    except ValueError:
        raise PyngrokNgrokError(f"ngrok API at {url} answered {status} with invalid JSON: {text[:200]!r}") from None
    return decoded


def _http_exchange(
    method: str, url: str, body: Optional[bytes], headers: Dict[str, str], timeout: float
) -> Tuple[int, str, str]:
    """Send one request and read the whole answer: ``(status, reason, body text)``.

    The agent's API is on loopback, where ``http.client`` is used directly (no proxy may intercept it, and
    it is cheaper than ``urllib``); other hosts go through ``urllib`` so environment proxies apply.
    """
    parts = urlsplit(url)
    try:
        if parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK_HOSTS:
            return _loopback_exchange(method, parts, body, headers, timeout)
        return _urllib_exchange(method, url, body, headers, timeout)
    except OSError as error:  # refused, reset, timed out (socket.timeout is an OSError)
        reason = "timed out" if isinstance(error, TimeoutError) or "timed out" in str(error) else error
        raise PyngrokNgrokURLError(f"ngrok client exception, URLError: {reason}", reason) from None
    except http.client.HTTPException as error:
        raise PyngrokNgrokURLError(f"ngrok client exception, URLError: {error!r}", error) from None


def _loopback_exchange(
    method: str, parts: Any, body: Optional[bytes], headers: Dict[str, str], timeout: float
) -> Tuple[int, str, str]:
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
    try:
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        connection.request(method, target, body, headers)
        response = connection.getresponse()
        return response.status, response.reason, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def _urllib_exchange(
    method: str, url: str, body: Optional[bytes], headers: Dict[str, str], timeout: float
) -> Tuple[int, str, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.reason, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, str(error.reason), error.read().decode("utf-8", "replace")
    except urllib.error.URLError as error:
        reason = error.reason
        raise PyngrokNgrokURLError(f"ngrok client exception, URLError: {reason}", reason) from None

# ======================================================================================================
# Tunnels: the ``pyngrok.ngrok`` functions
# ======================================================================================================

class NgrokTunnel:
    """A tunnel (v2) or endpoint (v3) of the agent.

    Usable as a context manager: ``with ngrok.connect(8000) as tunnel:`` disconnects it on exit.

    :param data: The tunnel as the agent's API described it.
    :param pyngrok_config: The config of the agent that runs it.
    :param api_url: The URL of that agent's API.
    """

    def __init__(self, data: Dict[str, Any], pyngrok_config: PyngrokConfig, api_url: Optional[str]) -> None:
        #: The config of the agent that runs the tunnel.
        self.pyngrok_config: PyngrokConfig = pyngrok_config
        self._load(data, api_url)

    def _load(self, data: Dict[str, Any], api_url: Optional[str]) -> None:
        #: The tunnel as the agent's API described it.
        self.data: Dict[str, Any] = data
        #: The URL of that agent's API.
        self.api_url: Optional[str] = api_url
        #: The ID of the tunnel.
        self.id: Optional[str] = data.get("ID", data.get("id"))
        #: The name of the tunnel.
        self.name: Optional[str] = data.get("name")
        #: The protocol of the tunnel.
        self.proto: Optional[str] = data.get("proto")
        #: The path of the tunnel in the agent's API.
        self.uri: Optional[str] = data.get("uri") or self._default_uri()
        #: The public URL of the tunnel.
        self.public_url: Optional[str] = data.get("public_url", data.get("url"))
        if self.proto is None and self.public_url and "://" in self.public_url:
            self.proto = self.public_url.split("://", 1)[0]
        #: The ``config`` block of a v2 tunnel (``{"addr": ..., "inspect": ...}``); empty for endpoints.
        self.config: Dict[str, Any] = data.get("config") or {}
        #: Where the tunnel forwards to (``{"url": "http://localhost:8000", ...}``).
        self.upstream: Dict[str, Any] = data.get("upstream") or (
            {"url": self.config["addr"]} if self.config.get("addr") else {}
        )
        #: The tunnel's metrics, as of the last refresh.
        self.metrics: Dict[str, Any] = data.get("metrics") or {}

    def _default_uri(self) -> Optional[str]:
        name = self.data.get("name")
        if not name:
            return None
        return f"{_api_path(self.pyngrok_config)}/{quote(name, safe='')}"

    def _upstream_url(self) -> Optional[str]:
        return self.upstream.get("url") or self.config.get("addr")

    def __repr__(self) -> str:
        upstream = self._upstream_url()
        return f'<NgrokTunnel: "{self.public_url}" -> "{upstream}">' if upstream else "<pending Tunnel>"

    def __str__(self) -> str:
        upstream = self._upstream_url()
        return f'NgrokTunnel: "{self.public_url}" -> "{upstream}"' if upstream else "<pending Tunnel>"

    def __enter__(self) -> NgrokTunnel:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.public_url:
            disconnect(self.public_url, self.pyngrok_config)

    async def __aenter__(self) -> NgrokTunnel:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self.public_url:
            await _run_in_thread(disconnect, self.public_url, self.pyngrok_config)

    def refresh_metrics(self) -> None:
        """Fetch the tunnel's latest metrics from the agent into ``metrics``.

        :raises PyngrokError: When the agent's answer holds no ``metrics``.
        """
        _api_logger.info("Refreshing metrics for tunnel: %s", self.public_url)
        data = api_request(f"{self.api_url}{self.uri}", method="GET", timeout=self.pyngrok_config.request_timeout)
        if "metrics" not in data:
            raise PyngrokError('The ngrok API did not return "metrics" in the response')
        self.data["metrics"] = data["metrics"]
        self.metrics = data["metrics"]


class NgrokApiResponse:
    """The answer of an ``ngrok api`` command.

    :param status: The text before the JSON (the status line).
    :param data: The decoded JSON, if any.
    """

    def __init__(self, status: str, data: Optional[Dict[str, Any]]) -> None:
        #: The description of the response.
        self.status: str = status
        #: The parsed API response.
        self.data: Optional[Dict[str, Any]] = data

    @staticmethod
    def from_body(body: str) -> NgrokApiResponse:
        """Build a response from the output of ``ngrok api``.

        :param body: The output.
        :return: The response.
        :raises PyngrokNgrokError: When the JSON part cannot be decoded.
        """
        json_starts = body.find("{")
        if json_starts < 0:
            return NgrokApiResponse(body, None)
        try:
            data = json.loads(body[json_starts:])
        except ValueError:
            raise PyngrokNgrokError(f"ngrok api printed invalid JSON: {body[:200]!r}") from None
        return NgrokApiResponse(body[:json_starts], data)


# Open tunnels by public URL, across all agents this module runs.
_current_tunnels: Dict[str, NgrokTunnel] = {}
_tunnels_lock = threading.RLock()


def _api_path(pyngrok_config: PyngrokConfig) -> str:
    return "/api/endpoints" if pyngrok_config.config_version == "3" else "/api/tunnels"


def install_ngrok(pyngrok_config: Optional[PyngrokConfig] = None) -> None:
    """Install the ``ngrok`` binary and a default config file, where either is missing.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :raises PyngrokNgrokInstallError: When the binary cannot be installed.
    """
    pyngrok_config = pyngrok_config or get_default()
    if not os.path.exists(pyngrok_config.ngrok_path):
        _install_ngrok_binary(pyngrok_config.ngrok_path, pyngrok_config.ngrok_version)
    config_path = get_config_path(pyngrok_config)
    if not os.path.exists(config_path):
        install_default_config(
            config_path, ngrok_version=pyngrok_config.ngrok_version, config_version=pyngrok_config.config_version
        )


def set_auth_token(token: str, pyngrok_config: Optional[PyngrokConfig] = None) -> None:
    """Save the authtoken in the ngrok config file, installing ``ngrok`` first if needed.

    The file is edited directly; the token never appears on a command line.

    :param token: The authtoken.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    """
    pyngrok_config = pyngrok_config or get_default()
    install_ngrok(pyngrok_config)
    _process_set_auth_token(pyngrok_config, token)


def set_api_key(key: str, pyngrok_config: Optional[PyngrokConfig] = None) -> None:
    """Save the API key in the ngrok config file, installing ``ngrok`` first if needed.

    :param key: The API key.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    """
    pyngrok_config = pyngrok_config or get_default()
    install_ngrok(pyngrok_config)
    _process_set_api_key(pyngrok_config, key)


def get_ngrok_process(pyngrok_config: Optional[PyngrokConfig] = None) -> NgrokProcess:
    """Get the running agent, installing and starting it first if needed.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The running agent.
    :raises PyngrokNgrokError: When the agent fails to start.
    """
    pyngrok_config = pyngrok_config or get_default()
    install_ngrok(pyngrok_config)
    return get_process(pyngrok_config)


def connect(
    addr: Optional[str] = None,
    proto: Optional[Union[str, int]] = None,
    name: Optional[str] = None,
    pyngrok_config: Optional[PyngrokConfig] = None,
    **options: Any,
) -> NgrokTunnel:
    """Open a tunnel to the given local address and return it.

    With ``config_version="3"`` an endpoint is created (``/api/endpoints``) and v2 arguments (``addr``,
    ``proto``) become its ``upstream``; with ``"2"`` a tunnel (``/api/tunnels``). When ``name`` matches a
    definition in the config file (``tunnels`` or ``endpoints``) it is the base of the tunnel, overridden by
    ``options``, and the tunnel is named ``<name>-api``; with no ``name``, a ``pyngrok-default`` definition
    is used if there is one.

    :param addr: The local port, address or ``file://`` URL to forward to (default ``"80"``).
    :param proto: The protocol, ``http`` (default), ``tcp`` or ``tls``.
    :param name: A name for the tunnel, or the name of a definition in the config file.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :param options: Further tunnel options for the agent.
    :return: The tunnel.
    :raises PyngrokError: When the options do not fit ``config_version`` or the agent gives no public URL.
    :raises PyngrokNgrokHTTPError: When the agent refuses the tunnel.
    """
    pyngrok_config = pyngrok_config or get_default()
    if pyngrok_config.config_version != "3":
        v3_only = sorted(key for key in ("upstream", "bindings") if key in options)
        if v3_only:
            raise PyngrokError(
                f'Options {v3_only} require config_version="3". Set PyngrokConfig.config_version="3" to use these.'
            )
    _interpolate_tunnel_definition(pyngrok_config, options, addr, proto, name)
    _upgrade_legacy_params(pyngrok_config, options)

    _api_logger.info("Opening tunnel named: %s", options.get("name"))
    ngrok_process = get_ngrok_process(pyngrok_config)
    tunnel = _open_tunnel(ngrok_process, _api_path(pyngrok_config), options)
    return tunnel


def _open_tunnel(
    ngrok_process: NgrokProcess, api_path: str, options: Dict[str, Any], tunnel: Optional[NgrokTunnel] = None
) -> NgrokTunnel:
    """Create the tunnel on the agent; reload ``tunnel`` in place when re-opening it after a restart."""
    pyngrok_config = ngrok_process.pyngrok_config
    data = _create_tunnel(f"{ngrok_process.api_url}{api_path}", options, pyngrok_config)
    if tunnel is None:
        tunnel = NgrokTunnel(data, pyngrok_config, ngrok_process.api_url)
    else:
        tunnel._load(data, ngrok_process.api_url)
    if tunnel.public_url is None:
        raise PyngrokError(
            f'"public_url" was not populated for tunnel {tunnel}, but is required for pyngrok to function.'
        )
    with _tunnels_lock:
        _current_tunnels[tunnel.public_url] = tunnel
        ngrok_process._opened[str(options.get("name"))] = (api_path, dict(options), tunnel)
    return tunnel


def _reopen_tunnels(dead: NgrokProcess, fresh: NgrokProcess) -> None:
    """Open on ``fresh`` every tunnel that was open on ``dead``, keeping the user's tunnel objects."""
    with _tunnels_lock:
        opened = list(dead._opened.values())
        for _, _, tunnel in opened:
            _current_tunnels.pop(str(tunnel.public_url), None)
    for api_path, options, tunnel in opened:
        if options.get("name") not in fresh._opened:
            _open_tunnel(fresh, api_path, options, tunnel)


def _create_tunnel(url: str, options: Dict[str, Any], pyngrok_config: PyngrokConfig) -> Dict[str, Any]:
    for delay in (*_CREATE_RETRY_DELAYS, None):
        try:
            return api_request(url, method="POST", data=options, timeout=pyngrok_config.request_timeout)
        except PyngrokNgrokHTTPError as error:
            if error.status_code not in _TRANSIENT_STATUSES or delay is None:
                raise
            _api_logger.info("The agent is not ready for tunnels yet (%s); retrying", error.status_code)
            time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _read_config_for(pyngrok_config: PyngrokConfig) -> Dict[str, Any]:
    """The user's ngrok config file as a dict (the seam where named definitions are read)."""
    config_path = get_config_path(pyngrok_config)
    with config_file_lock:
        if os.path.exists(config_path):
            return get_ngrok_config(config_path, ngrok_version=pyngrok_config.ngrok_version)
    return get_default_config(pyngrok_config.ngrok_version, pyngrok_config.config_version)


def _find_definition(
    pyngrok_config: PyngrokConfig, config: Dict[str, Any], name: Optional[str]
) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
    """Find the config file's definition for ``name`` (or ``pyngrok-default``): ``(name, definition)``."""
    wanted = name or "pyngrok-default"
    if pyngrok_config.config_version == "3":
        for definition in config.get("endpoints") or []:
            if isinstance(definition, dict) and definition.get("name") == wanted:
                return wanted, definition
    tunnels = config.get("tunnels") or {}
    if isinstance(tunnels, dict) and isinstance(tunnels.get(wanted), dict):
        return wanted, tunnels[wanted]
    return name, None


def _interpolate_tunnel_definition(
    pyngrok_config: PyngrokConfig,
    options: Dict[str, Any],
    addr: Optional[str] = None,
    proto: Optional[Union[str, int]] = None,
    name: Optional[str] = None,
) -> None:
    addr_or_proto_given = addr is not None or proto is not None
    upstream_given = "upstream" in options
    name, definition = _find_definition(pyngrok_config, _read_config_for(pyngrok_config), name)
    if definition is not None:
        _api_logger.info("Tunnel definition %s found in the config file", name)
        addr = addr or definition.get("addr")
        proto = proto or definition.get("proto")
        merged = {key: value for key, value in definition.items() if key != "name"}
        merged.update(options)
        options.clear()
        options.update(merged)
        name = f"{name}-api"

    addr = str(addr) if addr else "80"
    proto = str(proto) if proto else "http"
    if not name:
        where = "file" if addr.startswith("file://") else addr
        name = f"{proto}-{where}-{uuid.uuid4()}"
    options["name"] = name

    if pyngrok_config.config_version == "3":
        if (addr_or_proto_given and not upstream_given) or "upstream" not in options:
            options["upstream"] = {"url": _upstream_url(addr, proto)}
        if proto in ("tcp", "tls"):
            options.setdefault("url", f"{proto}://")
            options.setdefault("inspect", False)
        options.pop("addr", None)
        options.pop("proto", None)
    else:
        options["addr"] = addr
        options["proto"] = proto


def _upstream_url(addr: str, proto: str) -> str:
    if "://" in addr:
        return addr
    return f"localhost:{addr}" if proto in ("tcp", "tls") else f"http://localhost:{addr}"


def _upgrade_legacy_params(pyngrok_config: PyngrokConfig, options: Dict[str, Any]) -> None:
    """Translate v2 options that v3 agents renamed: ``bind_tls`` to ``schemes``, ``auth`` to ``basic_auth``."""
    if pyngrok_config.ngrok_version != "3":
        return
    if "bind_tls" in options:
        bind_tls = options.pop("bind_tls")
        if bind_tls in (True, "true"):
            options["schemes"] = ["https"]
        elif bind_tls in (False, "false"):
            options["schemes"] = ["http"]
        else:
            options["schemes"] = ["http", "https"]
    if "auth" in options:
        auth = options.pop("auth")
        options["basic_auth"] = auth if isinstance(auth, list) else [auth]


def connect_all(pyngrok_config: Optional[PyngrokConfig] = None) -> List[NgrokTunnel]:
    """Open a tunnel for every definition in the config file (except ``pyngrok-default``).

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The tunnels.
    """
    pyngrok_config = pyngrok_config or get_default()
    if not os.path.exists(get_config_path(pyngrok_config)):
        return []
    config = _read_config_for(pyngrok_config)
    tunnels = config.get("tunnels") or {}
    names = list(tunnels) if isinstance(tunnels, dict) else []
    if pyngrok_config.config_version == "3":
        endpoints = config.get("endpoints") or []
        names = [item.get("name") for item in endpoints if isinstance(item, dict)] + names
    return [
        connect(name=name, pyngrok_config=pyngrok_config) for name in names if name and name != "pyngrok-default"
    ]


def disconnect(public_url: str, pyngrok_config: Optional[PyngrokConfig] = None) -> None:
    """Close the tunnel with the given public URL, if it is open.

    :param public_url: The public URL of the tunnel.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    """
    pyngrok_config = pyngrok_config or get_default()
    if not is_process_running(pyngrok_config.ngrok_path):
        _api_logger.debug("ngrok_path %s is not running a process", pyngrok_config.ngrok_path)
        return
    api_url = get_ngrok_process(pyngrok_config).api_url
    with _tunnels_lock:
        tunnel = _current_tunnels.get(public_url)
    if tunnel is None:
        tunnel = next((t for t in get_tunnels(pyngrok_config) if t.public_url == public_url), None)
        if tunnel is None:
            return
    _api_logger.info("Disconnecting tunnel: %s", tunnel.public_url)
    try:
        api_request(f"{api_url}{tunnel.uri}", method="DELETE", timeout=pyngrok_config.request_timeout)
    except PyngrokNgrokHTTPError as error:
        if error.status_code != 404:
            raise
        _api_logger.debug("Tunnel %s was already gone", public_url)
    with _tunnels_lock:
        _current_tunnels.pop(public_url, None)
        for ngrok_process in list(_current_processes.values()):
            ngrok_process._opened.pop(str(tunnel.name), None)


def get_tunnels(pyngrok_config: Optional[PyngrokConfig] = None) -> List[NgrokTunnel]:
    """Get the open tunnels of the agent, starting it first if needed.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The tunnels.
    :raises PyngrokError: When a tunnel has no public URL.
    """
    pyngrok_config = pyngrok_config or get_default()
    api_url = get_ngrok_process(pyngrok_config).api_url
    response = api_request(f"{api_url}{_api_path(pyngrok_config)}", method="GET",
                           timeout=pyngrok_config.request_timeout)
    list_keys = ("endpoints", "tunnels") if pyngrok_config.config_version == "3" else ("tunnels",)
    items = next((response[key] for key in list_keys if isinstance(response.get(key), list)), [])
    tunnels = [NgrokTunnel(item, pyngrok_config, api_url) for item in items if isinstance(item, dict)]
    for tunnel in tunnels:
        if tunnel.public_url is None:
            raise PyngrokError(
                f'"public_url" was not populated for tunnel {tunnel}, but is required for pyngrok to function.'
            )
    with _tunnels_lock:
        for public_url in [url for url, t in _current_tunnels.items() if t.api_url == api_url]:
            del _current_tunnels[public_url]
        _current_tunnels.update((str(tunnel.public_url), tunnel) for tunnel in tunnels)
    return tunnels


def kill(pyngrok_config: Optional[PyngrokConfig] = None) -> None:
    """Stop the agent for the config's ``ngrok_path``, if it runs, and forget its tunnels.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    """
    pyngrok_config = pyngrok_config or get_default()
    with _current_processes_lock:
        ngrok_process = _current_processes.get(pyngrok_config.ngrok_path)
    kill_process(pyngrok_config.ngrok_path)
    if ngrok_process is not None:
        with _tunnels_lock:
            for public_url in [url for url, t in _current_tunnels.items() if t.api_url == ngrok_process.api_url]:
                del _current_tunnels[public_url]


def wait(pyngrok_config: Optional[PyngrokConfig] = None, timeout: Optional[float] = None) -> Optional[int]:
    """Block while the agent runs, for scripts that only keep their tunnels up; then stop the agent.

    Returns when the agent exits (with supervision on: when supervision gives up), when the program is
    interrupted (Ctrl-C or SIGTERM, without a traceback) or after ``timeout`` seconds. The agent is
    stopped on the way out in every case.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :param timeout: Seconds to wait at most; ``None`` waits for ever.
    :return: The agent's exit code, or ``None`` when interrupted or timed out.
    """
    import signal

    pyngrok_config = pyngrok_config or get_default()
    deadline = None if timeout is None else time.monotonic() + timeout
    stop = threading.Event()
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGTERM, lambda *_: stop.set()) if in_main_thread else None
    exit_code: Optional[int] = None
    try:
        while not stop.wait(0.1):
            with _current_processes_lock:
                ngrok_process = _current_processes.get(pyngrok_config.ngrok_path)
            supervised = pyngrok_config.ngrok_path in _supervisors
            if ngrok_process is not None and ngrok_process._exited.is_set() and not supervised:
                exit_code = ngrok_process.proc.returncode
                break
            if (ngrok_process is None and not supervised) or (deadline and time.monotonic() >= deadline):
                break
    except KeyboardInterrupt:
        _api_logger.info("Interrupted; stopping ngrok")
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous_handler)
        kill(pyngrok_config)
    return exit_code


def api(*args: Any, pyngrok_config: Optional[PyngrokConfig] = None) -> NgrokApiResponse:
    """Run ``ngrok api`` with the given arguments (needs an API key).

    The API key reaches the agent through a private config overlay, never its command line.

    :param args: The arguments for ``ngrok api``.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The response.
    :raises PyngrokNgrokError: When ``ngrok`` exits with an error.
    """
    pyngrok_config = pyngrok_config or get_default()
    config_path = get_config_path(pyngrok_config)
    overlay_dir = _write_overlay(pyngrok_config, config_path, api_key=pyngrok_config.api_key)
    try:
        config_args = ["--config", config_path] if os.path.exists(config_path) else []
        command = ["api", *(str(arg) for arg in args), *config_args, *_overlay_args(overlay_dir)]
        _api_logger.info('Executing "ngrok api" command with args: %s', args)
        output = _capture_run(pyngrok_config.ngrok_path, command, (pyngrok_config.api_key, pyngrok_config.auth_token))
    finally:
        if overlay_dir:
            _remove_tree(overlay_dir)
    return NgrokApiResponse.from_body(output)


def get_version(pyngrok_config: Optional[PyngrokConfig] = None) -> Tuple[str, str]:
    """Get the versions of ``ngrok`` and of this library.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: ``(ngrok_version, pyngrok_version)``.
    """
    pyngrok_config = pyngrok_config or get_default()
    install_ngrok(pyngrok_config)
    output = capture_run_process(pyngrok_config.ngrok_path, ["--version"])
    return output.split("version ", 1)[-1].strip(), __version__


def update(pyngrok_config: Optional[PyngrokConfig] = None) -> str:
    """Update ``ngrok``, if an update is available.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: What ``ngrok update`` printed.
    """
    pyngrok_config = pyngrok_config or get_default()
    install_ngrok(pyngrok_config)
    return capture_run_process(pyngrok_config.ngrok_path, ["update"])


def run(args: Optional[List[str]] = None, pyngrok_config: Optional[PyngrokConfig] = None) -> int:
    """Install ``ngrok`` if needed, then run it with the given arguments, blocking until it exits.

    :param args: The arguments for ``ngrok``.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The exit code of ``ngrok``.
    """
    pyngrok_config = pyngrok_config or get_default()
    install_ngrok(pyngrok_config)
    return run_process(pyngrok_config.ngrok_path, list(args or []))

# ======================================================================================================
# Agent inspection: status and captured requests
# ======================================================================================================

class NgrokAgent:
    """The status of the running agent (``/api/status``).

    :param data: The agent's answer.
    """

    def __init__(self, data: Dict[str, Any]) -> None:
        #: The agent's answer.
        self.data: Dict[str, Any] = data
        #: The status of the agent's session.
        self.status: Optional[str] = data.get("status")
        #: The version of the agent.
        self.agent_version: Optional[str] = data.get("agent_version")
        #: The session's details.
        self.session: Any = data.get("session")
        #: The path of the status in the agent's API.
        self.uri: Optional[str] = data.get("uri")

    def __repr__(self) -> str:
        return f'<NgrokAgent: "{self.uri}">'

    def __str__(self) -> str:
        return f'NgrokAgent: "{self.uri}"'


class CapturedRequest:
    """A request the agent captured (``/api/requests/http``).

    :param data: The agent's description of the request.
    """

    def __init__(self, data: Dict[str, Any]) -> None:
        #: The agent's description of the request.
        self.data: Dict[str, Any] = data
        #: The ID of the request.
        self.id: Optional[str] = data.get("id")
        #: The path of the request in the agent's API.
        self.uri: Optional[str] = data.get("uri")
        #: The name of the tunnel that carried it.
        self.tunnel_name: Optional[str] = data.get("tunnel_name")
        #: The client's address.
        self.remote_addr: Optional[str] = data.get("remote_addr")
        #: When the request started (RFC 3339).
        self.start: Optional[str] = data.get("start")
        #: How long it took, in nanoseconds.
        self.duration: Optional[int] = data.get("duration")
        #: The request: method, proto, headers, uri, raw (base64).
        self.request: Any = data.get("request")
        #: The response: status, status_code, proto, headers, raw (base64); ``None`` while pending.
        self.response: Any = data.get("response")

    def __repr__(self) -> str:
        return f'<CapturedRequest: "{self.id}">'

    def __str__(self) -> str:
        return f'CapturedRequest: "{self.id}"'


def _agent_api(pyngrok_config: Optional[PyngrokConfig]) -> Tuple[PyngrokConfig, str]:
    pyngrok_config = pyngrok_config or get_default()
    return pyngrok_config, str(get_ngrok_process(pyngrok_config).api_url)


def get_agent_status(pyngrok_config: Optional[PyngrokConfig] = None) -> NgrokAgent:
    """Get the status of the agent, starting it first if needed.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The agent's status.
    """
    pyngrok_config, api_url = _agent_api(pyngrok_config)
    return NgrokAgent(api_request(f"{api_url}/api/status", "GET", timeout=pyngrok_config.request_timeout))


def get_requests(tunnel_name: Optional[str] = None, pyngrok_config: Optional[PyngrokConfig] = None) -> List[CapturedRequest]:
    """Get the requests the agent captured, for all tunnels or the given one, newest first.

    :param tunnel_name: Only the requests of this tunnel.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The captured requests.
    """
    pyngrok_config, api_url = _agent_api(pyngrok_config)
    params = {"tunnel_name": tunnel_name} if tunnel_name else None
    answer = api_request(f"{api_url}/api/requests/http", "GET", params=params, timeout=pyngrok_config.request_timeout)
    return [CapturedRequest(item) for item in answer.get("requests") or [] if isinstance(item, dict)]


def get_request(request_id: str, pyngrok_config: Optional[PyngrokConfig] = None) -> CapturedRequest:
    """Get one captured request.

    :param request_id: The ID of the request.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The captured request.
    :raises PyngrokNgrokHTTPError: When the agent knows no such request.
    """
    pyngrok_config, api_url = _agent_api(pyngrok_config)
    url = f"{api_url}/api/requests/http/{quote(request_id, safe='')}"
    return CapturedRequest(api_request(url, "GET", timeout=pyngrok_config.request_timeout))


def replay_request(
    request_id: str, tunnel_name: Optional[str] = None, pyngrok_config: Optional[PyngrokConfig] = None
) -> None:
    """Replay a captured request through its tunnel, or through the given tunnel.

    :param request_id: The ID of the request.
    :param tunnel_name: The tunnel to replay it through, instead of its own.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    """
    pyngrok_config, api_url = _agent_api(pyngrok_config)
    data = {"id": request_id, "tunnel_name": tunnel_name}
    api_request(f"{api_url}/api/requests/http", "POST", data=data, timeout=pyngrok_config.request_timeout)


def delete_requests(pyngrok_config: Optional[PyngrokConfig] = None) -> None:
    """Delete the agent's captured requests.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    """
    pyngrok_config, api_url = _agent_api(pyngrok_config)
    api_request(f"{api_url}/api/requests/http", "DELETE", timeout=pyngrok_config.request_timeout)

# ======================================================================================================
# Async: the ``pyngrok.aio`` functions
# ======================================================================================================

# Each ``pyngrok.aio`` function runs its blocking twin in the loop's default executor, so the event loop
# never blocks (``asyncio.to_thread`` would do the same but needs Python 3.9).
_AIO_NAMES: Tuple[str, ...] = (
    "install_ngrok",
    "set_auth_token",
    "set_api_key",
    "get_ngrok_process",
    "connect",
    "connect_all",
    "disconnect",
    "get_tunnels",
    "kill",
    "api",
    "get_version",
    "update",
    "api_request",
    "get_agent_status",
    "get_requests",
    "get_request",
    "replay_request",
    "delete_requests",
)


async def _run_in_thread(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    import asyncio
    import contextvars

    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    return await loop.run_in_executor(None, call)


def _make_async(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        return await _run_in_thread(function, *args, **kwargs)

    in_thread.__doc__ = f"Async version of :func:`{function.__name__}`, run in a worker thread.\n\n{function.__doc__}"
    return in_thread


def _define_async_functions() -> None:
    module_globals = globals()
    for name in _AIO_NAMES:
        module_globals[f"_aio_{name}"] = _make_async(module_globals[name])


_define_async_functions()

# ======================================================================================================
# Module facades: ``pyngrok.ngrok``, ``pyngrok.conf``, ... as views of this one module
# ======================================================================================================

# Each facade maps the upstream submodule's public names to the names they have in this file. Where two
# upstream submodules use one name for different functions (``process.set_auth_token`` and
# ``ngrok.set_auth_token``), the one that is not the ``ngrok`` module's has a private name here.
_FACADES: Dict[str, Dict[str, str]] = {
    "exception": {
        name: name
        for name in (
            "PyngrokError",
            "PyngrokSecurityError",
            "PyngrokNgrokInstallError",
            "PyngrokConfigError",
            "PyngrokNgrokError",
            "PyngrokNgrokHTTPError",
            "PyngrokNgrokURLError",
        )
    },
    "log": {"NgrokLog": "NgrokLog"},
    "conf": {
        name: name
        for name in (
            "PyngrokConfig",
            "get_default",
            "set_default",
            "get_config_path",
            "DEFAULT_CONFIG_PATH",
            "DEFAULT_NGROK_DIR",
            "DEFAULT_NGROK_CONFIG_PATH",
            "DEFAULT_NGROK_PATH",
        )
    },
    "installer": {
        **{
            name: name
            for name in (
                "CDN_URL_PREFIX",
                "PLATFORMS",
                "UNIX_BINARIES",
                "SUPPORTED_NGROK_VERSIONS",
                "DEFAULT_DOWNLOAD_TIMEOUT",
                "DEFAULT_RETRY_COUNT",
                "config_file_lock",
                "get_default_ngrok_dir",
                "get_system",
                "get_arch",
                "get_ngrok_bin",
                "get_ngrok_cdn_url",
                "get_ngrok_config",
                "get_default_config",
                "install_default_config",
                "validate_config",
            )
        },
        "install_ngrok": "_install_ngrok_binary",
    },
    "process": {
        **{
            name: name
            for name in (
                "NgrokProcess",
                "get_process",
                "kill_process",
                "is_process_running",
                "run_process",
                "capture_run_process",
                "NgrokSessionEvent",
                "SESSION_STARTING",
                "SESSION_ONLINE",
                "SESSION_RECONNECTING",
                "SESSION_STOPPED",
            )
        },
        "set_auth_token": "_process_set_auth_token",
        "set_api_key": "_process_set_api_key",
    },
    "ngrok": {
        name: name
        for name in (
            "NgrokTunnel",
            "NgrokApiResponse",
            "install_ngrok",
            "set_auth_token",
            "set_api_key",
            "get_ngrok_process",
            "connect",
            "connect_all",
            "disconnect",
            "get_tunnels",
            "kill",
            "api",
            "get_version",
            "update",
            "api_request",
            "run",
            "main",
            "wait",
        )
    },
    "agent": {
        name: name
        for name in (
            "NgrokAgent",
            "CapturedRequest",
            "get_agent_status",
            "get_requests",
            "get_request",
            "replay_request",
            "delete_requests",
        )
    },
    "aio": {name: f"_aio_{name}" for name in _AIO_NAMES},
}


class _Facade(types.ModuleType):
    """A submodule that is a view of this module: reads and writes go to this module's globals.

    Setting ``conf.DEFAULT_NGROK_PATH`` or monkeypatching ``process.get_process`` through a facade changes
    the one shared state, as it would in upstream's package.
    """

    def __init__(self, name: str, exports: Dict[str, str]) -> None:
        super().__init__(name)
        object.__setattr__(self, "_exports", exports)
        object.__setattr__(self, "__all__", sorted(exports))

    def __getattr__(self, name: str) -> Any:
        exports: Dict[str, str] = object.__getattribute__(self, "_exports")
        if name in exports:
            return globals()[exports[name]]
        raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        exports: Dict[str, str] = object.__getattribute__(self, "_exports")
        if name in exports:
            globals()[exports[name]] = value
        else:
            object.__setattr__(self, name, value)

    def __dir__(self) -> List[str]:
        return sorted(set(super().__dir__()) | set(object.__getattribute__(self, "_exports")))


def _register_facades() -> None:
    this_module = sys.modules[__name__]
    for short_name, exports in _FACADES.items():
        full_name = f"{__name__}.{short_name}"
        facade = sys.modules.get(full_name)
        if not isinstance(facade, _Facade):
            facade = _Facade(full_name, exports)
            sys.modules[full_name] = facade
        setattr(this_module, short_name, facade)


_register_facades()

# ======================================================================================================
# CLI
# ======================================================================================================

def main() -> None:
    """Run ``ngrok`` with the command line's arguments and exit with its exit code.

    Besides ngrok's own commands: ``install`` installs the agent (for air-gapped sites: ``--archive FILE``,
    ``--url URL``, ``--sha256 HEX``), ``schema`` prints the JSON Schema of the ngrok config file, and
    ``version`` and ``help`` also print this library's version.
    """
    sys.exit(_cli(sys.argv[1:]))


def _cli(args: List[str]) -> int:
    command = args[0].lstrip("-") if args else "help"
    if args and args[0] == "install":
        return _installer_cli(args[1:])
    if args and args[0] == "schema":
        sys.stdout.write(_config_schema_json())
        return 0
    try:
        exit_code = run(args)
    except PyngrokError as error:
        sys.stderr.write(f"pyngrok: {error}\n")
        return 1
    if len(args) <= 1 and command in ("help", "h"):
        print(f"\nPYNGROK VERSION:\n   {__version__}")
    elif len(args) == 1 and command in ("v", "version"):
        print(f"pyngrok version {__version__}")
    return exit_code


if __name__ == "__main__":
    main()
