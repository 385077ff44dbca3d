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

# TODO(core): NgrokLog and the logfmt parser.

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

# TODO(core)

# ======================================================================================================
# API client: requests to the agent's local HTTP API
# ======================================================================================================

# TODO(core)

# ======================================================================================================
# Tunnels: the ``pyngrok.ngrok`` functions
# ======================================================================================================

# TODO(core)

# ======================================================================================================
# Agent inspection: status and captured requests
# ======================================================================================================

# TODO(core)

# ======================================================================================================
# Async: the ``pyngrok.aio`` functions
# ======================================================================================================

_AIO_NAMES: Tuple[str, ...] = ()  # TODO(core)

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

# TODO(core)
