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
#
# Security model: a remote download is https only (plain http only when allowed), streamed into a private
# mkstemp file and hashed as it streams; the hash is checked against a pinned SHA-256 or a mirror's
# sidecar. Exactly one regular ``ngrok``/``ngrok.exe`` member is read out of the archive (no extractall)
# into a temp file beside the target, which must answer ``version`` before it is os.replace'd into
# place, so a failed install never touches a working binary. A lock file serialises installers.

# Installer-only imports (hoist into the top import block on merge).
import argparse
import contextlib
import dataclasses
import errno
import hashlib
import hmac
import platform
import ssl
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from typing import IO, BinaryIO, Iterator

_installer_logger = logging.getLogger("pyngrok.installer")

CDN_URL_PREFIX = "https://bin.ngrok.com/c/bNyj1mQVY4c/"
# ngrok v2 is no longer distributed; the legacy path is kept so a mirror prefix (``url=".../"``) that
# still hosts ``ngrok-stable-*`` archives works for ``ngrok_version="2"``.
_CDN_URL_PREFIX_V2 = "https://bin.equinox.io/c/4VmDzA7iaHb/"

# Upstream's platform key -> the ``<os>-<arch>`` and extension in the stable-channel archive name.
_PLATFORM_ARCHIVES: Dict[str, Tuple[str, str]] = {
    "darwin_x86_64": ("darwin-amd64", "zip"),
    "darwin_x86_64_arm": ("darwin-arm64", "zip"),
    "windows_i386": ("windows-386", "zip"),
    "windows_x86_64": ("windows-amd64", "zip"),
    "windows_x86_64_arm": ("windows-arm64", "zip"),
    "linux_i386": ("linux-386", "tgz"),
    "linux_i386_arm": ("linux-arm", "tgz"),
    "linux_x86_64": ("linux-amd64", "tgz"),
    "linux_x86_64_arm": ("linux-arm64", "tgz"),
    "linux_s390x": ("linux-s390x", "tgz"),
    "linux_ppc64": ("linux-ppc64", "tgz"),
    "linux_ppc64le": ("linux-ppc64le", "tgz"),
    "freebsd_i386": ("freebsd-386", "tgz"),
    "freebsd_x86_64": ("freebsd-amd64", "tgz"),
    "freebsd_i386_arm": ("freebsd-arm", "tgz"),
}
PLATFORMS: Dict[str, str] = {
    key: f"{CDN_URL_PREFIX}ngrok-v3-stable-{name}.{ext}" for key, (name, ext) in _PLATFORM_ARCHIVES.items()
}
_PLATFORMS_V2: Dict[str, str] = {
    key: f"{_CDN_URL_PREFIX_V2}ngrok-stable-{name}.zip" for key, (name, _ext) in _PLATFORM_ARCHIVES.items()
}
UNIX_BINARIES = ["darwin", "linux", "freebsd"]

DEFAULT_DOWNLOAD_TIMEOUT = 6
DEFAULT_RETRY_COUNT = 0

#: The largest archive (or bare binary) that will be downloaded.
MAX_NGROK_DOWNLOAD_SIZE = 256 * 1024 * 1024
#: The largest uncompressed archive member accepted; bigger means a zip or gzip bomb.
MAX_NGROK_BINARY_SIZE = 512 * 1024 * 1024
_MAX_ARCHIVE_MEMBERS = 1000
_MAX_SIDECAR_SIZE = 1024 * 1024
_VERSION_CHECK_TIMEOUT = 30.0
_RETRY_BACKOFF_SECONDS = 0.5
_RETRY_BACKOFF_MAX_SECONDS = 8.0
_LOCK_WAIT_SECONDS = 600.0
_CHUNK_SIZE = 256 * 1024
_NGROK_MEMBER_NAMES = ("ngrok", "ngrok.exe")
_TRANSIENT_HTTP_CODES = (408, 425, 429, 500, 502, 503, 504)
_OUTDATED_AGENT_ERRORS = ("ERR_NGROK_120", "ERR_NGROK_121")

# Progress on stderr can be switched off here (upstream's name), with ``quiet=True`` or PYNGROK_QUIET=1.
_print_progress_enabled = True

_SYSTEM_PREFIXES = (
    ("darwin", "darwin"),
    ("windows", "windows"),
    ("cygwin", "windows"),
    ("msys", "windows"),
    ("ming", "windows"),
    ("linux", "linux"),
    ("freebsd", "freebsd"),
)
_ARCH_ALIASES = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "i386": "i386",
    "i486": "i386",
    "i586": "i386",
    "i686": "i386",
    "x86": "i386",
    "aarch64": "x86_64_arm",
    "arm64": "x86_64_arm",
    "s390x": "s390x",
    "ppc64": "ppc64",
    "ppc64le": "ppc64le",
}


class _InstallSecurityError(PyngrokSecurityError, PyngrokNgrokInstallError):
    """A refused install: catchable as either a security error or an install error (as upstream wraps)."""


class _TransientDownloadError(Exception):
    """A download failure worth retrying: a timeout, a dropped connection, a 5xx, a truncated body."""


# --- Platform table -----------------------------------------------------------------------------------


def get_system() -> str:
    """Get the friendly name of this OS: ``darwin``, ``windows``, ``linux`` or ``freebsd``.

    Cygwin, MSYS and MinGW count as ``windows``.

    :return: The friendly name of the OS.
    :raises PyngrokNgrokInstallError: When the OS is not one ngrok ships an agent for.
    """
    system = platform.system().replace(" ", "").lower()
    for prefix, name in _SYSTEM_PREFIXES:
        if system.startswith(prefix):
            return name
    raise PyngrokNgrokInstallError(
        f'"{system}" is not a supported system; install ngrok yourself and set PyngrokConfig.ngrok_path'
    )


def get_arch() -> str:
    """Get this machine's architecture in upstream's naming.

    :return: ``i386`` or ``x86_64`` (with ``_arm`` appended on ARM), ``s390x``, ``ppc64`` or ``ppc64le``; an
        unknown machine is returned as is, which :func:`get_ngrok_cdn_url` then reports as unsupported.
    """
    machine = platform.machine().lower()
    if machine in _ARCH_ALIASES:
        return _ARCH_ALIASES[machine]
    if machine.startswith("arm"):
        return "i386_arm"
    return machine


def get_ngrok_bin() -> str:
    """Get the file name of the ``ngrok`` executable on this OS.

    :return: ``ngrok``, or ``ngrok.exe`` on Windows.
    :raises PyngrokNgrokInstallError: When the OS is not supported.
    """
    return "ngrok" if get_system() in UNIX_BINARIES else "ngrok.exe"


def get_ngrok_cdn_url(ngrok_version: Optional[str]) -> str:
    """Get the CDN URL of the ``ngrok`` archive for this OS and architecture.

    :param ngrok_version: The major version of ``ngrok``, ``"3"`` (or the legacy ``"2"``).
    :return: The archive's URL.
    :raises PyngrokError: When ``ngrok_version`` is not supported.
    :raises PyngrokNgrokInstallError: When this platform is not supported.
    """
    version = _checked_ngrok_version(ngrok_version)
    plat = f"{get_system()}_{get_arch()}"
    table = PLATFORMS if version == "3" else _PLATFORMS_V2
    if plat not in table:
        raise PyngrokNgrokInstallError(f'"{plat}" is not a supported platform')
    return table[plat]


def _checked_ngrok_version(ngrok_version: Optional[str]) -> str:
    version = _strip_v(ngrok_version) if ngrok_version is not None else ""
    if version not in SUPPORTED_NGROK_VERSIONS:
        raise PyngrokError(f'"ngrok_version" must be a supported version: {SUPPORTED_NGROK_VERSIONS}')
    return version


def _outdated_agent_advice(ngrok_error: Optional[str]) -> Optional[str]:
    """Advice for an agent that ngrok's service rejects as too old, for the process code's error messages.

    :param ngrok_error: The agent's error text (may hold an ``ERR_NGROK_<n>`` code).
    :return: A sentence saying how to update or reinstall, or ``None`` when the error is something else.
    """
    if not ngrok_error or not any(code in ngrok_error for code in _OUTDATED_AGENT_ERRORS):
        return None
    return (
        "This ngrok agent is too old for ngrok's service: update it with ngrok.update() (`ngrok update`), "
        "or delete it and reinstall with `python -m pyngrok install` (use --archive/--url on air-gapped hosts)."
    )


# --- Options ------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _InstallOptions:
    url: Optional[str] = None
    archive: Optional[str] = None
    sha256: Optional[str] = None
    allow_http: bool = False
    require_checksum: bool = False
    quiet: bool = False
    timeout: float = DEFAULT_DOWNLOAD_TIMEOUT
    retries: int = DEFAULT_RETRY_COUNT
    context: Optional[ssl.SSLContext] = None


@dataclasses.dataclass
class _InstallResult:
    path: str
    sha256: str
    checksum_origin: Optional[str]
    version_output: str


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _flag_or_env(value: Optional[bool], env_name: str) -> bool:
    return _env_flag(env_name) if value is None else bool(value)


def _install_options(kwargs: Dict[str, Any]) -> _InstallOptions:
    """Merge the keyword arguments of ``install_ngrok`` with the ``PYNGROK_*`` environment defaults."""
    kwargs = dict(kwargs)
    url, archive = _source_options(kwargs.pop("url", None), kwargs.pop("archive", None))
    sha256 = kwargs.pop("sha256", None) or os.environ.get("PYNGROK_NGROK_SHA256") or None
    timeout = kwargs.pop("timeout", None)
    retries = kwargs.pop("retries", None)
    options = _InstallOptions(
        url=url,
        archive=archive,
        sha256=_normalise_sha256(sha256, "the expected SHA-256") if sha256 else None,
        allow_http=_flag_or_env(kwargs.pop("allow_http", None), "PYNGROK_ALLOW_HTTP"),
        require_checksum=_flag_or_env(kwargs.pop("require_checksum", None), "PYNGROK_REQUIRE_CHECKSUM"),
        quiet=_flag_or_env(kwargs.pop("quiet", None), "PYNGROK_QUIET"),
        timeout=DEFAULT_DOWNLOAD_TIMEOUT if timeout is None else float(timeout),
        retries=DEFAULT_RETRY_COUNT if retries is None else max(0, int(retries)),
    )
    options.context = _tls_context(kwargs)
    return options


def _source_options(url: Optional[str], archive: Optional[str]) -> Tuple[Optional[str], Optional[str]]:
    # Arguments win over the environment as a pair, so an argument is never mixed with an env default.
    if url is None and archive is None:
        url = os.environ.get("PYNGROK_NGROK_URL") or None
        archive = os.environ.get("PYNGROK_NGROK_ARCHIVE") or None
    if url and archive:
        raise PyngrokNgrokInstallError("Pass either a URL or a local archive to install ngrok from, not both")
    return url, archive


def _tls_context(kwargs: Dict[str, Any]) -> Optional[ssl.SSLContext]:
    """Build the TLS context from urlopen-style ``context``, ``cafile`` and ``capath`` (or PYNGROK_CA_BUNDLE)."""
    context: Optional[ssl.SSLContext] = kwargs.pop("context", None)
    cafile: Optional[str] = kwargs.pop("cafile", None)
    capath: Optional[str] = kwargs.pop("capath", None)
    kwargs.pop("cadefault", None)
    if kwargs:
        raise TypeError(f"install_ngrok() got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    if context is not None:
        if cafile or capath:
            raise TypeError("install_ngrok() takes either context= or cafile=/capath=, not both")
        return context
    cafile = cafile or os.environ.get("PYNGROK_CA_BUNDLE") or None
    if not cafile and not capath:
        return None
    try:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    except (OSError, ssl.SSLError) as e:
        raise PyngrokNgrokInstallError(f"Cannot load the CA bundle {cafile or capath}: {e}") from e


def _normalise_sha256(value: str, what: str) -> str:
    digest = value.strip().lower()
    if digest.startswith("sha256:"):
        digest = digest[len("sha256:") :]
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise PyngrokNgrokInstallError(f"{what} is not a SHA-256 (64 hex digits): {value!r}")
    return digest


# --- Progress -----------------------------------------------------------------------------------------


def _mib(size: float) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


class _Progress:
    """Download progress: a bar on a TTY stderr, a few plain lines otherwise, and always the log."""

    def __init__(self, quiet: bool) -> None:
        self._stream: IO[str] = sys.stderr
        self._enabled = not quiet and _print_progress_enabled
        self._tty = self._enabled and _is_tty(self._stream)
        self._total: Optional[int] = None
        self._started = 0.0
        self._last_draw = 0.0
        self._logged_quarter = 0
        self._bar_open = False

    def start(self, url: str, total: Optional[int]) -> None:
        self._total, self._started, self._logged_quarter = total, time.monotonic(), 0
        size = f" ({_mib(total)})" if total is not None else ""
        _installer_logger.info("Downloading ngrok from %s%s ...", url, size)
        if not self._tty:
            self.line(f"Downloading ngrok from {url}{size} ...")

    def update(self, done: int) -> None:
        if self._total:
            quarter = 4 * done // self._total
            if quarter > self._logged_quarter:
                self._logged_quarter = quarter
                _installer_logger.debug("Downloaded %d%% of ngrok", 25 * quarter)
        now = time.monotonic()
        if self._tty and now - self._last_draw >= 0.1:
            self._last_draw, self._bar_open = now, True
            self._write(f"\r{self._bar(done, now)}")

    def finish(self, done: int) -> None:
        elapsed = max(time.monotonic() - self._started, 1e-6)
        summary = f"Downloaded ngrok: {_mib(done)} in {elapsed:.1f} s ({_mib(done / elapsed)}/s)"
        _installer_logger.info(summary)
        if self._tty:
            self._write(f"\r{self._bar(done, time.monotonic())}\n")
            self._bar_open = False
        else:
            self.line(summary)

    def interrupted(self) -> None:
        """End a bar that a failed attempt left half drawn, so the next output starts on its own line."""
        if self._bar_open:
            self._write("\n")
            self._bar_open = False

    def line(self, message: str) -> None:
        if self._enabled:
            self._write(f"{message}\n")

    def _bar(self, done: int, now: float) -> str:
        speed = f"{_mib(done / max(now - self._started, 1e-6))}/s"
        if not self._total:
            return f"Downloading ngrok  {_mib(done)}  {speed}"
        fraction = min(done / self._total, 1.0)
        filled = int(fraction * 30)
        bar = "#" * filled + "-" * (30 - filled)
        return f"Downloading ngrok [{bar}] {fraction * 100:3.0f}%  {_mib(done)}/{_mib(self._total)}  {speed}"

    def _write(self, text: str) -> None:
        with contextlib.suppress(AttributeError, OSError, ValueError):  # no stderr (pythonw), or closed
            self._stream.write(text)
            self._stream.flush()


def _is_tty(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


# --- Download -----------------------------------------------------------------------------------------


def _check_url_scheme(url: str, allow_http: bool, what: str = "URL") -> None:
    scheme = urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and allow_http):
        return
    hint = " (pass allow_http=True / --allow-http for a plain-http mirror)" if scheme == "http" else ""
    raise _InstallSecurityError(f"Refusing to download ngrok from {what} {url!r}: only https is allowed{hint}")


class _SchemeCheckingRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects only to https (or http when allowed): no downgrade to plain http."""

    def __init__(self, allow_http: bool) -> None:
        super().__init__()
        self._allow_http = allow_http

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> Optional[urllib.request.Request]:
        _check_url_scheme(newurl, self._allow_http, what="redirect target")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _open_url(url: str, options: _InstallOptions) -> http.client.HTTPResponse:
    """Open ``url`` through the environment's proxies; a failure worth retrying is a _TransientDownloadError."""
    _check_url_scheme(url, options.allow_http)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=options.context), _SchemeCheckingRedirectHandler(options.allow_http)
    )
    request = urllib.request.Request(url, headers={"User-Agent": f"pyngrok/{__version__}"})
    try:
        response: http.client.HTTPResponse = opener.open(request, timeout=options.timeout)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code in _TRANSIENT_HTTP_CODES:
            raise _TransientDownloadError(f"HTTP {e.code} {e.reason}") from e
        raise PyngrokNgrokInstallError(f"Download of {url} failed: HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLCertVerificationError):
            raise PyngrokNgrokInstallError(
                f"TLS verification of {url} failed: {e.reason}; behind a TLS-intercepting proxy, pass the "
                "corporate CA bundle with cafile= / --ca-bundle / PYNGROK_CA_BUNDLE"
            ) from e
        raise _TransientDownloadError(str(e.reason)) from e
    except (OSError, http.client.HTTPException) as e:
        raise _TransientDownloadError(str(e) or type(e).__name__) from e
    if response.status != 200:
        response.close()
        raise PyngrokNgrokInstallError(f"Download of {url} failed: HTTP {response.status} {response.reason}")
    return response


def _content_length(response: http.client.HTTPResponse) -> Optional[int]:
    value = response.getheader("Content-Length")
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


def _stream_to_file(response: http.client.HTTPResponse, file: BinaryIO, url: str, progress: _Progress) -> str:
    """Copy the body into ``file`` while hashing it; return the SHA-256 hex digest."""
    length = _content_length(response)
    if length is not None and length > MAX_NGROK_DOWNLOAD_SIZE:
        raise _InstallSecurityError(f"Refusing to download {url}: {length} bytes is over the size cap")
    digest, received = hashlib.sha256(), 0
    progress.start(url, length)
    while True:
        chunk = _read_chunk(response, received)
        if not chunk:
            break
        received += len(chunk)
        if received > MAX_NGROK_DOWNLOAD_SIZE:
            raise _InstallSecurityError(f"Refusing to download {url}: the body is over the size cap")
        digest.update(chunk)
        file.write(chunk)
        progress.update(received)
    if length is not None and received != length:
        raise _TransientDownloadError(f"truncated download: received {received} of {length} bytes")
    progress.finish(received)
    return digest.hexdigest()


def _read_chunk(response: http.client.HTTPResponse, received: int) -> bytes:
    try:
        return response.read(_CHUNK_SIZE)
    except (OSError, http.client.HTTPException) as e:
        raise _TransientDownloadError(f"connection failed after {received} bytes: {e or type(e).__name__}") from e


def _download(url: str, file: BinaryIO, options: _InstallOptions, progress: _Progress) -> str:
    """Download ``url`` into ``file``, retrying transient failures with back-off; return its SHA-256."""
    attempts = options.retries + 1
    for attempt in range(1, attempts + 1):
        file.seek(0)
        file.truncate()
        try:
            with contextlib.closing(_open_url(url, options)) as response:
                return _stream_to_file(response, file, url, progress)
        except _TransientDownloadError as e:
            if attempt == attempts:
                raise PyngrokNgrokInstallError(f"Download of {url} failed after {attempts} attempt(s): {e}") from e
            delay = min(_RETRY_BACKOFF_SECONDS * 2 ** (attempt - 1), _RETRY_BACKOFF_MAX_SECONDS)
            _installer_logger.warning(
                "Download of %s failed (%s); retrying in %.1f s (attempt %d of %d)", url, e, delay, attempt, attempts
            )
        finally:
            progress.interrupted()
        time.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _fetch_small(url: str, options: _InstallOptions) -> Optional[bytes]:
    """Fetch a small file (a checksum sidecar); ``None`` when it is not there or cannot be fetched."""
    try:
        with contextlib.closing(_open_url(url, options)) as response:
            body = response.read(_MAX_SIDECAR_SIZE + 1)
    except PyngrokSecurityError:
        raise
    except (PyngrokNgrokInstallError, _TransientDownloadError, OSError, http.client.HTTPException) as e:
        _installer_logger.debug("No checksum at %s: %s", url, e)
        return None
    return body if len(body) <= _MAX_SIDECAR_SIZE else None


# --- Checksums ----------------------------------------------------------------------------------------


def _parse_sha256_sidecar(text: str) -> Optional[str]:
    """The digest in a ``<archive>.sha256`` file: ``<hex>`` or ``<hex>  <name>`` (sha256sum's format)."""
    for token in text.split():
        if re.fullmatch(r"[0-9a-fA-F]{64}", token):
            return token.lower()
    return None


def _parse_sha256sums(text: str, name: str) -> Optional[str]:
    """The digest for ``name`` in a ``SHA256SUMS`` file (``<hex>  <name>`` or ``<hex> *<name>`` lines)."""
    for line in text.splitlines():
        match = re.fullmatch(r"\s*([0-9a-fA-F]{64})\s+\*?(.+?)\s*", line)
        if match and match.group(2).replace("\\", "/").split("/")[-1] == name:
            return match.group(1).lower()
    return None


def _sidecar_checksum(
    location: str, name: str, fetch: Callable[[str], Optional[bytes]], sibling: Callable[[str], str]
) -> Optional[Tuple[str, str]]:
    """Look for ``<archive>.sha256``, then ``SHA256SUMS`` beside the archive; return (digest, origin)."""
    sidecar = fetch(location + ".sha256")
    digest = _parse_sha256_sidecar(sidecar.decode("utf-8", "replace")) if sidecar else None
    if digest:
        return digest, location + ".sha256"
    sums_location = sibling("SHA256SUMS")
    sums = fetch(sums_location)
    digest = _parse_sha256sums(sums.decode("utf-8", "replace"), name) if sums else None
    return (digest, sums_location) if digest else None


def _read_local_small(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as file:
            body = file.read(_MAX_SIDECAR_SIZE + 1)
    except OSError:
        return None
    return body if len(body) <= _MAX_SIDECAR_SIZE else None


def _verify_checksum(actual: str, expected: Optional[Tuple[str, str]], location: str, strict: bool) -> None:
    """Match ``actual`` against ``expected`` (digest, origin); with nothing expected, warn or (strict) refuse."""
    if expected is not None:
        digest, origin = expected
        if not hmac.compare_digest(actual, digest):
            raise _InstallSecurityError(
                f"SHA-256 mismatch for {location}: expected {digest} ({origin}), got {actual}; nothing was installed"
            )
        _installer_logger.info("SHA-256 of %s matches %s: %s", location, origin, actual)
        return
    if strict:
        raise _InstallSecurityError(
            f"Refusing to install {location}: no SHA-256 to check it against (its SHA-256 is {actual}); pass "
            "sha256= / --sha256 / PYNGROK_NGROK_SHA256, or serve <archive>.sha256 or SHA256SUMS beside it"
        )
    _installer_logger.warning(
        "Installing ngrok from %s without a checksum to verify it against; its SHA-256 is %s "
        "(pin it with PYNGROK_NGROK_SHA256, or set PYNGROK_REQUIRE_CHECKSUM=1 to refuse unverified installs)",
        location,
        actual,
    )


# --- Sources: a download or a local file --------------------------------------------------------------


@dataclasses.dataclass
class _Source:
    file: BinaryIO
    location: str
    sha256: str
    expected: Optional[Tuple[str, str]]


def _archive_url(ngrok_version: str, url: Optional[str]) -> str:
    if url and not url.endswith("/"):
        return url  # a full URL needs no platform table: it also works where ngrok has no official build
    default = get_ngrok_cdn_url(ngrok_version)
    return url + default.rsplit("/", 1)[1] if url else default


def _is_official_cdn(url: str) -> bool:
    return url.startswith((CDN_URL_PREFIX, _CDN_URL_PREFIX_V2))


@contextlib.contextmanager
def _downloaded_source(url: str, options: _InstallOptions, progress: _Progress) -> Iterator[_Source]:
    fd, path = tempfile.mkstemp(prefix="pyngrok-", suffix=".download")
    try:
        with os.fdopen(fd, "w+b") as file:
            actual = _download(url, file, options, progress)
            yield _Source(file, url, actual, _pinned(options) or _mirror_checksum(url, options))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _mirror_checksum(url: str, options: _InstallOptions) -> Optional[Tuple[str, str]]:
    if _is_official_cdn(url):
        return None  # ngrok's CDN serves no checksum files: asking would only cost two round trips
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    directory = url.rsplit("/", 1)[0]
    return _sidecar_checksum(url, name, lambda u: _fetch_small(u, options), lambda n: f"{directory}/{n}")


def _open_for_reading(path: str) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as e:
        raise PyngrokNgrokInstallError(f"Cannot read the ngrok archive {path}: {e}") from e


@contextlib.contextmanager
def _local_source(path: str) -> Iterator[_Source]:
    # Hash and extract through one open file, so what is verified is what is installed.
    with _open_for_reading(path) as file:
        if os.fstat(file.fileno()).st_size > MAX_NGROK_DOWNLOAD_SIZE:
            raise _InstallSecurityError(f"Refusing to install from {path}: it is over the size cap")
        digest = hashlib.sha256()
        for chunk in iter(lambda: file.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
        yield _Source(file, path, digest.hexdigest(), None)


def _pinned(options: _InstallOptions) -> Optional[Tuple[str, str]]:
    return (options.sha256, "the pinned SHA-256") if options.sha256 else None


@contextlib.contextmanager
def _open_source(ngrok_version: str, options: _InstallOptions, progress: _Progress) -> Iterator[_Source]:
    if options.archive:
        archive = os.path.abspath(options.archive)
        with _local_source(archive) as source:
            source.expected = _pinned(options) or _sidecar_checksum(
                archive,
                os.path.basename(archive),
                _read_local_small,
                lambda n: os.path.join(os.path.dirname(archive), n),
            )
            yield source
    else:
        with _downloaded_source(_archive_url(ngrok_version, options.url), options, progress) as source:
            yield source


# --- Extraction ---------------------------------------------------------------------------------------


def _archive_kind(file: BinaryIO) -> str:
    file.seek(0)
    head = file.read(512)
    file.seek(0)
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tgz"
    if head[257:262] == b"ustar":
        return "tar"
    return "binary"


def _member_problem(name: str, kind: str, size: int) -> Optional[str]:
    """Why an archive member makes the whole archive unsafe, or ``None``."""
    path = name.replace("\\", "/")
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return "an absolute path"
    if ".." in path.split("/"):
        return "a path traversal"
    if "\x00" in path:
        return "a NUL in its name"
    if kind not in ("file", "dir"):
        return f"a {kind}"
    if size > MAX_NGROK_BINARY_SIZE:
        return f"{size} bytes, over the {MAX_NGROK_BINARY_SIZE}-byte size cap"
    return None


def _is_ngrok_member(name: str, kind: str) -> bool:
    return kind == "file" and name.replace("\\", "/").rsplit("/", 1)[-1] in _NGROK_MEMBER_NAMES


class _MemberPicker:
    """Checks every member of an archive and picks the single ``ngrok`` member."""

    def __init__(self, archive: str) -> None:
        self._archive = archive
        self._count = 0
        self._declared = 0
        self.chosen: Optional[str] = None

    def check(self, name: str, kind: str, size: int) -> bool:
        """Refuse an unsafe member; return whether this member is the ``ngrok`` binary."""
        self._count += 1
        if self._count > _MAX_ARCHIVE_MEMBERS:
            raise _InstallSecurityError(f"Refusing {self._archive}: more than {_MAX_ARCHIVE_MEMBERS} members")
        self._declared += size
        problem = _member_problem(name, kind, size)
        if not problem and self._declared > MAX_NGROK_BINARY_SIZE:
            problem = "past the archive's size cap: its members add up to over that"
        if problem:
            raise _InstallSecurityError(f"Refusing {self._archive}: member {name!r} is {problem}")
        if not _is_ngrok_member(name, kind):
            return False
        if self.chosen is not None:
            raise _InstallSecurityError(f"Refusing {self._archive}: two ngrok members, {self.chosen!r} and {name!r}")
        self.chosen = name
        return True

    def done(self) -> None:
        if self.chosen is None:
            raise PyngrokNgrokInstallError(f"{self._archive} holds no ngrok or ngrok.exe member")


def _copy_capped(source: IO[bytes], out: BinaryIO, what: str) -> None:
    copied = 0
    for chunk in iter(lambda: source.read(_CHUNK_SIZE), b""):
        copied += len(chunk)
        if copied > MAX_NGROK_BINARY_SIZE:
            raise _InstallSecurityError(f"Refusing {what}: it unpacks to over {MAX_NGROK_BINARY_SIZE} bytes")
        out.write(chunk)


def _zip_member_kind(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x1:
        return "password-protected file"
    mode = info.external_attr >> 16
    if info.is_dir() or stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
        return "device"
    return "file"


def _tar_member_kind(member: tarfile.TarInfo) -> str:
    if member.isreg():
        return "file"
    if member.isdir():
        return "dir"
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.ischr() or member.isblk() or member.isfifo():
        return "device"
    return "special file"


def _extract_from_zip(file: BinaryIO, out: BinaryIO, location: str) -> None:
    with zipfile.ZipFile(file) as archive:
        picker = _MemberPicker(location)
        chosen = [info for info in archive.infolist() if picker.check(info.filename, _zip_member_kind(info), info.file_size)]
        picker.done()
        # Opened by its ZipInfo, not its name: a repeated name must not swap in an unchecked entry.
        with archive.open(chosen[0]) as member:
            _copy_capped(member, out, location)


def _extract_from_tar(file: BinaryIO, out: BinaryIO, location: str, gzipped: bool) -> None:
    # Members are checked as they stream past and the ngrok member is read when reached: one pass over
    # the gzip stream, and nothing but that member is ever written.
    with tarfile.open(fileobj=file, mode="r:gz" if gzipped else "r:") as archive:
        picker = _MemberPicker(location)
        for member in archive:
            if picker.check(member.name, _tar_member_kind(member), member.size):
                source = archive.extractfile(member)
                if source is None:
                    raise _InstallSecurityError(f"Refusing {location}: member {member.name!r} is not readable")
                _copy_capped(source, out, location)
        picker.done()


def _extract_binary(source: _Source, out: BinaryIO) -> None:
    kind = _archive_kind(source.file)
    _installer_logger.debug("Extracting the ngrok binary from %s (%s)", source.location, kind)
    try:
        if kind == "zip":
            _extract_from_zip(source.file, out, source.location)
        elif kind in ("tgz", "tar"):
            _extract_from_tar(source.file, out, source.location, gzipped=kind == "tgz")
        else:
            _copy_capped(source.file, out, source.location)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as e:
        raise PyngrokNgrokInstallError(f"{source.location} is not a valid ngrok archive: {e}") from e
    except OSError as e:  # a bad gzip stream, or a full disk
        raise PyngrokNgrokInstallError(f"Cannot extract ngrok from {source.location}: {e}") from e


# --- Installing ---------------------------------------------------------------------------------------


def _run_version(binary: str) -> subprocess.CompletedProcess[bytes]:
    for attempt in range(5):
        try:
            return subprocess.run(
                [binary, "version"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=_VERSION_CHECK_TIMEOUT,
                check=False,
            )
        except OSError as e:
            # ETXTBSY: a process forked elsewhere in this program still held the file open for writing.
            if e.errno != errno.ETXTBSY or attempt == 4:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover


def _check_binary_runs(binary: str, location: str) -> str:
    """Run ``<binary> version``; return its output, or refuse a binary that does not answer."""
    try:
        result = _run_version(binary)
    except subprocess.TimeoutExpired as e:
        raise PyngrokNgrokInstallError(
            f"The ngrok binary from {location} did not answer `version` in {_VERSION_CHECK_TIMEOUT:.0f} s"
        ) from e
    except OSError as e:
        raise PyngrokNgrokInstallError(f"The ngrok binary from {location} does not run on this system: {e}") from e
    output = result.stdout.decode("utf-8", "replace").strip()
    if result.returncode != 0 or "version" not in output.lower():
        raise PyngrokNgrokInstallError(
            f"The ngrok binary from {location} failed `ngrok version` (exit {result.returncode}): {output[:500]!r}"
        )
    return output


def _place_binary(source: _Source, ngrok_path: str) -> str:
    """Extract into a temp file beside ``ngrok_path``, check it runs, then atomically replace; return its version."""
    suffix = ".tmp.exe" if ngrok_path.lower().endswith(".exe") else ".tmp"
    fd, temp_path = tempfile.mkstemp(prefix=".ngrok-", suffix=suffix, dir=os.path.dirname(ngrok_path))
    replaced = False
    try:
        with os.fdopen(fd, "wb") as out:
            _extract_binary(source, out)
        os.chmod(temp_path, 0o755)
        version_output = _check_binary_runs(temp_path, source.location)
        try:
            os.replace(temp_path, ngrok_path)
        except OSError as e:
            raise PyngrokNgrokInstallError(f"Cannot replace {ngrok_path} (is it running?): {e}") from e
        replaced = True
        return version_output
    finally:
        if not replaced:
            with contextlib.suppress(OSError):
                os.unlink(temp_path)


_LOCK_BUSY_ERRNOS = (errno.EACCES, errno.EAGAIN, errno.EWOULDBLOCK, errno.EDEADLK)


def _try_lock(fd: int) -> bool:
    """Take the lock without blocking: ``False`` when another process holds it; raises when locks don't work."""
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in _LOCK_BUSY_ERRNOS:
            return False
        raise
    return True


def _unlock(fd: int) -> None:
    if sys.platform == "win32":
        import msvcrt

        with contextlib.suppress(OSError):
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)


@contextlib.contextmanager
def _install_lock(ngrok_path: str) -> Iterator[None]:
    """Serialise installers of one path across processes (an OS file lock, released if a holder dies).

    Correctness does not depend on it (each installer writes its own temp file and os.replace is atomic);
    it keeps concurrent installers from downloading at once and from racing os.replace on Windows.
    """
    directory, name = os.path.split(ngrok_path)
    lock_path = os.path.join(directory, f".{name}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        locked = _wait_for_lock(fd, lock_path)
        try:
            yield
        finally:
            if locked:
                _unlock(fd)
    finally:
        os.close(fd)


def _wait_for_lock(fd: int, lock_path: str) -> bool:
    """Wait for the lock; ``False`` when going ahead without it (atomic renames still keep the binary whole)."""
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    try:
        if _try_lock(fd):
            return True
        _installer_logger.info("Waiting for another ngrok install to finish (%s) ...", lock_path)
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if _try_lock(fd):
                return True
    except OSError as e:  # e.g. no lock support on this file system
        _installer_logger.debug("Cannot lock %s, installing without the lock: %s", lock_path, e)
        return False
    _installer_logger.warning("Still locked after %.0f s, installing anyway: %s", _LOCK_WAIT_SECONDS, lock_path)
    return False


def _install(ngrok_path: str, ngrok_version: Optional[str], options: _InstallOptions) -> _InstallResult:
    version = _checked_ngrok_version(ngrok_version)
    ngrok_path = os.path.abspath(ngrok_path)
    action = "overwriting" if os.path.exists(ngrok_path) else "new install"
    _installer_logger.debug("Installing ngrok %s to %s (%s) ...", version, ngrok_path, action)
    progress = _Progress(options.quiet)
    try:
        os.makedirs(os.path.dirname(ngrok_path), exist_ok=True)
        with _install_lock(ngrok_path), _open_source(version, options, progress) as source:
            _verify_checksum(source.sha256, source.expected, source.location, options.require_checksum)
            version_output = _place_binary(source, ngrok_path)
    except OSError as e:  # the directory, the lock or a temp file could not be made
        raise PyngrokNgrokInstallError(f"Cannot install ngrok to {ngrok_path}: {e}") from e
    _installer_logger.info(
        "Installed %s to %s (SHA-256 of %s: %s)", version_output, ngrok_path, source.location, source.sha256
    )
    progress.line(f"Installed {version_output} to {ngrok_path}")
    origin = source.expected[1] if source.expected else None
    return _InstallResult(ngrok_path, source.sha256, origin, version_output)


def _install_ngrok_binary(ngrok_path: str, ngrok_version: Optional[str] = "3", **kwargs: Any) -> None:
    """Download (or take from a local file), verify and install the ``ngrok`` agent at ``ngrok_path``.

    The binary is replaced atomically, and only by one that runs: a failed install leaves any existing binary
    untouched. Keyword arguments default to the ``PYNGROK_*`` environment variables named below.

    :param ngrok_path: Where to install the ``ngrok`` binary.
    :param ngrok_version: The major version of ``ngrok`` to install.
    :param kwargs: ``url``: a mirror's archive URL, or a prefix ending in ``/`` to which the archive name is
        appended (``PYNGROK_NGROK_URL``). ``archive``: a local archive or bare binary to install with no
        network (``PYNGROK_NGROK_ARCHIVE``). ``sha256``: the archive's expected SHA-256
        (``PYNGROK_NGROK_SHA256``); otherwise a mirror's ``<archive>.sha256`` or ``SHA256SUMS`` is used.
        ``require_checksum``: refuse an archive with no known SHA-256 (``PYNGROK_REQUIRE_CHECKSUM``).
        ``allow_http``: allow a plain-http URL (``PYNGROK_ALLOW_HTTP``). ``cafile``/``capath``: a CA bundle
        for TLS (``PYNGROK_CA_BUNDLE``), or ``context``: an ``ssl.SSLContext``. ``quiet``: no progress on
        stderr (``PYNGROK_QUIET``). ``timeout``: seconds per network operation (``DEFAULT_DOWNLOAD_TIMEOUT``).
        ``retries``: retries of transient failures (``DEFAULT_RETRY_COUNT``). Proxies come from the
        environment (``HTTPS_PROXY``), as with urllib.
    :raises PyngrokError: When ``ngrok_version`` is not supported.
    :raises PyngrokSecurityError: When the install is refused: a disallowed URL scheme, a checksum mismatch,
        a missing checksum in strict mode, or an unsafe archive (also a ``PyngrokNgrokInstallError``).
    :raises PyngrokNgrokInstallError: When downloading, extracting or checking the binary fails.
    :raises TypeError: When an unknown keyword argument is passed.
    """
    _install(ngrok_path, ngrok_version, _install_options(kwargs))


# --- CLI: ``python -m pyngrok install`` ---------------------------------------------------------------


def _installer_arg_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pyngrok install",
        description="Install the ngrok agent: download it (https), or take it from a local archive for "
        "air-gapped hosts, verify its SHA-256, and put it in place atomically.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--archive", metavar="FILE", help="a local .zip/.tgz archive or bare ngrok binary")
    source.add_argument("--url", help="a mirror's archive URL, or a URL prefix ending in /")
    parser.add_argument("--sha256", metavar="HEX", help="the archive's expected SHA-256")
    parser.add_argument("--path", metavar="NGROK_PATH", help="where to install (default: PYNGROK_NGROK_PATH)")
    parser.add_argument("--ngrok-version", type=_strip_v, choices=SUPPORTED_NGROK_VERSIONS, default="3")
    parser.add_argument("--ca-bundle", metavar="FILE", help="a CA bundle for TLS (corporate proxies)")
    parser.add_argument("--allow-http", action="store_true", default=None, help="allow a plain-http mirror")
    parser.add_argument(
        "--require-checksum", action="store_true", default=None, help="refuse an archive with no known SHA-256"
    )
    parser.add_argument("--timeout", type=float, help="seconds per network operation")
    parser.add_argument("--retries", type=int, help="retries of transient download failures")
    parser.add_argument("--quiet", action="store_true", default=None, help="no progress output")
    return parser


def _installer_cli(argv: List[str]) -> int:
    """Run ``python -m pyngrok install [--archive FILE | --url URL] [--sha256 HEX] ...``.

    :param argv: The arguments after ``install`` (a leading ``install`` is accepted too).
    :return: The exit code: 0 when installed, 1 when the install failed, 2 on a usage error.
    """
    args = argv[1:] if argv[:1] == ["install"] else argv
    try:
        namespace = _installer_arg_parser().parse_args(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    ngrok_path = namespace.path or os.environ.get("PYNGROK_NGROK_PATH") or DEFAULT_NGROK_PATH
    option_names = ("archive", "url", "sha256", "allow_http", "require_checksum", "timeout", "retries", "quiet")
    kwargs = {name: getattr(namespace, name) for name in option_names if getattr(namespace, name) is not None}
    if namespace.ca_bundle:
        kwargs["cafile"] = namespace.ca_bundle
    try:
        options = _install_options(kwargs)
        result = _install(ngrok_path, namespace.ngrok_version, options)
    except PyngrokError as e:
        sys.stderr.write(f"pyngrok install: error: {e}\n")
        return 1
    if not options.quiet:
        verified = f"verified against {result.checksum_origin}" if result.checksum_origin else "not verified"
        sys.stderr.write(f"SHA-256 {result.sha256} ({verified})\n")
    return 0


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
