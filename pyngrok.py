# pyngrok, single-file edition (distribution pyngrok-single-file): one file, standard library only.
# The API of pyngrok 9.1.0; the agent is ngrok's, installed separately. SPDX-License-Identifier: MIT
#
# MIT License
#
# Copyright (c) 2026 The pyngrok single-file edition contributors
#
# Permission is hereby granted, free of charge, to any person obtaining a copy
# of this software and associated documentation files (the "Software"), to deal
# in the Software without restriction, including without limitation the rights
# to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
# copies of the Software, and to permit persons to whom the Software is
# furnished to do so, subject to the following conditions:
#
# The above copyright notice and this permission notice shall be included in all
# copies or substantial portions of the Software.
#
# THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
# IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
# FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
# AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
# LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
# OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
# SOFTWARE.

"""pyngrok, single-file edition: a drop-in, standard-library-only replacement for ``pyngrok``.

It installs the ngrok agent, writes and validates its YAML config, runs it as a subprocess, watches its
logs, and drives its local HTTP API to open and close tunnels (v2 "tunnels" and v3 "endpoints") and to
inspect and replay captured requests.

Code written for upstream runs unchanged::

    from pyngrok import ngrok
    tunnel = ngrok.connect("8000")      # installs and starts the agent on first use
    print(tunnel.public_url)
    ngrok.disconnect(tunnel.public_url)
    ngrok.kill()

The upstream submodules (``pyngrok.ngrok``, ``pyngrok.conf``, ``pyngrok.process``, ``pyngrok.installer``,
``pyngrok.agent``, ``pyngrok.exception``, ``pyngrok.log``, ``pyngrok.aio``) are modules made from this one
file on first import, so ``from pyngrok.conf import PyngrokConfig`` works, also when the file is vendored
under another package name; what they define is also importable from ``pyngrok`` itself. The main entry
points: :class:`PyngrokConfig`, :func:`connect`, :func:`disconnect`, :func:`get_tunnels`, :func:`kill`,
:func:`get_ngrok_process`, :func:`install_ngrok` and, for a captured request, :func:`get_requests` and
:func:`replay_request`.

Logging goes to the ``pyngrok`` logger and its children (the agent's own lines to ``pyngrok.process.ngrok``);
the library adds no handlers and prints nothing to stdout (install progress goes to stderr).

The file reads top to bottom in the order data flows: errors, logs, YAML, config, installer, process,
API client, tunnels, supervision, agent inspection, async, module facades, CLI.
"""

from __future__ import annotations

import _thread  # for the locks made at import (see _new_lock)
import atexit
import contextlib
import errno
import functools
import io
import os
import stat
import sys
import time
import types

# ``typing`` is for type checkers, which read this name as true. At run time the annotations are strings
# (``from __future__ import annotations``) and nothing else needs ``typing``, whose import would be half of
# what ``import pyngrok`` costs on 3.11 (with the ``re``, ``enum`` and ``contextlib`` it imports). The names the
# annotations use are bound among the globals when a program imports ``typing`` (see _TypingWatch below).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import (
        IO,
        Any,
        BinaryIO,
        Callable,
        Coroutine,
        Dict,
        Generator,
        Iterable,
        Iterator,
        List,
        Optional,
        Pattern,
        Sequence,
        Set,
        Tuple,
        Union,
        cast,
    )

    # Where a value sits in a config: its keys and list indices from the top.
    _YamlKeyPath = Tuple[Union[str, int], ...]
else:

    def cast(kind, value):
        """``typing.cast``, which returns the value: its type argument is for type checkers."""
        return value


if TYPE_CHECKING:  # at run time these are _LazyModule stand-ins, imported on first use (see below)
    import argparse
    import asyncio
    import bisect
    import copy
    import ctypes
    import hashlib
    import hmac
    import http.client
    import importlib.abc
    import importlib.machinery
    import json
    import logging
    import platform
    import queue
    import re
    import shlex
    import socket
    import ssl
    import subprocess
    import tarfile
    import tempfile
    import threading
    import urllib.error
    import urllib.parse
    import urllib.request
    import uuid
    import zipfile
    import zlib

# ``__version__`` is upstream's API level, which code written for upstream compares; this edition's own
# release is ``__edition_version__``: the API level and one more number, so it sorts after upstream's 9.1.0
# and before 9.1.1, and a release of ours is never confused with upstream's.
__version__ = "9.1.0"
__edition__ = "single-file"
__edition_version__ = "9.1.0.1"
__distribution__ = "pyngrok-single-file"
__license__ = "MIT"


class _LazyModule:
    """A stand-in for a standard-library module that imports it on first use.

    ``import pyngrok`` stays cheap: the HTTP client, ``subprocess``, JSON and the installer's TLS, archive and
    hashing modules are imported when a function first needs them, not when the library is imported. Reads
    and writes go to the real module, so monkeypatching ``pyngrok.subprocess.Popen`` patches
    ``subprocess.Popen``, and a package's submodules (``urllib.request``, ``http.client``) are imported
    when first reached.

    :param name: The module's full name.
    """

    __slots__ = ("_loaded", "_name")

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_loaded", None)

    def _module(self) -> types.ModuleType:
        module: Optional[types.ModuleType] = self._loaded
        if module is None:
            __import__(self._name)  # waits for another thread that is importing it to finish
            module = sys.modules[self._name]
            object.__setattr__(self, "_loaded", module)
        return module

    def __getattr__(self, name: str) -> Any:
        module = self._module()
        try:
            return getattr(module, name)
        except AttributeError:
            if not hasattr(module, "__path__"):
                raise
        submodule = f"{self._name}.{name}"
        try:
            __import__(submodule)
        except ModuleNotFoundError as e:
            if e.name != submodule:
                raise
            raise AttributeError(f"module {self._name!r} has no attribute {name!r}") from None
        return sys.modules[submodule]

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._module(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._module(), name)

    def __dir__(self) -> List[str]:
        return dir(self._module())

    def __repr__(self) -> str:
        return f"<module {self._name!r}, imported by pyngrok on first use>"


if not TYPE_CHECKING:
    argparse = _LazyModule("argparse")
    asyncio = _LazyModule("asyncio")
    bisect = _LazyModule("bisect")
    copy = _LazyModule("copy")
    ctypes = _LazyModule("ctypes")
    hashlib = _LazyModule("hashlib")
    hmac = _LazyModule("hmac")
    http = _LazyModule("http")
    json = _LazyModule("json")
    logging = _LazyModule("logging")
    platform = _LazyModule("platform")
    queue = _LazyModule("queue")
    re = _LazyModule("re")
    shlex = _LazyModule("shlex")
    socket = _LazyModule("socket")
    ssl = _LazyModule("ssl")
    subprocess = _LazyModule("subprocess")
    tarfile = _LazyModule("tarfile")
    tempfile = _LazyModule("tempfile")
    threading = _LazyModule("threading")
    urllib = _LazyModule("urllib")
    uuid = _LazyModule("uuid")
    zipfile = _LazyModule("zipfile")
    zlib = _LazyModule("zlib")


# ``typing.get_type_hints`` (sphinx, pydantic, beartype) evaluates the annotations among this module's globals,
# so the names they use are bound there as soon as ``typing`` is imported: at once if the program has imported it,
# else by a _TypingWatch when it does. get_type_hints is typing's own, so it cannot run before that.
_ANNOTATION_NAMES = (
    "IO Any BinaryIO Callable Coroutine Dict Generator Iterable Iterator List Optional Pattern Set Tuple Union"
)


def _bind_annotation_names(typing_module: types.ModuleType) -> None:
    names = {name: getattr(typing_module, name) for name in _ANNOTATION_NAMES.split()}
    names["_YamlKeyPath"] = typing_module.Tuple[typing_module.Union[str, int], ...]  # the alias type checkers see
    globals().update(names)


class _TypingWatch:
    """A finder on ``sys.meta_path`` that binds this module's annotation names whenever ``typing`` is imported.

    It finds no module itself: for ``typing`` it takes the spec that the finders after it give and wraps the
    loader, so that the names are bound once typing's body has run; the module keeps its own loader.
    """

    def __init__(self, namespace: Dict[str, Any]) -> None:
        self.namespace = namespace  # this module's globals: one watch per copy of the file, kept over a reload

    def find_spec(
        self, fullname: str, path: Optional[Sequence[str]] = None, target: Optional[types.ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        finders: List[Any] = sys.meta_path
        if fullname != "typing" or self not in finders:
            return None
        for finder in finders[finders.index(self) + 1 :]:
            find_spec = getattr(finder, "find_spec", None)
            spec: Optional[importlib.machinery.ModuleSpec] = find_spec(fullname, path, target) if find_spec else None
            if spec is None:
                continue
            if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                spec.loader = cast("importlib.abc.Loader", _TypingLoader(spec.loader))
            return spec
        return None


class _TypingLoader:
    """Runs typing's own loader, then binds the annotation names (see :class:`_TypingWatch`)."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader  # one with exec_module (_TypingWatch checks), which Python 3.8's Loader type lacks

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> Optional[types.ModuleType]:
        module: Optional[types.ModuleType] = self.loader.create_module(spec)
        return module

    def __getattr__(self, name: str) -> Any:
        return getattr(self.loader, name)  # get_source, get_code (runpy), is_package: the real loader's

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self.loader  # for inspect, linecache and reload, as if it had never been wrapped
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _bind_annotation_names(module)


if "typing" in sys.modules:
    _bind_annotation_names(sys.modules["typing"])
elif not any(getattr(finder, "namespace", None) is globals() for finder in sys.meta_path):
    sys.meta_path.insert(0, cast("importlib.abc.MetaPathFinder", _TypingWatch(globals())))


def _new_lock() -> threading.Lock:
    """``threading.Lock()``, without importing ``threading`` for it.

    Until ``threading`` is imported nothing can have patched it (gevent's monkey-patching makes its locks
    greenlet-aware), and its locks are ``_thread``'s own; once it is imported, its factories are used.
    """
    module = sys.modules.get("threading")
    return cast("threading.Lock", module.Lock() if module is not None else _thread.allocate_lock())


def _new_rlock() -> threading.RLock:
    """``threading.RLock()``, without importing ``threading`` for it (see :func:`_new_lock`)."""
    module = sys.modules.get("threading")
    return cast("threading.RLock", module.RLock() if module is not None else _thread.RLock())


class _LazyLogger:
    """A stand-in for ``logging.getLogger(name)`` until the library first logs.

    Neither ``import pyngrok`` nor ``from pyngrok import ngrok`` imports ``logging``, which with the
    ``traceback``, ``string``, ``weakref`` and ``threading`` it imports would make the import half again as slow.
    The first use of any stand-in puts the real loggers in place of all of them, among this module's globals and
    in the submodules (see :func:`_use_real_loggers`), so every later log call is a plain call on a
    ``logging.Logger`` and ``ngrok.logger`` is upstream's object. Until then a stand-in passes every read, write
    and delete to the real logger, so ``ngrok.logger.setLevel(...)`` and ``patch.object(ngrok.logger, "debug")``
    act on it, and ``isinstance(ngrok.logger, logging.Logger)`` is true (through ``__class__``, as a mock's is).
    When the program has imported ``logging`` already, the real loggers cost nothing and are used at once.

    :param name: The logger's name.
    """

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        object.__setattr__(self, "_name", name)

    def _real(self) -> logging.Logger:
        _use_real_loggers()
        return logging.getLogger(self._name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._real(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._real(), name)

    if not TYPE_CHECKING:

        @property
        def __class__(self) -> type:  # also what dir() lists, so mock's spec and autospec see a logger's names
            return type(self._real())

    def __reduce__(self) -> Tuple[Any, Tuple[str]]:
        return logging.getLogger, (self._name,)  # pickled and copied as the real logger is

    def __repr__(self) -> str:
        return f"<logger {self._name!r}, created by pyngrok on first use>"


def _logger(name: str) -> logging.Logger:
    return cast("logging.Logger", _LazyLogger(name))


_real_loggers_in_place = False


def _use_real_loggers() -> None:
    """Import ``logging`` and put the real logger in place of each :class:`_LazyLogger` among this module's
    globals and the names of the submodules made so far."""
    global _real_loggers_in_place
    if not _real_loggers_in_place:
        _real_loggers_in_place = True  # first, so a submodule being filled meanwhile sees it (_fill_submodule)
        _replace_stand_ins(globals())
        for submodule in list(_submodules.values()):
            _replace_stand_ins(vars(submodule))


def _replace_stand_ins(namespace: Dict[str, Any]) -> None:
    for name, value in list(namespace.items()):
        if type(value) is _LazyLogger:
            namespace[name] = logging.getLogger(value._name)


logger = _logger("pyngrok")


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


# Patterns used off the hot paths are plain strings, compiled by the re module on first use (and cached by it),
# so that ``import pyngrok`` compiles none.
_NGROK_ERROR_CODE = r"ERR_NGROK_\d+"

_AUTHTOKEN_ADVICE = (
    "Set a valid authtoken from https://dashboard.ngrok.com/get-started/your-authtoken: "
    "ngrok.set_auth_token(token), the NGROK_AUTHTOKEN environment variable, or PyngrokConfig(auth_token=token)."
)
_OUTDATED_AGENT_ADVICE = (
    "This ngrok agent is too old for ngrok's service: update it with ngrok.update() (`ngrok update`), "
    "or delete it and reinstall with `python -m pyngrok install` (use --archive/--url on air-gapped hosts)."
)
# Advice on the agent errors users hit most, by ERR_NGROK code; appended to the exception's message.
_NGROK_ERROR_ADVICE = {
    "ERR_NGROK_4018": _AUTHTOKEN_ADVICE,
    "ERR_NGROK_105": _AUTHTOKEN_ADVICE,
    "ERR_NGROK_107": _AUTHTOKEN_ADVICE,
    "ERR_NGROK_108": (
        "Another ngrok agent runs on this account already, often a second copy of this program: Django's "
        "autoreloader, for one, runs the program twice, so open tunnels only in the reloaded child "
        '(os.environ.get("RUN_MAIN") == "true") or only where DEBUG is off; or stop the other agent.'
    ),
    "ERR_NGROK_120": _OUTDATED_AGENT_ADVICE,
    "ERR_NGROK_121": _OUTDATED_AGENT_ADVICE,
    "ERR_NGROK_334": (
        "This endpoint URL is already online, served by another agent or an earlier tunnel: disconnect that one "
        "first, or open both with pooling_enabled=True to balance traffic between them."
    ),
}
_OLD_AGENT_ENDPOINTS_ADVICE = (
    "The ngrok agent is older than 3.30, which added /api/endpoints: update it with ngrok.update(), "
    'or use tunnels with PyngrokConfig(config_version="2").'
)


def _with_advice(message: str, ngrok_error_code: Optional[str]) -> str:
    advice = _NGROK_ERROR_ADVICE.get(ngrok_error_code or "")
    return f"{message} {advice}" if advice and advice not in message else message


class PyngrokNgrokError(PyngrokError):
    """Raised when an error occurs interacting directly with the ``ngrok`` binary.

    When the agent's error holds an ``ERR_NGROK_<n>`` code that users often hit, advice on what to do is added
    to the message.

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
        code = self._parse_ngrok_error_code(ngrok_error)
        super().__init__(_with_advice(str(error), code) if code else error)
        #: The ``ngrok`` logs, which may be useful for debugging the error.
        self.ngrok_logs: List[NgrokLog] = ngrok_logs if ngrok_logs else []
        #: The error that caused the ``ngrok`` process to fail.
        self.ngrok_error: Optional[str] = ngrok_error
        #: The ``ERR_NGROK_<n>`` code found in ``ngrok_error``, if any.
        self.ngrok_error_code: Optional[str] = code

    @staticmethod
    def _parse_ngrok_error_code(ngrok_error: Optional[str]) -> Optional[str]:
        match = re.search(_NGROK_ERROR_CODE, ngrok_error) if ngrok_error else None
        return match.group(0) if match else None


class PyngrokNgrokHTTPError(PyngrokNgrokError):
    """Raised when a request to the ``ngrok`` agent's API returns an error status.

    The agent's JSON error (``{"error_code", "msg", "details": {"err"}}``) is read into ``ngrok_error`` (the
    agent's words), ``ngrok_error_code`` (its ``ERR_NGROK_<n>``, if any) and ``api_error_code``.

    :param error: A description of the error.
    :param url: The request URL that failed.
    :param status_code: The response status code.
    :param message: The response reason phrase.
    :param headers: The request headers sent; an ``Authorization`` header (an API key) is not kept.
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
        api_error_code, ngrok_error = _agent_api_error(body)
        description = str(error)
        if status_code == 404 and urllib.parse.urlsplit(url).path.startswith("/api/endpoints"):
            description = f"{description} {_OLD_AGENT_ENDPOINTS_ADVICE}"
        elif status_code == 404 and url.endswith("/api/status"):
            description = f"{description} (/api/status needs an ngrok agent 3.9.0 or newer)"
        super().__init__(description, ngrok_error=ngrok_error)
        #: The request URL that failed.
        self.url: str = url
        #: The response status code from ``ngrok``.
        self.status_code: int = status_code
        #: The response message from ``ngrok``.
        self.message: Optional[str] = message
        #: The request headers sent to ``ngrok``, less ``Authorization``: an error is often logged or shown.
        self.headers: Any = _without_authorization(headers)
        #: The response body from ``ngrok``.
        self.body: str = body
        #: The agent API's own ``error_code`` (104: not ready yet, 102: invalid configuration, ...), if any.
        self.api_error_code: Optional[int] = api_error_code


def _agent_api_error(body: str) -> Tuple[Optional[int], Optional[str]]:
    """The ``error_code`` and the agent's words (``details.err``, else ``msg``) of an agent API error body."""
    try:
        decoded = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(decoded, dict):
        return None, None
    code = decoded.get("error_code")
    details = decoded.get("details")
    words = details.get("err") if isinstance(details, dict) else None
    if not isinstance(words, str) or not words:
        words = decoded.get("msg") if isinstance(decoded.get("msg"), str) else None
    return (code if isinstance(code, int) and not isinstance(code, bool) else None), words


def _without_authorization(headers: Any) -> Any:
    if isinstance(headers, dict):
        return {name: value for name, value in headers.items() if str(name).lower() != "authorization"}
    return headers


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
_NGROK_LEVELS.update({level.upper(): python_level for level, python_level in _NGROK_LEVELS.items()})

# The section's regular expressions are compiled by NgrokLog's first line, not at import (see
# _compile_log_patterns); the hot loop reads them as plain globals.
_LOGFMT_PAIR: Pattern[str]
_LOGFMT_HEAD: Pattern[str]
_GO_ESCAPE: Pattern[str]
_log_patterns_compiled = False


def _compile_log_patterns() -> None:
    global _LOGFMT_PAIR, _LOGFMT_HEAD, _GO_ESCAPE, _log_patterns_compiled
    # One logfmt pair: a key, then optionally `=` and a double-quoted value (with backslash escapes), a quoted
    # value that never closes (it runs to the end of the line), a `[...]` list, or a bare word.
    _LOGFMT_PAIR = re.compile(r'([^\s="]+)(?:=("(?:[^"\\]|\\.)*"|"[^\n]*|\[[^\]]*\]|[^\s]*))?')
    # The head every agent line starts with, matched in one go: the fast path of the parser.
    _LOGFMT_HEAD = re.compile(r't=(\S*) lvl=(\S*) msg=("(?:[^"\\]|\\.)*"|[^\s"]*)(?= |$)')
    _GO_ESCAPE = re.compile(r"\\(u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|x[0-9a-fA-F]{2}|[0-7]{3}|.)")
    _log_patterns_compiled = True


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
        if not _log_patterns_compiled:
            _compile_log_patterns()
        fields = self.__dict__
        rest = self.line
        head = _LOGFMT_HEAD.match(rest)
        if head is not None:
            self.t, level, msg = head.groups()
            self.lvl = _python_level(level)
            self.msg = _logfmt_value(msg) if msg[:1] == '"' else msg
            rest = rest[head.end() :]
        # A bare key and `key=` both give "": logfmt has no way to tell them apart that matters here.
        for key, raw in _LOGFMT_PAIR.findall(rest):
            if key in _RESERVED_LOG_KEYS:
                continue
            if key == "lvl":
                self.lvl = _python_level(raw)
            else:
                fields[key] = _logfmt_value(raw) if raw[:1] == '"' else raw

    def _read_json(self) -> None:
        try:
            record = json.loads(self.line)
        except (ValueError, RecursionError):
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
    return _NGROK_LEVELS.get(ngrok_level) or _NGROK_LEVELS.get(ngrok_level.lower(), "NOTSET")


# ======================================================================================================
# YAML: reader and writer for ngrok config files
# ======================================================================================================

# What the rest of the file uses:
#   _yaml_load(text, path="<string>") -> Any                raises PyngrokConfigError(path, line, column)
#   _yaml_load_marked(text, path) -> (value, {key path: line})
#   _yaml_dump(data) -> str                                  block style, keys in insertion order
#   _yaml_edit(text, path, changes) -> str                   sets keys by editing only their lines;
#                                                            raises _YamlCannotEdit(why) where it cannot
#   _yaml_same(a, b) -> bool                                 equal values, types and key order
#
# The reader follows the YAML 1.1 scanning and parsing rules as PyYAML applies them (so a config means the same
# thing to us as to upstream), and resolves plain scalars with the same null/bool/int/float/timestamp rules as
# ``yaml.safe_load``. The scanner finds tokens with regular expressions over the whole text rather than one
# character at a time; each token knows where it starts and ends (offsets), and errors turn an offset into a line
# and column. The parser builds values straight from the tokens, without events or nodes in between, and on
# request notes where each pair is written, which is what lets an edit touch only the lines of a key.
#
# What PyYAML refuses, this reader refuses too (more than one document, collections as keys, unknown tags), each
# as a PyngrokConfigError at its position. It also refuses, although PyYAML reads them, what no config needs
# (the README lists them): ``%TAG`` directives, tags with %-escapes, recursive aliases, nesting deeper than
# _YAML_MAX_DEPTH, the line breaks U+2028 and U+2029, and a byte order mark after the start.

_YAML_MAX_DEPTH = 200
_YAML_MAX_KEY_LENGTH = 1024

# Token kinds; each is also the way the token is named in error messages.
_YT_STREAM_END = "the end of the file"
_YT_DIRECTIVE = "a directive"
_YT_DOCUMENT_START = "'---'"
_YT_DOCUMENT_END = "'...'"
_YT_BLOCK_SEQUENCE_START = "the start of a block sequence"
_YT_BLOCK_MAPPING_START = "the start of a block mapping"
_YT_BLOCK_END = "the end of an indented block"
_YT_FLOW_SEQUENCE_START = "'['"
_YT_FLOW_SEQUENCE_END = "']'"
_YT_FLOW_MAPPING_START = "'{'"
_YT_FLOW_MAPPING_END = "'}'"
_YT_BLOCK_ENTRY = "'-'"
_YT_FLOW_ENTRY = "','"
_YT_KEY = "a key"
_YT_PLAIN_KEY = "a plain key and its ':'"  # what KEY, a plain SCALAR and VALUE are in the common case
_YT_VALUE = "':'"
_YT_ALIAS = "an alias"
_YT_ANCHOR = "an anchor"
_YT_TAG = "a tag"
_YT_SCALAR = "a scalar"

_YAML_BLANK = "\0 \t\n"
_YAML_INDICATORS = "\0 \t\n-?:,[]{}#&*!|>'\"%@`"

# The section's regular expressions are compiled by the first load or dump, not at import (see
# _compile_yaml_patterns); the scanner's loops read them as plain globals.
_YAML_PLAIN_BLOCK: Pattern[str]
_YAML_PLAIN_FLOW: Pattern[str]
_YAML_SKIP: Pattern[str]
_YAML_SPACES: Pattern[str]
_YAML_SPACES_AND_BREAKS: Pattern[str]
_YAML_WHITESPACE: Pattern[str]
_YAML_SINGLE_QUOTED_RUN: Pattern[str]
_YAML_DOUBLE_QUOTED_RUN: Pattern[str]
_YAML_ANCHOR_NAME: Pattern[str]
_YAML_TAG_URI: Pattern[str]
_YAML_TAG_HANDLE: Pattern[str]
_YAML_VERSION: Pattern[str]
_YAML_REST_OF_LINE: Pattern[str]
_YAML_NOT_ACCEPTED_ASCII: Pattern[str]
_YAML_HEX: Pattern[str]
_YAML_INT: Pattern[str]
_YAML_FLOAT: Pattern[str]
_YAML_TIMESTAMP: Pattern[str]
_YAML_IMPLICIT_TIMESTAMP: Pattern[str]
_YAML_PLAIN_UNSAFE: Pattern[str]
_YAML_NUMBER_LIKE: Pattern[str]
_YAML_LITERAL_UNSAFE: Pattern[str]
_YAML_NEEDS_ESCAPE: Pattern[str]
_yaml_patterns_compiled = False


def _compile_yaml_patterns() -> None:
    global _YAML_PLAIN_BLOCK, _YAML_PLAIN_FLOW, _YAML_SKIP, _YAML_SPACES, _YAML_SPACES_AND_BREAKS, _YAML_WHITESPACE
    global _YAML_SINGLE_QUOTED_RUN, _YAML_DOUBLE_QUOTED_RUN, _YAML_ANCHOR_NAME, _YAML_TAG_URI, _YAML_TAG_HANDLE
    global _YAML_VERSION, _YAML_REST_OF_LINE, _YAML_NOT_ACCEPTED_ASCII, _YAML_HEX, _YAML_INT, _YAML_FLOAT
    global _YAML_TIMESTAMP, _YAML_IMPLICIT_TIMESTAMP, _YAML_PLAIN_UNSAFE, _YAML_NUMBER_LIKE, _YAML_LITERAL_UNSAFE
    global _YAML_NEEDS_ESCAPE, _yaml_patterns_compiled
    # A plain scalar chunk runs up to a blank, or a ':' followed by a blank; in flow context also up to ',?[]{}'.
    _YAML_PLAIN_BLOCK = re.compile(r"(?:[^\0 \t\n:]|:(?![\0 \t\n]))+")
    _YAML_PLAIN_FLOW = re.compile(r"(?:[^\0 \t\n:,?\[\]{}]|:(?![\0 \t\n,\[\]{}]))+")
    _YAML_SKIP = re.compile(r"(?: *(?:#[^\n\0]*)?\n)* *(?:#[^\n\0]*)?")
    _YAML_SPACES = re.compile(r" *")
    _YAML_SPACES_AND_BREAKS = re.compile(r"[ \n]*")
    _YAML_WHITESPACE = re.compile(r"[ \t]*")
    _YAML_SINGLE_QUOTED_RUN = re.compile(r"[^'\0 \t\n]+")
    _YAML_DOUBLE_QUOTED_RUN = re.compile(r"[^\"\\\0 \t\n]+")
    _YAML_ANCHOR_NAME = re.compile(r"[0-9A-Za-z_-]+")
    _YAML_TAG_URI = re.compile(r"[0-9A-Za-z\-;/?:@&=+$,_.!~*'()\[\]%]+")
    _YAML_TAG_HANDLE = re.compile(r"![0-9A-Za-z_-]*!?")
    _YAML_VERSION = re.compile(r" +([0-9]+)\.([0-9]+)")
    _YAML_REST_OF_LINE = re.compile(r"[^\n\0]*")
    # What a YAML reader must refuse (PyYAML's "unacceptable character"), and what this one does not support: the
    # line breaks U+2028 and U+2029 and a byte order mark after the start (U+0085 is read as a line break).
    # What a file may hold: for ASCII text (nearly every config) the cheap pattern; the full one, whose Unicode
    # ranges take milliseconds to compile, only when a file has other characters.
    _YAML_NOT_ACCEPTED_ASCII = re.compile("[^\t\n\r -~]")
    _YAML_HEX = re.compile(r"[0-9A-Fa-f]*")
    _YAML_INT = re.compile(
        r"[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+"
    )
    _YAML_FLOAT = re.compile(
        r"[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
        r"|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
    )
    _YAML_TIMESTAMP = re.compile(
        r"(?P<year>[0-9]{4})-(?P<month>[0-9][0-9]?)-(?P<day>[0-9][0-9]?)"
        r"(?:(?:[Tt]|[ \t]+)(?P<hour>[0-9][0-9]?):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]*))?"
        r"(?:[ \t]*(?P<tz>Z|(?P<tz_sign>[-+])(?P<tz_hour>[0-9][0-9]?)(?::(?P<tz_minute>[0-9]{2}))?))?)?"
    )
    # The implicit timestamp form is stricter than what an explicit !!timestamp accepts: a date alone needs two-digit
    # month and day.
    _YAML_IMPLICIT_TIMESTAMP = re.compile(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
        r"|[0-9]{4}-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?"
        r"(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9]{2})?))?"
    )
    # The writer's. Single quotes and block literals have no escapes, so they cannot hold what must not be raw in
    # a file: controls (a tab too: ngrok 2.3.41 refuses a config file with a tab anywhere, "config contains tab
    # characters"), DEL (2.3.41 reads none of a file that has one), line breaks other than "\n", a byte order
    # mark, non-characters. The writer escapes them in double quotes (and refuses lone surrogates: _yaml_escape).
    _YAML_PLAIN_UNSAFE = re.compile(
        "[\0-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]|: | #|:$|^(?:---|\\.\\.\\.)"
    )
    _YAML_NUMBER_LIKE = re.compile(r"[-+.0-9][-+.0-9a-fA-F_:xXoObBeE ]*")
    _YAML_LITERAL_UNSAFE = re.compile("[\0-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
    _YAML_NEEDS_ESCAPE = re.compile('["\\\\\0-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')
    _yaml_patterns_compiled = True


# The characters a YAML file may hold, when it has more than ASCII (see _compile_yaml_patterns).
_YAML_NOT_ACCEPTED_SOURCE = "[^\t\n\r -~\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
_YAML_ESCAPES = {
    "0": "\0",
    "a": "\x07",
    "b": "\x08",
    "t": "\t",
    "\t": "\t",
    "n": "\n",
    "v": "\x0b",
    "f": "\x0c",
    "r": "\r",
    "e": "\x1b",
    " ": " ",
    '"': '"',
    "/": "/",
    "\\": "\\",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_YAML_ESCAPE_LENGTHS = {"x": 2, "u": 4, "U": 8}

_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_YAML_STR = _YAML_TAG_PREFIX + "str"
_YAML_MAP = _YAML_TAG_PREFIX + "map"
_YAML_SEQ = _YAML_TAG_PREFIX + "seq"
_YAML_STANDARD_TAGS = ("str", "int", "float", "bool", "null", "binary", "timestamp", "map", "seq")
_YAML_SCALAR_TAGS = frozenset(_YAML_TAG_PREFIX + name for name in _YAML_STANDARD_TAGS[:-2])


class _YamlToken:
    """A token: its kind (one of the _YT_ names), its value if it has one, where it starts and ends in the
    text (offsets), and for a scalar its style: the quote or block indicator, None for a plain one."""

    __slots__ = ("end", "kind", "start", "style", "value")

    def __init__(self, kind: str, value: Any, start: int, end: int, style: Optional[str]) -> None:
        self.kind = kind
        self.value = value
        self.start = start
        self.end = end
        self.style = style


class _YamlMerge:
    """The ``<<`` merge key of a mapping: a marker, never part of a loaded value."""


_YAML_MERGE = _YamlMerge()
# Plain scalars resolved by a dict look-up: the null and bool words of YAML 1.1, "<<" and "=".
_YAML_WORDS: Dict[str, Any] = {
    "": None,
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    **{word: True for word in ("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON")},
    **{word: False for word in ("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF")},
    "<<": _YAML_MERGE,
    "=": _YAML_MERGE,  # PyYAML's "value" type: only usable as a key, where it means the string "=".
}
_YAML_BOOL_WORDS = {"yes": True, "no": False, "true": True, "false": False, "on": True, "off": False}


def _yaml_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a pattern that may match the empty string stops matching at ``pos``."""
    match = pattern.match(text, pos)
    return match.end() if match else pos


def _yaml_position(text: str, pos: int) -> Tuple[int, int]:
    """The 0-based line and column of an offset into a YAML text (a byte order mark at the start takes no column)."""
    line_start = text.rfind("\n", 0, pos) + 1
    if line_start == 0 and pos and text[0] == "\ufeff":
        line_start = 1
    return text.count("\n", 0, pos), pos - line_start


def _yaml_error(path: str, what: str, line: int, column: int) -> PyngrokConfigError:
    """Make the error for a problem at a 0-based line and column of a YAML text."""
    return PyngrokConfigError(f"{path}:{line + 1}:{column + 1}: {what}", path=path, line=line + 1, column=column + 1)


def _yaml_error_at(path: str, text: str, pos: int, what: str) -> PyngrokConfigError:
    """Make the error for a problem at an offset into a YAML text."""
    return _yaml_error(path, what, *_yaml_position(text, pos))


def _yaml_describe(ch: str) -> str:
    if ch == "\0":
        return "the end of the file"
    if ch == "\n":
        return "a line break"
    if ch == "\t":
        return "a tab character"
    return repr(ch)


class _YamlScanner:
    """Split the text of a YAML stream into tokens.

    The indentation and "simple key" rules are those of YAML 1.1 as PyYAML implements them: a token that may be a
    key is remembered, and when a ``:`` follows it on the same line a KEY token (and, for a new block mapping, a
    BLOCK-MAPPING-START) is inserted before it.
    """

    def __init__(self, text: str, path: str) -> None:
        self.text = text + "\0"
        self.path = path
        self.pos = 0
        self.line = 0
        self.line_start = 0
        self.flow_level = 0
        self.indent = -1
        self.indents: List[int] = []
        self.allow_simple_key = True
        # Flow level -> (token index, required, position, line) of a token that may turn out to be a key.
        self.simple_keys: Dict[int, Tuple[int, bool, int, int]] = {}
        self.tokens: List[_YamlToken] = []
        # Where the first escape of a UTF-16 surrogate is: refused once the key it is under is known.
        self.surrogate_escape: Optional[int] = None

    def error(self, what: str, pos: Optional[int] = None) -> PyngrokConfigError:
        return _yaml_error_at(self.path, self.text, self.pos if pos is None else pos, what)

    def scan(self) -> List[_YamlToken]:
        text = self.text
        if text[0] == "\ufeff":
            self.pos = self.line_start = 1
        while True:
            if text[self.pos] in " \n#":
                self.skip_to_next_token()
            if self.simple_keys:
                self.drop_stale_simple_keys()
            column = self.pos - self.line_start
            if self.indent > column:
                self.unwind_indent(column)
            ch = text[self.pos]
            if ch not in _YAML_INDICATORS and ch != ".":
                self.fetch_plain(column)
            elif ch == ":" and (self.flow_level or text[self.pos + 1] in _YAML_BLANK):
                self.fetch_value(column)
            elif ch == "\0":
                self.unwind_indent(-1)
                self.remove_simple_key()
                self.tokens.append(_YamlToken(_YT_STREAM_END, None, self.pos, self.pos, None))
                return self.tokens
            elif column == 0 and ch == "%":
                self.fetch_directive()
            elif (
                column == 0
                and ch in "-."
                and text[self.pos + 1 : self.pos + 3] == ch * 2
                and text[self.pos + 3] in _YAML_BLANK
            ):
                self.unwind_indent(-1)
                self.remove_simple_key()
                self.allow_simple_key = False
                kind = _YT_DOCUMENT_START if ch == "-" else _YT_DOCUMENT_END
                self.tokens.append(_YamlToken(kind, None, self.pos, self.pos + 3, None))
                self.pos += 3
            elif ch == "[" or ch == "{":
                self.fetch_flow_start(_YT_FLOW_SEQUENCE_START if ch == "[" else _YT_FLOW_MAPPING_START, column)
            elif ch == "]" or ch == "}":
                self.fetch_flow_end(_YT_FLOW_SEQUENCE_END if ch == "]" else _YT_FLOW_MAPPING_END)
            elif ch == ",":
                self.allow_simple_key = True
                self.remove_simple_key()
                self.tokens.append(_YamlToken(_YT_FLOW_ENTRY, None, self.pos, self.pos + 1, None))
                self.pos += 1
            elif ch == "-" and text[self.pos + 1] in _YAML_BLANK:
                self.fetch_block_entry(column)
            elif ch == "?" and (self.flow_level or text[self.pos + 1] in _YAML_BLANK):
                self.fetch_key(column)
            elif ch == "*" or ch == "&":
                self.save_simple_key(column)
                self.allow_simple_key = False
                self.fetch_anchor(ch)
            elif ch == "!":
                self.save_simple_key(column)
                self.allow_simple_key = False
                self.fetch_tag()
            elif (ch == "|" or ch == ">") and not self.flow_level:
                self.allow_simple_key = True
                self.remove_simple_key()
                self.fetch_block_scalar(ch)
            elif ch == "'" or ch == '"':
                self.save_simple_key(column)
                self.allow_simple_key = False
                self.fetch_quoted(ch)
            elif ch == "." or (
                text[self.pos + 1] not in _YAML_BLANK and (ch == "-" or (not self.flow_level and ch in "?:"))
            ):
                self.fetch_plain(column)
            else:
                raise self.error(f"found {_yaml_describe(ch)}, which cannot start any token")

    # --- Whitespace, comments, indentation and simple keys ---

    def skip_to_next_token(self) -> None:
        start = self.pos
        end = _yaml_end(_YAML_SKIP, self.text, start)
        if end != start:
            breaks = self.text.count("\n", start, end)
            if breaks:
                self.line += breaks
                self.line_start = self.text.rfind("\n", start, end) + 1
                if not self.flow_level:
                    self.allow_simple_key = True
            self.pos = end

    def consume_breaks(self, start: int, end: int) -> int:
        """Move to ``end``, counting the line breaks between; return how many there were."""
        breaks = self.text.count("\n", start, end)
        if breaks:
            self.line += breaks
            self.line_start = self.text.rfind("\n", start, end) + 1
        self.pos = end
        return breaks

    def drop_stale_simple_keys(self) -> None:
        for level, (_, required, pos, line) in list(self.simple_keys.items()):
            if line != self.line or self.pos - pos > _YAML_MAX_KEY_LENGTH:
                if required:
                    raise self.error("could not find the ':' of this key on its line", pos)
                del self.simple_keys[level]

    def save_simple_key(self, column: int) -> None:
        if self.allow_simple_key:
            required = not self.flow_level and self.indent == column
            self.remove_simple_key()
            self.simple_keys[self.flow_level] = (len(self.tokens), required, self.pos, self.line)

    def remove_simple_key(self) -> None:
        key = self.simple_keys.pop(self.flow_level, None)
        if key is not None and key[1]:
            raise self.error("could not find the ':' of this key on its line", key[2])

    def unwind_indent(self, column: int) -> None:
        # Indentation does not count inside flow collections (PyYAML is lenient there, and so are we).
        if self.flow_level:
            return
        while self.indent > column:
            self.indent = self.indents.pop()
            self.tokens.append(_YamlToken(_YT_BLOCK_END, None, self.pos, self.pos, None))

    def add_indent(self, column: int) -> bool:
        if self.indent < column:
            self.indents.append(self.indent)
            self.indent = column
            return True
        return False

    # --- Indicators ---

    def fetch_directive(self) -> None:
        self.unwind_indent(-1)
        self.remove_simple_key()
        self.allow_simple_key = False
        text, start = self.text, self.pos
        match = _YAML_ANCHOR_NAME.match(text, self.pos + 1)
        if not match or text[match.end()] not in "\0 \n":
            self.pos = match.end() if match else self.pos + 1
            raise self.error(f"expected a directive name, but found {_yaml_describe(text[self.pos])}")
        name = match.group()
        self.pos = match.end()
        value: Any = None
        if name == "YAML":
            version = _YAML_VERSION.match(text, self.pos)
            if not version or text[version.end()] not in "\0 \n":
                raise self.error("expected a version number like 1.1 after %YAML")
            value = (int(version.group(1)), int(version.group(2)))
            self.pos = version.end()
        elif name == "TAG":
            raise self.error("%TAG directives are not supported", start)
        else:
            self.pos = _yaml_end(_YAML_REST_OF_LINE, text, self.pos)
        end = self.pos
        self.pos = _yaml_end(_YAML_SPACES, text, self.pos)
        if text[self.pos] == "#":
            self.pos = _yaml_end(_YAML_REST_OF_LINE, text, self.pos)
        if text[self.pos] not in "\0\n":
            raise self.error(f"expected a comment or a line break, but found {_yaml_describe(text[self.pos])}")
        self.tokens.append(_YamlToken(_YT_DIRECTIVE, (name, value), start, end, None))

    def fetch_flow_start(self, kind: str, column: int) -> None:
        # The parser refuses depth past _YAML_MAX_DEPTH where it finds it; this cap only keeps the scanner's
        # per-level bookkeeping from going quadratic on a file of nothing but '['.
        if self.flow_level >= 2 * _YAML_MAX_DEPTH:
            raise self.error(f"the document nests deeper than {_YAML_MAX_DEPTH} levels")
        self.save_simple_key(column)
        self.flow_level += 1
        self.allow_simple_key = True
        self.tokens.append(_YamlToken(kind, None, self.pos, self.pos + 1, None))
        self.pos += 1

    def fetch_flow_end(self, kind: str) -> None:
        if not self.flow_level:
            raise self.error(f"found {kind} outside of a flow collection")
        self.remove_simple_key()
        self.flow_level -= 1
        self.allow_simple_key = False
        self.tokens.append(_YamlToken(kind, None, self.pos, self.pos + 1, None))
        self.pos += 1

    def fetch_block_entry(self, column: int) -> None:
        if not self.flow_level:
            if not self.allow_simple_key:
                raise self.error("a sequence entry ('-') is not allowed here")
            if self.add_indent(column):
                self.tokens.append(_YamlToken(_YT_BLOCK_SEQUENCE_START, None, self.pos, self.pos, None))
        self.allow_simple_key = True
        self.remove_simple_key()
        self.tokens.append(_YamlToken(_YT_BLOCK_ENTRY, None, self.pos, self.pos + 1, None))
        self.pos += 1

    def fetch_key(self, column: int) -> None:
        """An explicit key: ``?`` then the key, which may span lines (PyYAML writes long keys this way)."""
        if not self.flow_level:
            if not self.allow_simple_key:
                raise self.error("a mapping key ('?') is not allowed here")
            if self.add_indent(column):
                self.tokens.append(_YamlToken(_YT_BLOCK_MAPPING_START, None, self.pos, self.pos, None))
        self.allow_simple_key = not self.flow_level
        self.remove_simple_key()
        self.tokens.append(_YamlToken(_YT_KEY, None, self.pos, self.pos + 1, None))
        self.pos += 1

    def fetch_value(self, column: int) -> None:
        key = self.simple_keys.pop(self.flow_level, None)
        if key is not None:
            # The key is on this line (or it would have been dropped as stale).
            index, _, key_pos, _ = key
            self.tokens.insert(index, _YamlToken(_YT_KEY, None, key_pos, key_pos, None))
            if not self.flow_level and self.add_indent(key_pos - self.line_start):
                self.tokens.insert(index, _YamlToken(_YT_BLOCK_MAPPING_START, None, key_pos, key_pos, None))
            self.allow_simple_key = False
        else:
            if not self.flow_level:
                if not self.allow_simple_key:
                    raise self.error("a mapping value (': ') is not allowed here")
                if self.add_indent(column):
                    self.tokens.append(_YamlToken(_YT_BLOCK_MAPPING_START, None, self.pos, self.pos, None))
            self.allow_simple_key = not self.flow_level
            self.remove_simple_key()
        self.tokens.append(_YamlToken(_YT_VALUE, None, self.pos, self.pos + 1, None))
        self.pos += 1

    def fetch_anchor(self, indicator: str) -> None:
        text = self.text
        match = _YAML_ANCHOR_NAME.match(text, self.pos + 1)
        end = match.end() if match else self.pos + 1
        if not match or text[end] not in "\0 \t\n?:,]}%@`":
            self.pos = end
            what = "an alias" if indicator == "*" else "an anchor"
            raise self.error(f"expected a letter, digit, '-' or '_' in {what}, but found {_yaml_describe(text[end])}")
        kind = _YT_ALIAS if indicator == "*" else _YT_ANCHOR
        self.tokens.append(_YamlToken(kind, match.group(), self.pos, end, None))
        self.pos = end

    def fetch_tag(self) -> None:
        text = self.text
        start = self.pos
        handle: Optional[str]
        if text[start + 1] == "<":
            handle = None
            self.pos = start + 2
            suffix = self.scan_tag_uri()
            if text[self.pos] != ">":
                raise self.error(f"expected '>' to close the tag, but found {_yaml_describe(text[self.pos])}")
            self.pos += 1
        elif text[start + 1] in _YAML_BLANK:
            handle, suffix = None, "!"
            self.pos = start + 1
        else:
            word = text[start + 1 : _yaml_end(_YAML_REST_OF_LINE, text, start + 1)].split(" ", 1)[0]
            if "!" in word:
                match = _YAML_TAG_HANDLE.match(text, start)
                handle = match.group() if match else "!"
                self.pos = start + len(handle)
                if not handle.endswith("!") or len(handle) == 1:
                    raise self.error(f"expected '!' to end the tag handle, but found {_yaml_describe(text[self.pos])}")
            else:
                handle = "!"
                self.pos = start + 1
            suffix = self.scan_tag_uri()
        if text[self.pos] not in "\0 \n":
            raise self.error(f"expected a space after the tag, but found {_yaml_describe(text[self.pos])}")
        self.tokens.append(_YamlToken(_YT_TAG, (handle, suffix), start, self.pos, None))

    def scan_tag_uri(self) -> str:
        match = _YAML_TAG_URI.match(self.text, self.pos)
        if not match:
            raise self.error(f"expected a tag, but found {_yaml_describe(self.text[self.pos])}")
        self.pos = match.end()
        # A %-escape stays as written: no tag a config can use needs one, so the parser refuses the tag.
        return match.group()

    # --- Scalars ---

    def fetch_plain(self, column: int) -> None:
        text = self.text
        start = self.pos
        flow = self.flow_level
        chunk_re = _YAML_PLAIN_FLOW if flow else _YAML_PLAIN_BLOCK
        first = chunk_re.match(text, self.pos)
        if (
            first is not None
            and text[first.end()] == ":"
            and not flow
            and self.allow_simple_key
            and 0 not in self.simple_keys
            and first.end() - self.pos <= _YAML_MAX_KEY_LENGTH
        ):
            # A one-line key followed by ':', the most common token of a config: one token for what the simple-key
            # machinery would make three of (KEY, SCALAR and VALUE), without it.
            if self.add_indent(column):
                self.tokens.append(_YamlToken(_YT_BLOCK_MAPPING_START, None, start, start, None))
            self.pos = first.end() + 1
            self.tokens.append(_YamlToken(_YT_PLAIN_KEY, first.group(), start, self.pos, None))
            self.allow_simple_key = False
            return
        self.save_simple_key(column)
        self.allow_simple_key = False
        if first is not None:
            # The common cases: a key, or a value that ends its line and is not continued on the next one.
            end = first.end()
            ch = text[end]
            if ch not in " \n":
                self.pos = end
                self.tokens.append(_YamlToken(_YT_SCALAR, first.group(), start, end, None))
                return
            if ch == "\n" and not flow:
                run_end = _yaml_end(_YAML_SPACES_AND_BREAKS, text, end)
                line_start = text.rfind("\n", end, run_end) + 1
                if text[run_end] in "#\0" or run_end - line_start <= self.indent:
                    self.allow_simple_key = True
                    self.consume_breaks(end, run_end)
                    self.tokens.append(_YamlToken(_YT_SCALAR, first.group(), start, end, None))
                    return
        indent = self.indent + 1
        chunks: List[str] = []
        spaces = ""
        end = start
        while text[self.pos] != "#":
            match = chunk_re.match(text, self.pos)
            if not match:
                break
            self.allow_simple_key = False
            if spaces:
                chunks.append(spaces)
            chunks.append(match.group())
            self.pos = end = match.end()
            spaces = self.scan_plain_spaces()
            if not spaces or text[self.pos] == "#" or (not flow and self.pos - self.line_start < indent):
                break
        self.tokens.append(_YamlToken(_YT_SCALAR, "".join(chunks), start, end, None))

    def scan_plain_spaces(self) -> str:
        """Consume the spaces and line breaks after a chunk of a plain scalar; return how they fold."""
        text = self.text
        start = self.pos
        end = _yaml_end(_YAML_SPACES, text, start)
        if text[end] != "\n":
            self.pos = end
            return text[start:end]
        self.allow_simple_key = True
        run_end = _yaml_end(_YAML_SPACES_AND_BREAKS, text, end + 1)
        # A document marker ends the scalar: it can only be where the run of spaces and breaks ends.
        marker_at = text.rfind("\n", end, run_end) + 1
        if marker_at == run_end and text[run_end : run_end + 3] in ("---", "...") and text[run_end + 3] in _YAML_BLANK:
            self.consume_breaks(start, run_end)
            return ""
        breaks = self.consume_breaks(start, run_end)
        return " " if breaks == 1 else "\n" * (breaks - 1)

    def fetch_quoted(self, mark: str) -> None:
        text = self.text
        start = self.pos
        double = mark == '"'
        run_re = _YAML_DOUBLE_QUOTED_RUN if double else _YAML_SINGLE_QUOTED_RUN
        chunks: List[str] = []
        self.pos += 1
        while True:
            match = run_re.match(text, self.pos)
            if match:
                chunks.append(match.group())
                self.pos = match.end()
            ch = text[self.pos]
            if ch == mark:
                if not double and text[self.pos + 1] == "'":
                    chunks.append("'")
                    self.pos += 2
                    continue
                self.pos += 1
                break
            if ch == "\\":
                self.scan_escape(chunks, start)
            else:
                self.scan_quoted_spaces(chunks, start)
        self.tokens.append(_YamlToken(_YT_SCALAR, "".join(chunks), start, self.pos, mark))

    def scan_escape(self, chunks: List[str], start: int) -> None:
        text = self.text
        ch = text[self.pos + 1]
        self.pos += 2
        if ch in _YAML_ESCAPES:
            chunks.append(_YAML_ESCAPES[ch])
        elif ch in _YAML_ESCAPE_LENGTHS:
            length = _YAML_ESCAPE_LENGTHS[ch]
            digits = text[self.pos : self.pos + length]
            digits = digits[: _yaml_end(_YAML_HEX, digits, 0)]
            if len(digits) < length:
                self.pos += len(digits)
                raise self.error(
                    f"expected an escape sequence of {length} hexadecimal digits, "
                    f"but found {_yaml_describe(text[self.pos])}"
                )
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise self.error(f"escape sequence \\{ch}{digits} is not a Unicode character")
            if 0xD800 <= code <= 0xDFFF and self.surrogate_escape is None:
                self.surrogate_escape = self.pos - 2
            chunks.append(chr(code))
            self.pos += length
        elif ch == "\n":
            self.consume_breaks(self.pos - 1, self.pos)
            chunks.append(self.scan_quoted_breaks(start))
        else:
            self.pos -= 1
            raise self.error(f"found unknown escape character {_yaml_describe(ch)}")

    def scan_quoted_spaces(self, chunks: List[str], start: int) -> None:
        text = self.text
        here = self.pos
        end = _yaml_end(_YAML_WHITESPACE, text, here)
        ch = text[end]
        if ch == "\0":
            self.pos = end
            raise self.error("found the end of the file inside a quoted scalar that starts here", start)
        if ch == "\n":
            self.consume_breaks(here, end + 1)
            breaks = self.scan_quoted_breaks(start)
            chunks.append(breaks or " ")
        else:
            chunks.append(text[here:end])
            self.pos = end

    def scan_quoted_breaks(self, start: int) -> str:
        """Consume the empty lines and indentation that continue a quoted scalar; return the kept breaks."""
        text = self.text
        breaks = 0
        while True:
            if text[self.pos : self.pos + 3] in ("---", "...") and text[self.pos + 3] in _YAML_BLANK:
                raise self.error("found a document marker inside a quoted scalar that starts here", start)
            self.pos = _yaml_end(_YAML_WHITESPACE, text, self.pos)
            if text[self.pos] != "\n":
                return "\n" * breaks
            self.consume_breaks(self.pos, self.pos + 1)
            breaks += 1

    def fetch_block_scalar(self, style: str) -> None:
        text = self.text
        start = self.pos
        folded = style == ">"
        self.pos += 1
        chomping, increment, content_end = self.scan_block_scalar_header()
        min_indent = max(self.indent + 1, 1)
        if increment is None:
            # Without an indentation indicator, the deepest of the leading space-only lines sets the indentation
            # (the last of them holds the indentation of the first non-empty line).
            here = self.pos
            end = _yaml_end(_YAML_SPACES_AND_BREAKS, text, here)
            max_indent = max(len(spaces) for spaces in text[here:end].split("\n"))
            breaks = "\n" * self.consume_breaks(here, end)
            indent = max(min_indent, max_indent)
        else:
            indent = min_indent + increment - 1
            breaks = self.scan_block_scalar_breaks(indent)
        chunks: List[str] = []
        line_break = ""
        while self.pos - self.line_start == indent and text[self.pos] != "\0":
            chunks.append(breaks)
            leading_non_space = text[self.pos] not in " \t"
            end = content_end = _yaml_end(_YAML_REST_OF_LINE, text, self.pos)
            chunks.append(text[self.pos : end])
            if text[end] == "\n":
                self.consume_breaks(end, end + 1)
                line_break = "\n"
            else:
                self.pos = end
                line_break = ""
            breaks = self.scan_block_scalar_breaks(indent)
            if self.pos - self.line_start != indent or text[self.pos] == "\0":
                break
            if folded and line_break == "\n" and leading_non_space and text[self.pos] not in " \t":
                if not breaks:
                    chunks.append(" ")
            else:
                chunks.append(line_break)
        if chomping is not False:
            chunks.append(line_break)
        if chomping is True:
            chunks.append(breaks)
            if breaks:
                content_end = self.line_start - 1  # the blank lines are part of the value
        # The token ends with its last line of content (or blank line it keeps): later blank lines are not its own.
        self.tokens.append(_YamlToken(_YT_SCALAR, "".join(chunks), start, content_end, style))

    def scan_block_scalar_header(self) -> Tuple[Optional[bool], Optional[int], int]:
        """Read the indicators and comment after ``|`` or ``>``: the chomping, the indentation increment, and
        where the header's line ends."""
        text = self.text
        chomping: Optional[bool] = None
        increment: Optional[int] = None
        for _ in range(2):
            ch = text[self.pos]
            if ch in "+-" and chomping is None:
                chomping = ch == "+"
                self.pos += 1
            elif ch in "0123456789" and increment is None:
                if ch == "0":
                    raise self.error("expected an indentation indicator in the range 1-9, but found 0")
                increment = int(ch)
                self.pos += 1
        if text[self.pos] not in "\0 \n":
            raise self.error(
                f"expected a chomping or indentation indicator, but found {_yaml_describe(text[self.pos])}"
            )
        self.pos = _yaml_end(_YAML_SPACES, text, self.pos)
        if text[self.pos] == "#":
            self.pos = _yaml_end(_YAML_REST_OF_LINE, text, self.pos)
        if text[self.pos] not in "\0\n":
            raise self.error(f"expected a comment or a line break, but found {_yaml_describe(text[self.pos])}")
        end = self.pos
        if text[self.pos] == "\n":
            self.consume_breaks(self.pos, self.pos + 1)
        return chomping, increment, end

    def scan_block_scalar_breaks(self, indent: int) -> str:
        """Consume empty lines and up to ``indent`` spaces of indentation; return the line breaks consumed."""
        text = self.text
        breaks = 0
        while True:
            limit = self.line_start + indent
            while self.pos < limit and text[self.pos] == " ":
                self.pos += 1
            if text[self.pos] != "\n":
                return "\n" * breaks
            self.consume_breaks(self.pos, self.pos + 1)
            breaks += 1


class _YamlInProgress:
    """Marks an anchor whose node is still being read: an alias to it would make a recursive value."""


_YAML_IN_PROGRESS = _YamlInProgress()


class _YamlPairMarks:
    """Where one key and its value are written: offsets into the text the parser read.

    ``colon_end`` is None when the key has no ``:`` (``{a}``, or ``? a`` alone); ``value_start`` is None when
    the value is empty, and then ``value_end`` is where the value would start. ``value_kind`` is the token kind
    of the value's node (after its anchor and tag), ``style`` the quote or block indicator of a scalar value;
    ``anchored`` says whether the value holds an anchor (which aliases elsewhere may use).
    """

    __slots__ = ("anchored", "colon_end", "key_start", "style", "value_end", "value_kind", "value_start")

    def __init__(
        self,
        key_start: int,
        colon_end: Optional[int],
        value_start: Optional[int],
        value_end: int,
        value_kind: Optional[str],
        style: Optional[str],
        anchored: bool,
    ) -> None:
        self.key_start = key_start
        self.colon_end = colon_end
        self.value_start = value_start
        self.value_end = value_end
        self.value_kind = value_kind
        self.style = style
        self.anchored = anchored


class _YamlMappingMarks:
    """Where a mapping and each of its own pairs (not those merged in with ``<<``) are written.

    ``flow`` is None for a block mapping, ``"{"`` for a flow mapping and ``"["`` for a pair in a flow sequence
    (``[a: 1]``). ``end`` is the offset after the last token of its last pair, ``close`` where the ``}`` of a
    flow mapping is.
    """

    __slots__ = ("close", "end", "flow", "pairs", "start")

    def __init__(self, flow: Optional[str], start: int) -> None:
        self.flow = flow
        self.start = start
        self.end = start
        self.close: Optional[int] = None
        self.pairs: Dict[Any, _YamlPairMarks] = {}


# After a key's ':', a value is empty when one of these tokens comes next.
_YAML_BLOCK_PAIR_ENDS = (_YT_KEY, _YT_PLAIN_KEY, _YT_VALUE, _YT_BLOCK_END)


class _YamlParser:
    """Build Python values from the tokens of one YAML document, as ``yaml.safe_load`` would.

    :param marks: If not None, filled (by ``id`` of each dict and list of the value) with where things are written:
        a :class:`_YamlMappingMarks` for each mapping, the offset of each item for each list.
    """

    def __init__(self, tokens: List[_YamlToken], text: str, path: str, marks: Optional[Dict[int, Any]]) -> None:
        self.tokens = tokens
        self.index = 0
        self.text = text
        self.path = path
        self.anchors: Dict[str, Any] = {}
        self.depth = 0
        self.marks = marks

    def error(self, what: str, token: _YamlToken) -> PyngrokConfigError:
        return _yaml_error_at(self.path, self.text, token.start, what)

    def unexpected(self, expected: str) -> PyngrokConfigError:
        token = self.tokens[self.index]
        return self.error(f"expected {expected}, but found {self.describe(token)}", token)

    @staticmethod
    def describe(token: _YamlToken) -> str:
        if token.kind is _YT_SCALAR or token.kind is _YT_PLAIN_KEY:
            text = token.value if len(token.value) <= 40 else token.value[:37] + "..."
            return f"the {'key' if token.kind is _YT_PLAIN_KEY else 'scalar'} {text!r}"
        if token.kind is _YT_ALIAS:
            return f"the alias *{token.value}"
        if token.kind is _YT_ANCHOR:
            return f"the anchor &{token.value}"
        return token.kind

    # --- Stream and document ---

    def parse_stream(self) -> Any:
        tokens = self.tokens
        kind = tokens[0].kind
        value: Any = None
        if kind is not _YT_DIRECTIVE and kind is not _YT_DOCUMENT_START and kind is not _YT_STREAM_END:
            value = self.parse_node(block=True)
        else:
            while tokens[self.index].kind is _YT_DOCUMENT_END:
                self.index += 1
            if tokens[self.index].kind is not _YT_STREAM_END:
                self.parse_directives()
                if tokens[self.index].kind is not _YT_DOCUMENT_START:
                    raise self.unexpected("'---' after the directives")
                self.index += 1
                kind = tokens[self.index].kind
                if kind not in (_YT_DIRECTIVE, _YT_DOCUMENT_START, _YT_DOCUMENT_END, _YT_STREAM_END):
                    value = self.parse_node(block=True)
        while tokens[self.index].kind is _YT_DOCUMENT_END:
            self.index += 1
        token = tokens[self.index]
        if token.kind is _YT_DIRECTIVE or token.kind is _YT_DOCUMENT_START:
            raise self.error("found a second document; only one document per file is supported", token)
        if token.kind is not _YT_STREAM_END:
            raise self.unexpected("the end of the document")
        return value

    def parse_directives(self) -> None:
        seen_yaml = False
        while self.tokens[self.index].kind is _YT_DIRECTIVE:
            token = self.tokens[self.index]
            name, version = token.value
            if name == "YAML":
                if seen_yaml:
                    raise self.error("found a second %YAML directive", token)
                seen_yaml = True
                if version[0] != 1:
                    raise self.error(f"found YAML version {version[0]}.{version[1]}; version 1.x is required", token)
            self.index += 1

    # --- Nodes ---

    def parse_node(self, block: bool, indentless: bool = False, is_key: bool = False) -> Any:
        tokens = self.tokens
        token = tokens[self.index]
        kind = token.kind
        if kind is _YT_SCALAR:
            # The common case first: a scalar without properties.
            self.index += 1
            return self.plain(token, is_key) if token.style is None else token.value
        if kind is _YT_ALIAS:
            self.index += 1
            value = self.anchors.get(token.value, _YAML_MERGE)
            if value is _YAML_MERGE:
                raise self.error(f"found the alias *{token.value}, but no anchor &{token.value} before it", token)
            if value is _YAML_IN_PROGRESS:
                raise self.error(
                    f"the alias *{token.value} is inside its own anchor; recursive values are not supported", token
                )
            return value
        anchor: Optional[str] = None
        tag: Optional[str] = None
        start = token
        if kind is _YT_ANCHOR:
            anchor = token.value
            self.index += 1
            if tokens[self.index].kind is _YT_TAG:
                tag = self.resolve_tag(tokens[self.index])
                self.index += 1
        elif kind is _YT_TAG:
            tag = self.resolve_tag(token)
            self.index += 1
            if tokens[self.index].kind is _YT_ANCHOR:
                anchor = tokens[self.index].value
                self.index += 1
        if anchor is not None:
            if anchor in self.anchors:
                raise self.error(f"found a second anchor &{anchor}; anchor names must be unique", start)
            self.anchors[anchor] = _YAML_IN_PROGRESS
        token = tokens[self.index]
        kind = token.kind
        if kind is _YT_SCALAR:
            self.index += 1
            value = self.construct_scalar(token, tag, is_key, start)
        elif indentless and kind is _YT_BLOCK_ENTRY:
            value = self.check_collection_tag(self.parse_indentless_sequence(), tag, start)
        elif kind is _YT_FLOW_SEQUENCE_START:
            value = self.check_collection_tag(self.parse_flow_sequence(), tag, start)
        elif kind is _YT_FLOW_MAPPING_START:
            value = self.check_collection_tag(self.parse_flow_mapping(), tag, start)
        elif block and kind is _YT_BLOCK_SEQUENCE_START:
            value = self.check_collection_tag(self.parse_block_sequence(), tag, start)
        elif block and kind is _YT_BLOCK_MAPPING_START:
            value = self.check_collection_tag(self.parse_block_mapping(), tag, start)
        elif anchor is not None or tag is not None:
            # An anchor or a tag alone is an empty scalar.
            empty = _YamlToken(_YT_SCALAR, "", start.start, start.start, None)
            value = self.construct_scalar(empty, tag, True, start)
        else:
            raise self.unexpected("a value")
        if anchor is not None:
            self.anchors[anchor] = value
        return value

    def plain(self, token: _YamlToken, is_key: bool) -> Any:
        """The value of a plain scalar without a tag: null, bool, int, float, timestamp or str."""
        text: str = token.value
        value = _YAML_WORDS.get(text, token) if len(text) < 6 else token
        if value is token:
            return _yaml_resolve_plain(text, self, token)
        if value is _YAML_MERGE:
            return self.merge_key(token, is_key)
        return value

    def merge_key(self, token: _YamlToken, is_key: bool) -> Any:
        if not is_key:
            raise self.error(
                f"found {token.value!r}, which is only allowed as a key; quote it to make it a string", token
            )
        return _YAML_MERGE if token.value == "<<" else "="

    def resolve_tag(self, token: _YamlToken) -> str:
        handle: Optional[str] = token.value[0]
        suffix: str = token.value[1]
        if handle is None:
            return suffix
        if handle == "!!":
            return _YAML_TAG_PREFIX + suffix
        if handle == "!":
            return "!" + suffix
        raise self.error(f"found the undefined tag handle {handle}", token)

    def construct_scalar(self, token: _YamlToken, tag: Optional[str], is_key: bool, start: _YamlToken) -> Any:
        text = token.value
        if (tag is None and token.style is not None) or tag == _YAML_STR:
            return text
        if tag is None or tag == "!":
            # PyYAML resolves a scalar with the non-specific tag "!" as if it were plain, even a quoted one.
            if start is not token and _YAML_WORDS.get(text) is _YAML_MERGE:
                raise self.error(f"an anchor or a tag on {text!r} is not supported", start)
            return self.plain(token, is_key)
        if tag not in _YAML_SCALAR_TAGS:
            raise self.error(self.unsupported_tag(tag, "a scalar"), start)
        try:
            return _yaml_construct_tagged(tag[len(_YAML_TAG_PREFIX) :], text)
        except (ValueError, KeyError, IndexError, TypeError, AttributeError, OverflowError):
            raise self.error(f"cannot read {text!r} as {tag.replace(_YAML_TAG_PREFIX, '!!')}", start) from None

    def check_collection_tag(self, value: Any, tag: Optional[str], start: _YamlToken) -> Any:
        if tag is None or tag == "!":
            return value
        expected = _YAML_MAP if isinstance(value, dict) else _YAML_SEQ
        if tag != expected:
            raise self.error(self.unsupported_tag(tag, "a mapping" if expected == _YAML_MAP else "a sequence"), start)
        return value

    @staticmethod
    def unsupported_tag(tag: str, node: str) -> str:
        short = tag.replace(_YAML_TAG_PREFIX, "!!")
        if tag.startswith(_YAML_TAG_PREFIX) and tag[len(_YAML_TAG_PREFIX) :] in _YAML_STANDARD_TAGS:
            return f"the tag {short} cannot be applied to {node}"
        supported = ", ".join("!!" + name for name in _YAML_STANDARD_TAGS)
        return f"the tag {short} is not supported (only the standard tags are: {supported})"

    # --- Collections ---

    def enter(self, token: _YamlToken) -> None:
        self.depth += 1
        if self.depth > _YAML_MAX_DEPTH:
            raise self.error(f"the document nests deeper than {_YAML_MAX_DEPTH} levels", token)

    def parse_block_sequence(self) -> List[Any]:
        tokens = self.tokens
        self.enter(tokens[self.index])
        self.index += 1
        items: List[Any] = []
        starts = self.item_marks(items)
        while tokens[self.index].kind is _YT_BLOCK_ENTRY:
            entry = tokens[self.index]
            self.index += 1
            if starts is not None:
                starts.append(entry.start)
            kind = tokens[self.index].kind
            if kind is _YT_BLOCK_ENTRY or kind is _YT_BLOCK_END:
                items.append(None)
            else:
                items.append(self.parse_node(block=True))
        if tokens[self.index].kind is not _YT_BLOCK_END:
            raise self.unexpected("another '-' item of this sequence, or its end")
        self.index += 1
        self.depth -= 1
        return items

    def parse_indentless_sequence(self) -> List[Any]:
        tokens = self.tokens
        self.enter(tokens[self.index])
        items: List[Any] = []
        starts = self.item_marks(items)
        while tokens[self.index].kind is _YT_BLOCK_ENTRY:
            entry = tokens[self.index]
            self.index += 1
            if starts is not None:
                starts.append(entry.start)
            kind = tokens[self.index].kind
            if kind is _YT_BLOCK_ENTRY or kind in _YAML_BLOCK_PAIR_ENDS:
                items.append(None)
            else:
                items.append(self.parse_node(block=True))
        self.depth -= 1
        return items

    def parse_block_mapping(self) -> Dict[Any, Any]:
        tokens = self.tokens
        start = tokens[self.index]
        self.enter(start)
        self.index += 1
        mapping: Dict[Any, Any] = {}
        merges: List[Tuple[Any, _YamlToken]] = []
        marks = self.mapping_marks(mapping, None, start)
        while True:
            key_token = tokens[self.index]
            if key_token.kind is _YT_PLAIN_KEY:
                # The scanner's one token for a plain key and its ':'.
                self.index += 1
                key = self.plain(key_token, is_key=True)
                colon: Optional[_YamlToken] = key_token
            elif key_token.kind is _YT_KEY:
                self.index += 1
                key = None
                key_start = tokens[self.index]
                if key_start.kind not in _YAML_BLOCK_PAIR_ENDS:
                    key = self.parse_node(block=True, indentless=True, is_key=True)
                    self.check_key(key, key_start)
                colon = tokens[self.index] if tokens[self.index].kind is _YT_VALUE else None
                if colon is not None:
                    self.index += 1
            else:
                break
            value_index = self.index
            value: Any = None
            if colon is not None and tokens[self.index].kind not in _YAML_BLOCK_PAIR_ENDS:
                value = self.parse_node(block=True, indentless=True)
            self.add_pair(mapping, merges, key, value, key_token)
            if marks is not None:
                self.mark_pair(marks, key, key_token, colon, value_index)
        if tokens[self.index].kind is not _YT_BLOCK_END:
            raise self.unexpected("another key of this mapping, or its end")
        self.index += 1
        self.depth -= 1
        return self.apply_merges(mapping, merges) if merges else mapping

    def parse_flow_sequence(self) -> List[Any]:
        tokens = self.tokens
        self.enter(tokens[self.index])
        self.index += 1
        items: List[Any] = []
        starts = self.item_marks(items)
        first = True
        while tokens[self.index].kind is not _YT_FLOW_SEQUENCE_END:
            if not first:
                if tokens[self.index].kind is not _YT_FLOW_ENTRY:
                    raise self.unexpected("',' or ']'")
                self.index += 1
            first = False
            token = tokens[self.index]
            if starts is not None:
                starts.append(token.start)
            if token.kind is _YT_KEY:
                # A single "key: value" pair in a flow sequence is a one-pair mapping.
                self.index += 1
                self.enter(token)
                pair: Dict[Any, Any] = {}
                items.append(
                    self.parse_flow_pair(pair, self.mapping_marks(pair, "[", token), token, _YT_FLOW_SEQUENCE_END)
                )
                self.depth -= 1
            elif token.kind is not _YT_FLOW_SEQUENCE_END:
                items.append(self.parse_node(block=False))
        self.index += 1
        self.depth -= 1
        return items

    def parse_flow_mapping(self) -> Dict[Any, Any]:
        tokens = self.tokens
        start = tokens[self.index]
        self.enter(start)
        self.index += 1
        mapping: Dict[Any, Any] = {}
        merges: List[Tuple[Any, _YamlToken]] = []
        marks = self.mapping_marks(mapping, "{", start)
        first = True
        while tokens[self.index].kind is not _YT_FLOW_MAPPING_END:
            if not first:
                if tokens[self.index].kind is not _YT_FLOW_ENTRY:
                    raise self.unexpected("',' or '}'")
                self.index += 1
            first = False
            token = tokens[self.index]
            if token.kind is _YT_KEY:
                self.index += 1
                mapping = self.parse_flow_pair(mapping, marks, token, _YT_FLOW_MAPPING_END, merges)
            elif token.kind is not _YT_FLOW_MAPPING_END:
                key = self.parse_node(block=False, is_key=True)
                self.check_key(key, token)
                self.add_pair(mapping, merges, key, None, token)
                if marks is not None:
                    self.mark_pair(marks, key, token, None, self.index)
        if marks is not None:
            marks.close = tokens[self.index].start
        self.index += 1
        self.depth -= 1
        return self.apply_merges(mapping, merges) if merges else mapping

    def parse_flow_pair(
        self,
        mapping: Dict[Any, Any],
        marks: Optional[_YamlMappingMarks],
        key_token: _YamlToken,
        end: str,
        merges: Optional[List[Tuple[Any, _YamlToken]]] = None,
    ) -> Dict[Any, Any]:
        """Read the key and value after a KEY token in a flow collection and add them to ``mapping``.

        :return: ``mapping``, or with ``merges`` None (a pair in a flow sequence), the mapping with its merges
            applied.
        """
        tokens = self.tokens
        key = None
        key_start = tokens[self.index]
        if key_start.kind not in (_YT_VALUE, _YT_FLOW_ENTRY, end):
            key = self.parse_node(block=False, is_key=True)
            self.check_key(key, key_start)
        colon = tokens[self.index] if tokens[self.index].kind is _YT_VALUE else None
        if colon is not None:
            self.index += 1
        value_index = self.index
        value = None
        if colon is not None and tokens[self.index].kind not in (_YT_FLOW_ENTRY, end):
            value = self.parse_node(block=False)
        pending = [] if merges is None else merges
        self.add_pair(mapping, pending, key, value, key_token)
        if marks is not None:
            self.mark_pair(marks, key, key_token, colon, value_index)
        return self.apply_merges(mapping, pending) if merges is None and pending else mapping

    def check_key(self, key: Any, token: _YamlToken) -> None:
        if isinstance(key, (dict, list)):
            raise self.error("a mapping or a sequence cannot be a key", token)

    def add_pair(
        self, mapping: Dict[Any, Any], merges: List[Tuple[Any, _YamlToken]], key: Any, value: Any, token: _YamlToken
    ) -> None:
        if key is _YAML_MERGE:
            merges.append((value, token))
        else:
            mapping[key] = value

    def apply_merges(self, mapping: Dict[Any, Any], merges: List[Tuple[Any, _YamlToken]]) -> Dict[Any, Any]:
        """Apply the ``<<`` keys of a mapping: merged keys come first and the mapping's own keys win.

        Within a list of mappings to merge, an earlier one wins over a later one, as in PyYAML up to 6.0.3 (and
        as the merge key's spec says).
        """
        merged: Dict[Any, Any] = {}
        for value, token in merges:
            sources = list(reversed(value)) if isinstance(value, list) else [value]
            for source in sources:
                if not isinstance(source, dict):
                    what = "a list of mappings" if isinstance(value, list) else "a mapping or a list of mappings"
                    raise self.error(f"'<<' merges {what}, but found {_yaml_type_name(source)}", token)
                merged.update(source)
        merged.update(mapping)
        if self.marks is not None:
            self.marks[id(merged)] = self.marks.pop(id(mapping))
        return merged

    # --- Marks: where things are written, for error messages and edits (only when asked for) ---

    def item_marks(self, items: List[Any]) -> Optional[List[int]]:
        if self.marks is None:
            return None
        starts: List[int] = []
        self.marks[id(items)] = starts
        return starts

    def mapping_marks(
        self, mapping: Dict[Any, Any], flow: Optional[str], start: _YamlToken
    ) -> Optional[_YamlMappingMarks]:
        if self.marks is None:
            return None
        marks = _YamlMappingMarks(flow, start.start)
        self.marks[id(mapping)] = marks
        return marks

    def mark_pair(
        self, marks: _YamlMappingMarks, key: Any, key_token: _YamlToken, colon: Optional[_YamlToken], value_index: int
    ) -> None:
        """Note where a pair just read is written: its key token, its ':' and the tokens of its value."""
        tokens = self.tokens
        last = self.index - 1
        while tokens[last].kind is _YT_BLOCK_END:
            last -= 1
        value_start: Optional[int] = None
        value_kind: Optional[str] = None
        style: Optional[str] = None
        anchored = False
        if self.index > value_index:
            node = value_index
            while tokens[node].kind is _YT_ANCHOR or tokens[node].kind is _YT_TAG:
                node += 1
            value_start, value_kind, style = tokens[value_index].start, tokens[node].kind, tokens[node].style
            anchored = any(token.kind is _YT_ANCHOR for token in tokens[value_index : self.index])
        marks.end = tokens[last].end
        if key is not _YAML_MERGE:
            colon_end = None if colon is None else colon.end
            marks.pairs[key] = _YamlPairMarks(
                key_token.start, colon_end, value_start, tokens[last].end, value_kind, style, anchored
            )


def _yaml_type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    return type(value).__name__


def _yaml_resolve_plain(text: str, parser: _YamlParser, token: _YamlToken) -> Any:
    """Resolve a plain scalar that is not one of the YAML 1.1 null or bool words: int, float, timestamp or str."""
    if text and text[0] in "-+0123456789.":
        try:
            if _YAML_INT.fullmatch(text):
                return _yaml_construct_int(text)
            if _YAML_FLOAT.fullmatch(text):
                return _yaml_construct_float(text)
            if _YAML_IMPLICIT_TIMESTAMP.fullmatch(text):
                return _yaml_construct_timestamp(text)
        except (ValueError, IndexError, OverflowError):
            raise parser.error(f"cannot read {text!r} as a number or a date", token) from None
    return text


def _yaml_construct_int(text: str) -> int:
    digits = text.replace("_", "")
    sign = -1 if digits[0] == "-" else 1
    if digits[0] in "+-":
        digits = digits[1:]
    if digits == "0":
        return 0
    if digits.startswith(("0b", "0x")):
        return sign * int(digits, 0)
    if digits[0] == "0":
        return sign * int(digits, 8)
    if ":" in digits:
        # Sexagesimal (base 60), e.g. 1:30 is 90.
        number = 0
        for part in digits.split(":"):
            number = number * 60 + int(part)
        return sign * number
    return sign * int(digits)


def _yaml_construct_float(text: str) -> float:
    digits = text.replace("_", "").lower()
    sign = -1.0 if digits[0] == "-" else 1.0
    if digits[0] in "+-":
        digits = digits[1:]
    if digits == ".inf":
        return sign * float("inf")
    if digits == ".nan":
        return float("nan")
    if ":" in digits:
        number = 0.0
        for part in digits.split(":"):
            number = number * 60 + float(part)
        return sign * number
    return sign * float(digits)


def _yaml_construct_timestamp(text: str) -> Any:
    import datetime

    match = _YAML_TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(text)
    year, month, day = int(match.group("year")), int(match.group("month")), int(match.group("day"))
    if not match.group("hour"):
        return datetime.date(year, month, day)
    fraction = int((match.group("fraction") or "")[:6].ljust(6, "0"))
    tzinfo: Optional[datetime.tzinfo] = None
    if match.group("tz_sign"):
        delta = datetime.timedelta(hours=int(match.group("tz_hour")), minutes=int(match.group("tz_minute") or 0))
        tzinfo = datetime.timezone(-delta if match.group("tz_sign") == "-" else delta)
    elif match.group("tz"):
        tzinfo = datetime.timezone.utc
    hour, minute, second = int(match.group("hour")), int(match.group("minute")), int(match.group("second"))
    return datetime.datetime(year, month, day, hour, minute, second, fraction, tzinfo=tzinfo)


def _yaml_construct_tagged(name: str, text: str) -> Any:
    """Construct a scalar with an explicit standard tag (``!!int``, ...), as PyYAML's safe constructor does."""
    if name == "int":
        return _yaml_construct_int(text)
    if name == "float":
        return _yaml_construct_float(text)
    if name == "bool":
        return _YAML_BOOL_WORDS[text.lower()]
    if name == "null":
        return None
    if name == "timestamp":
        return _yaml_construct_timestamp(text)
    if name == "binary":
        import base64
        import binascii

        try:
            return base64.decodebytes(text.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError) as error:
            raise ValueError(str(error)) from None
    return text


def _yaml_printable(character: str) -> bool:
    """Whether YAML 1.1 allows the character in a file (its "printable" set)."""
    return (
        character in "\t\n\r\x85"
        or " " <= character <= "~"
        or "\xa0" <= character <= "\ud7ff"
        or "\ue000" <= character <= "\ufffd"
        or character >= "\U00010000"
    )


def _yaml_check_text(text: str, path: str) -> str:
    """Normalize line breaks; refuse what a YAML reader must refuse and what this one does not support."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "\x85" in text:
        # NEL is a line break to YAML 1.1, and always reads as "\n" (unlike U+2028 and U+2029, which are kept).
        text = text.replace("\x85", "\n")
    not_accepted = _YAML_NOT_ACCEPTED_ASCII if text.isascii() else re.compile(_YAML_NOT_ACCEPTED_SOURCE)
    match = not_accepted.search(text, 1 if text.startswith("\ufeff") else 0)
    if match:
        if not _yaml_printable(match.group()):
            what = "found the character {}, which a YAML file cannot contain"
        else:
            what = "found the character {}, which is not supported here"
        line_start = text.rfind("\n", 0, match.start()) + 1
        what = what.format(f"U+{ord(match.group()):04X}")
        raise _yaml_error(path, what, text.count("\n", 0, match.start()), match.start() - line_start)
    return text


def _yaml_parse(text: str, path: str, marks: Optional[Dict[int, Any]]) -> Tuple[Any, str]:
    """Check and read a YAML text: its value, and the checked text (line breaks made "\\n"), which marks refer to."""
    if not _yaml_patterns_compiled:
        _compile_yaml_patterns()
    text = _yaml_check_text(text, path)
    try:
        scanner = _YamlScanner(text, path)
        tokens = scanner.scan()
        value = _YamlParser(tokens, text, path, marks).parse_stream()
        if scanner.surrogate_escape is not None:
            raise _yaml_surrogate_escape_error(tokens, text, path, scanner.surrogate_escape)
        return value, text
    except RecursionError:
        raise PyngrokConfigError(f"{path}: the document nests too deeply", path=path) from None


def _yaml_surrogate_escape_error(tokens: List[_YamlToken], text: str, path: str, pos: int) -> PyngrokConfigError:
    """The error for a ``\\u`` (or ``\\U``) escape of a UTF-16 surrogate, naming the key it is written under.

    PyYAML reads one as a lone surrogate, but YAML allows none: an escape stands for a Unicode character, and a
    surrogate code point is none (YAML 1.2.2, 5.1 and 5.7). Unlike JSON, YAML has no rule that joins two such
    escapes into one character (a character above U+FFFF is one ``\\U`` escape of 8 digits), so a pair written
    as two escapes is refused too, as libyaml and Go's YAML reader refuse both, and ngrok (2.3.41 is checked)
    then reads none of the file: its defaults would run silently in its place.
    """
    marks: Dict[int, Any] = {}
    key_path, in_key = _yaml_key_path_at(_YamlParser(tokens, text, path, marks).parse_stream(), marks, pos)
    if in_key:
        where = f"a key of {_config_key_path_text(key_path)}" if key_path else "a top-level key"
    else:
        where = _config_key_path_text(key_path) if key_path else "the document"
    pair = re.match(r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})", text[pos:])
    if pair:
        high, low = int(pair.group(1), 16) - 0xD800, int(pair.group(2), 16) - 0xDC00
        what = (
            f"{where}: the escapes {pair.group()} are a UTF-16 surrogate pair, which YAML (unlike JSON) does not "
            f"read as one character; write the character itself, or as \\U{0x10000 + (high << 10) + low:08X}"
        )
    else:
        escape = text[pos : pos + (10 if text[pos + 1] == "U" else 6)]
        what = f"{where}: the escape {escape} is half of a UTF-16 surrogate pair, which YAML does not allow"
    line, column = _yaml_position(text, pos)
    return _yaml_error(path, f"{what} (the ngrok agent would ignore the whole file)", line, column)


def _yaml_key_path_at(value: Any, marks: Dict[int, Any], pos: int) -> Tuple[_YamlKeyPath, bool]:
    """The key path of the innermost value written around an offset into the text, and whether the offset is in a
    key of it rather than in it. A mapping merged in with ``<<`` is not entered."""
    import bisect

    path: List[Union[str, int]] = []
    node = value
    while isinstance(node, (dict, list)) and id(node) in marks:
        if isinstance(node, list):
            index = bisect.bisect_right(marks[id(node)], pos) - 1
            if index < 0:
                break
            path.append(index)
            node = node[index]
            continue
        around = [(key, pair) for key, pair in marks[id(node)].pairs.items() if pair.key_start <= pos < pair.value_end]
        if not around:
            break
        key, pair = max(around, key=lambda item: item[1].key_start)
        if pair.value_start is None or pos < pair.value_start:
            return tuple(path), True
        path.append(key)
        node = node[key]
    return tuple(path), False


def _yaml_load(text: str, path: str = "<string>") -> Any:
    """Read a YAML document as ``yaml.safe_load`` would.

    :param text: The YAML text.
    :param path: The file the text came from, for error messages.
    :return: The value of the document: ``None`` for an empty one.
    :raises PyngrokConfigError: When the text is not valid YAML, or uses a feature this reader does not support;
        the message names the file, the line and the column.
    """
    return _yaml_parse(text, path, None)[0]


def _yaml_load_marked(text: str, path: str = "<string>") -> Tuple[Any, Dict[_YamlKeyPath, int]]:
    """Read a YAML document like :func:`_yaml_load`, and the 1-based line of each key and list item.

    :param text: The YAML text.
    :param path: The file the text came from, for error messages.
    :return: The value and a map from key paths (``("endpoints", 1, "upstream", "url")``) to lines. Keys merged
        with ``<<`` and the inside of aliases have no line of their own.
    :raises PyngrokConfigError: As :func:`_yaml_load`.
    """
    import bisect

    marks: Dict[int, Any] = {}
    value, checked = _yaml_parse(text, path, marks)
    line_starts = [0] + [match.end() for match in re.finditer("\n", checked)]
    lines: Dict[_YamlKeyPath, int] = {}
    seen = set()
    stack: List[Tuple[_YamlKeyPath, Any]] = [((), value)]
    while stack:
        prefix, node = stack.pop()
        if not isinstance(node, (dict, list)) or id(node) in seen:
            continue
        seen.add(id(node))
        node_marks = marks.get(id(node))
        starts: Dict[Any, int]
        if isinstance(node, dict):
            pairs = node_marks.pairs if node_marks is not None else {}
            starts = {key: pair.key_start for key, pair in pairs.items()}
        else:
            starts = dict(enumerate(node_marks or ()))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if not isinstance(key, (str, int)):
                continue
            key_path = (*prefix, key)
            if key in starts:
                lines[key_path] = bisect.bisect_right(line_starts, starts[key])
            stack.append((key_path, child))
    return value, lines


def _yaml_same(first: Any, second: Any) -> bool:
    """Whether two loaded values are the same: equal, of the same types, and with their keys in the same order."""
    if type(first) is not type(second):
        return False
    if isinstance(first, dict):
        return len(first) == len(second) and all(
            _yaml_same(key, other_key) and _yaml_same(first[key], second[other_key])
            for key, other_key in zip(first, second)
        )
    if isinstance(first, list):
        return len(first) == len(second) and all(map(_yaml_same, first, second))
    if isinstance(first, float) and first != first:
        return bool(second != second)  # NaN
    return bool(first == second)


# --- Writer ---

_YAML_DOUBLE_QUOTED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


class _YamlUnwritable(PyngrokConfigError):
    """A value the writer cannot write. Its message names the key path (gathered as the error leaves each
    mapping and sequence, see _yaml_writing_at), never the value, which may be a secret."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why
        self.key_path: List[Any] = []

    def __str__(self) -> str:
        where = _config_key_path_text(tuple(self.key_path)) if self.key_path else "the value"
        return f"cannot write {where} to a YAML config: {self.why}"


@contextlib.contextmanager
def _yaml_writing_at(*keys: Any) -> Iterator[None]:
    """Add ``keys`` to the front of the key path of a _YamlUnwritable raised inside."""
    try:
        yield
    except _YamlUnwritable as error:
        error.key_path[:0] = keys
        raise


def _yaml_plain_ok(text: str) -> bool:
    """Whether a string can be written plain and still read back as the same string.

    Besides PyYAML's (YAML 1.1) rules, strings that a YAML 1.2 or Go reader would take for a number, a bool or
    null are quoted, so that the ngrok agent reads the same value.
    """
    if not text or text[0] in _YAML_INDICATORS or text[-1] == " " or text in _YAML_WORDS:
        return False
    if text in ("y", "Y", "n", "N") or _YAML_PLAIN_UNSAFE.search(text):
        return False
    if text[0] in "-+.0123456789":
        return not (
            _YAML_NUMBER_LIKE.fullmatch(text)
            or _YAML_INT.fullmatch(text)
            or _YAML_FLOAT.fullmatch(text)
            or _YAML_IMPLICIT_TIMESTAMP.fullmatch(text)
        )
    return True


def _yaml_quote(text: str, style: Optional[str] = None) -> str:
    """Write a string quoted, on one line.

    By default: in double quotes when nothing in it needs an escape there; else in single quotes when it holds
    no line break or control character (they have no escapes); else in double quotes with escapes.

    :param style: ``'`` or ``"`` to ask for those quotes; single quotes that cannot hold the string give way to
        double quotes.
    """
    if style is None and not _YAML_NEEDS_ESCAPE.search(text):
        return f'"{text}"'
    if style != '"' and "\n" not in text and not _YAML_LITERAL_UNSAFE.search(text):
        return "'" + text.replace("'", "''") + "'"
    return '"' + _YAML_NEEDS_ESCAPE.sub(_yaml_escape, text) + '"'


def _yaml_escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _YAML_DOUBLE_QUOTED_ESCAPES:
        return _YAML_DOUBLE_QUOTED_ESCAPES[ch]
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:
        # No UTF-8 file can hold it raw, and the ngrok agent reads none of a file that escapes it.
        raise _YamlUnwritable(
            f"the text holds U+{code:04X} at character {match.start() + 1}, half of a UTF-16 surrogate pair, "
            "which the ngrok agent cannot read"
        )
    return f"\\x{code:02X}" if code <= 0xFF else f"\\u{code:04X}"


def _yaml_scalar(value: Any, as_key: bool = False) -> str:
    """Write a scalar on one line."""
    import datetime
    import math

    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return int.__repr__(value)
        except ValueError:  # more decimal digits than sys.get_int_max_str_digits() allows; hex has no limit
            return hex(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        text = float.__repr__(value).lower()
        # YAML 1.1 needs a dot in the mantissa of a float written with an exponent.
        return text.replace("e", ".0e", 1) if "." not in text and "e" in text else text
    if isinstance(value, str):
        text = str.__str__(value)
        return text if _yaml_plain_ok(text) else _yaml_quote(text)
    if isinstance(value, datetime.datetime):
        return value.isoformat(" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)) and not as_key:
        import base64

        return '!!binary "' + base64.b64encode(bytes(value)).decode("ascii") + '"'
    raise _YamlUnwritable(f"it is of type {type(value).__name__}")


def _yaml_literal_header(text: str, increment: int) -> Optional[Tuple[str, List[str]]]:
    """The ``|`` header and the lines of a multi-line string, or None when a block literal cannot hold it.

    :param increment: How much deeper than its key or ``-`` the literal's lines are indented.
    """
    if "\n" not in text or not text.strip("\n") or _YAML_LITERAL_UNSAFE.search(text):
        return None
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    chomping = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    lines = body.split("\n") + [""] * (trailing - 1 if trailing > 1 else 0)
    first = next(line for line in lines if line)
    # A first line that starts with a space would set the indentation itself: say how deep it is instead.
    indentation = str(increment) if first[0] == " " else ""
    return "|" + indentation + chomping, lines


def _yaml_emit(value: Any, prefix: str, indent: int, lines: List[str], active: List[int], step: int = 2) -> None:
    """Append the lines of ``value`` written after ``prefix`` (a key and ':' or a '-'), nested at ``indent``.

    :param step: How much deeper than its key a mapping's value is indented (a sequence's items are always
        indented by 2, the width of their ``- ``).
    """
    if isinstance(value, (dict, list, tuple)) and value:
        if id(value) in active:
            raise _YamlUnwritable("it contains itself")
        if len(active) > _YAML_MAX_DEPTH:
            raise _YamlUnwritable(f"it is nested deeper than {_YAML_MAX_DEPTH} levels")
        active.append(id(value))
        first = len(lines)
        if isinstance(value, dict):
            for key, item in value.items():
                with _yaml_writing_at(key):
                    key_text = _yaml_scalar(key, as_key=True)
                    if len(key_text) > _YAML_MAX_KEY_LENGTH - 2:
                        # Too long for a simple key (readers look no further than this for the ':'): an explicit
                        # key.
                        lines.append(" " * indent + "? " + key_text)
                        key_text = ""
                    _yaml_emit(item, " " * indent + key_text + ":", indent + step, lines, active, step)
        else:
            for index, item in enumerate(value):
                with _yaml_writing_at(index):
                    _yaml_emit(item, " " * indent + "-", indent + 2, lines, active, step)
        active.pop()
        if prefix.endswith("-"):
            # A collection in a sequence starts on the line of its '-'.
            lines[first] = prefix + " " + lines[first][indent:]
        else:
            lines.insert(first, prefix)
        return
    if isinstance(value, (dict, list, tuple)):
        lines.append(prefix + (" {}" if isinstance(value, dict) else " []"))
        return
    increment = indent - (len(prefix) - len(prefix.lstrip(" ")))
    literal = _yaml_literal_header(value, increment) if isinstance(value, str) else None
    if literal is None:
        lines.append(prefix + " " + _yaml_scalar(value))
        return
    header, body = literal
    lines.append(prefix + " " + header)
    lines.extend(" " * indent + line if line else "" for line in body)


def _yaml_block_lines(value: Any, indent: int, step: int) -> List[str]:
    """The lines of a non-empty mapping or sequence written in block style, its keys or items at ``indent``."""
    lines: List[str] = []
    _yaml_emit(value, "", indent, lines, [], step)
    return lines[1:]  # without the empty prefix line


def _yaml_dump(data: Any) -> str:
    """Write a value as block-style YAML that PyYAML and the ngrok agent read back as the same value.

    Mappings keep their key order. Strings are quoted whenever plain style would change their meaning, and
    multi-line strings are written as ``|`` block literals.

    :param data: The value: dicts, lists (or tuples), strings, numbers, bools, None, dates and bytes.
    :return: The YAML text, ending with a line break.
    :raises PyngrokConfigError: When the value holds another type, contains itself, or holds a string with a
        lone surrogate (a ``_YamlUnwritable``, naming the key path).
    """
    if not _yaml_patterns_compiled:
        _compile_yaml_patterns()
    if isinstance(data, (dict, list, tuple)) and data:
        return "\n".join(_yaml_block_lines(data, 0, 2)) + "\n"
    return _yaml_inline(data) + "\n"


def _yaml_inline(value: Any, style: Optional[str] = None, flow: bool = False) -> str:
    """Write a value on one line: a scalar, or a collection in flow style.

    :param style: The quotes a string had before an edit (``'`` or ``"``): kept where they can hold the new one.
    :param flow: Whether the value goes inside a flow collection, where a plain string cannot hold ``,[]{}?``.
    """
    if isinstance(value, dict):
        pairs = []
        for key, item in value.items():
            with _yaml_writing_at(key):
                pairs.append(_yaml_inline(key, None, True) + ": " + _yaml_inline(item, None, True))
        return "{" + ", ".join(pairs) + "}"
    if isinstance(value, (list, tuple)):
        items = []
        for index, item in enumerate(value):
            with _yaml_writing_at(index):
                items.append(_yaml_inline(item, None, True))
        return "[" + ", ".join(items) + "]"
    if not isinstance(value, str) or style not in ("'", '"'):
        text = _yaml_scalar(value)
        if flow and isinstance(value, str) and text[0] not in "'\"" and any(ch in text for ch in ",[]{}?"):
            return _yaml_quote(text)
        return text
    return _yaml_quote(str.__str__(value), style)


# --- Editing a document in place: only the lines of the keys that change ---


class _YamlCannotEdit(Exception):
    """A change cannot be made by editing the document's text where the key is; the message says why."""


def _yaml_newline(text: str) -> str:
    """The line break a text uses (that of its first line), "\\n" if it has none."""
    match = re.search("\r\n|\r|\n", text)
    return match.group() if match else "\n"


def _yaml_indent_step(text: str) -> int:
    """How deep the text indents a nested block: its smallest indentation of a line with content, else 2."""
    depths = [len(match.group(1)) for match in re.finditer(r"^( +)[^ #\n]", text, re.MULTILINE)]
    return min(min(depths, default=2), 8)


def _yaml_edit(text: str, path: str, changes: List[Tuple[_YamlKeyPath, Any, bool]]) -> str:
    """Set keys of a YAML document by editing the text where they are, keeping every other byte as it was.

    Comments, blank lines, quoting, indentation, flow style, a byte order mark and CRLF line breaks all stay. A
    changed value takes the place of the old one (keeping its quotes where they can hold it); a new key goes
    after the last pair of its mapping (or, with ``first``, before the first), indented as that mapping is.

    :param text: The document.
    :param path: The file the text came from, for error messages.
    :param changes: (key path, value, first): set the key path's last key, in the mapping the rest leads to.
    :return: The new text.
    :raises _YamlCannotEdit: When a change cannot be made that way, e.g. to a value with an anchor.
    :raises PyngrokConfigError: When the text is not valid YAML.
    """
    marks: Dict[int, Any] = {}
    root, checked = _yaml_parse(text, path, marks)
    editor = _YamlEditor(checked, _yaml_indent_step(checked))
    for key_path, value, first in changes:
        mapping = root
        for key in key_path[:-1]:
            mapping = mapping.get(key) if isinstance(mapping, dict) else None
        mapping_marks = marks.get(id(mapping)) if isinstance(mapping, dict) else None
        if not isinstance(mapping_marks, _YamlMappingMarks):
            raise _YamlCannotEdit(f"there is no mapping at {'.'.join(map(str, key_path[:-1])) or 'the top'}")
        with _yaml_writing_at(*key_path[:-1]):
            editor.set(mapping_marks, key_path[-1], value, first)
    return editor.apply(text)


class _YamlEditor:
    """Collect edits of a checked YAML text (offsets into it), then apply them to the original text."""

    def __init__(self, text: str, step: int) -> None:
        self.text = text
        self.step = step
        # (start, end, rank, order, replacement). At one place, what goes into an inner mapping goes before what
        # goes into an outer one (inner and outer mappings can end on one line), and a changed value before a new
        # key: the rank is -2 * the column of the mapping's keys, plus 1 for a new key.
        self.edits: List[Tuple[int, int, int, int, str]] = []
        self.filled: Set[int] = set()  # the flow mappings (by id of their marks) that new keys went after the '{' of

    def add(self, start: int, end: int, rank: int, replacement: str) -> None:
        self.edits.append((start, end, rank, len(self.edits), replacement))

    def line_start(self, pos: int) -> int:
        start = self.text.rfind("\n", 0, pos) + 1
        return 1 if start == 0 and self.text[:1] == "\ufeff" else start

    def line_end(self, pos: int) -> int:
        end = self.text.find("\n", pos)
        return len(self.text) if end < 0 else end

    def set(self, marks: _YamlMappingMarks, key: Any, value: Any, first: bool) -> None:
        if marks.flow == "[":
            raise _YamlCannotEdit("the mapping is a single pair in a flow sequence")
        pair = marks.pairs.get(key)
        if pair is None and not marks.flow:
            self.insert(marks, key, value, first)  # written as a mapping, whose writing names the key
            return
        with _yaml_writing_at(key):
            if pair is None:
                self.insert(marks, key, value, first)
            elif pair.anchored:
                raise _YamlCannotEdit(f"the value of {key!r} holds an anchor, which aliases elsewhere may use")
            elif marks.flow:
                self.replace_in_flow(pair, value)
            else:
                self.replace_in_block(marks, pair, value)

    def insert(self, marks: _YamlMappingMarks, key: Any, value: Any, first: bool) -> None:
        if marks.flow:
            entry = _yaml_inline(key, None, True) + ": " + _yaml_inline(value, None, True)
            has_pairs = marks.end != marks.start
            if first and has_pairs:
                self.add(marks.start + 1, marks.start + 1, 1, entry + ", ")
            else:
                at = marks.end if has_pairs else marks.start + 1
                self.add(at, at, 1, (", " if has_pairs or id(marks) in self.filled else "") + entry)
            self.filled.add(id(marks))
            return
        start = self.line_start(marks.start)
        column = marks.start - start
        lines = _yaml_block_lines({key: value}, column, self.step)
        if first:
            if self.text[start : marks.start].strip(" "):
                raise _YamlCannotEdit(
                    f"the mapping starts after {self.text[start : marks.start].strip()!r} on its line"
                )
            self.add(start, start, 1 - 2 * column, "\n".join(lines) + "\n")
        else:
            end = self.line_end(marks.end)
            self.add(end, end, 1 - 2 * column, "\n" + "\n".join(lines))

    def replace_in_flow(self, pair: _YamlPairMarks, value: Any) -> None:
        text = _yaml_inline(value, pair.style, True)
        if pair.value_start is not None:
            self.add(pair.value_start, pair.value_end, 0, text)
        else:
            self.add(pair.value_end, pair.value_end, 0, (" " if pair.colon_end is not None else ": ") + text)

    def replace_in_block(self, marks: _YamlMappingMarks, pair: _YamlPairMarks, value: Any) -> None:
        if pair.colon_end is None:
            raise _YamlCannotEdit("the key has no ':'")
        column = marks.start - self.line_start(marks.start)
        rank = -2 * column
        old_block = pair.value_kind in (_YT_BLOCK_MAPPING_START, _YT_BLOCK_SEQUENCE_START, _YT_BLOCK_ENTRY)
        if not (isinstance(value, (dict, list, tuple)) and value):
            text = _yaml_inline(value, pair.style if pair.value_kind is _YT_SCALAR else None)
            if pair.value_start is None or old_block:
                self.add(pair.colon_end, pair.value_end, rank, " " + text)
            else:
                self.add(pair.value_start, pair.value_end, rank, text)
            return
        lines = "\n" + "\n".join(_yaml_block_lines(value, column + self.step, self.step))
        if pair.value_start is None:
            end = self.line_end(pair.colon_end)
            self.add(end, end, rank, lines)
        elif old_block:
            # From the end of the key's line (keeping a comment there), unless the old value starts on it.
            end = self.line_end(pair.colon_end)
            self.add(min(end, pair.value_start), pair.value_end, rank, lines)
        else:
            # The old value goes, a comment after it stays on the key's line, the new value follows.
            end = self.line_end(pair.value_end)
            self.add(pair.colon_end, pair.value_end, rank, "")
            self.add(end, end, rank, lines)

    def apply(self, original: str) -> str:
        """Apply the edits to the original text, whose line breaks the checked text had made "\\n"."""
        newline = _yaml_newline(original)
        if len(original) == len(self.text):
            offsets = None
        else:
            # Only "\r\n" changes length: map offsets line by line.
            checked_starts = [0] + [match.end() for match in re.finditer("\n", self.text)]
            original_starts = [0] + [match.end() for match in re.finditer("\r\n|\r|\n|\x85", original)]
            offsets = (checked_starts, original_starts)
        pieces: List[str] = []
        done = 0
        for start, end, _, _, replacement in sorted(self.edits):
            if offsets is not None:
                checked_starts, original_starts = offsets
                line = bisect.bisect_right(checked_starts, start) - 1
                start = original_starts[line] + start - checked_starts[line]
                line = bisect.bisect_right(checked_starts, end) - 1
                end = original_starts[line] + end - checked_starts[line]
            if start < done:
                raise _YamlCannotEdit("two changes overlap")
            pieces.append(original[done:start])
            pieces.append(replacement.replace("\n", newline))
            done = end
        pieces.append(original[done:])
        return "".join(pieces)


# ======================================================================================================
# Config: PyngrokConfig, default paths, the ngrok config file and its schema
# ======================================================================================================


def get_default_ngrok_dir() -> str:
    """Get the default directory of the ``ngrok`` binary and its config file for this OS.

    The OS is :func:`get_system`'s (``platform.system()``, as upstream asks); one that ngrok does not support
    gets the Unix directory.

    :return: ``~/Library/Application Support/ngrok`` on macOS, ``~/AppData/Local/ngrok`` on Windows,
        ``$XDG_CONFIG_HOME/ngrok`` (default ``~/.config/ngrok``) elsewhere.
    """
    try:
        system = get_system()
    except PyngrokNgrokInstallError:
        system = "unix"
    return _ngrok_dir_for(system)


def _ngrok_dir_for(system: str) -> str:
    home = os.path.expanduser("~")
    if system == "darwin":
        return os.path.join(home, "Library", "Application Support", "ngrok")
    if system == "windows":
        return os.path.join(home, "AppData", "Local", "ngrok")
    return os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config"), "ngrok")


# At import the OS is read from ``sys.platform``, which names it as ``platform.system()`` does for the
# systems ngrok supports, without the cost of importing ``platform``.
_IMPORT_SYSTEM = (
    "darwin"
    if sys.platform == "darwin"
    else "windows"
    if sys.platform.startswith(("win", "cygwin", "msys"))
    else "unix"
)
DEFAULT_CONFIG_PATH: Optional[str] = None
DEFAULT_NGROK_DIR = _ngrok_dir_for(_IMPORT_SYSTEM)
DEFAULT_NGROK_CONFIG_PATH = os.path.join(DEFAULT_NGROK_DIR, "ngrok.yml")
DEFAULT_NGROK_PATH = os.path.join(DEFAULT_NGROK_DIR, "ngrok.exe" if _IMPORT_SYSTEM == "windows" else "ngrok")


class PyngrokConfig:
    """``pyngrok``'s configuration for interacting with the ``ngrok`` binary.

    All values are optional; defaults are used for those not passed. Use :func:`get_default` and
    :func:`set_default` for the default config, or pass an instance as ``pyngrok_config``.

    :param ngrok_path: The path to the ``ngrok`` binary (default: env ``PYNGROK_NGROK_PATH``, then
        ``DEFAULT_NGROK_PATH``).
    :param config_path: The path to the ``ngrok`` config file (default: ngrok's default location).
    :param auth_token: The authtoken the agent runs with (default: env ``NGROK_AUTHTOKEN``). It is handed
        to the agent through a private config overlay (in memory on Linux), never on its command line.
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
    :param config_version: The config and API flavour: ``"3"`` uses endpoints, ``"2"`` uses tunnels (always
        ``"2"`` with ``ngrok_version="2"``).
    :param session_callback: Called with a :class:`NgrokSessionEvent` whenever the agent's session state
        changes (``starting``, ``online``, ``reconnecting``, ``stopped``), from a thread of its own.
    :param supervise: Restart an agent that dies without :func:`kill_process`, and re-open its tunnels (also
        when the agent restarts itself in place, as it does on a Restart from ngrok's service).
    :param max_restarts: How many restarts supervision tries within ``restart_window`` seconds before it gives
        up (an agent that keeps dying soon after each restart is given up on too).
    :param restart_backoff: Seconds before the first restart; doubled for each further restart in the window.
    :param restart_window: Seconds over which restarts are counted against ``max_restarts``.
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
        max_restarts: int = 3,
        restart_backoff: float = 0.5,
        restart_window: float = 60.0,
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
        # A v2 agent knows neither v3 config files nor /api/endpoints.
        self.config_version: str = "2" if self.ngrok_version == "2" else _strip_v(config_version)
        self.session_callback: Optional[Callable[[NgrokSessionEvent], None]] = session_callback
        self.supervise: bool = supervise
        self.max_restarts: int = max_restarts
        self.restart_backoff: float = restart_backoff
        self.restart_window: float = restart_window

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


# --- The ngrok config file -----------------------------------------------------------------------------
# What the rest of the file uses (with upstream's installer semantics):
#   config_file_lock: threading.RLock
#   get_ngrok_config(config_path, use_cache=True, ngrok_version="3", config_version="3") -> dict
#   get_default_config(ngrok_version, config_version) -> dict
#   install_default_config(config_path, data=None, ngrok_version="3", config_version="3") -> None
#   validate_config(data) -> None
#   _config_schema_json() -> str      (what `python -m pyngrok schema` prints)
#   _validate_config_file(config_path, ngrok_version=None) -> List[str]   (warnings; raises PyngrokConfigError)
#   _config_findings(config_path) -> List[str]   (errors and warnings, never raises)

SUPPORTED_NGROK_VERSIONS = ["2", "3"]

config_file_lock = _new_rlock()

_config_cache: Dict[str, Dict[str, Any]] = {}


def _schema_of(types: Union[str, List[str]], description: str, **keywords: Any) -> Dict[str, Any]:
    return {"type": types, "description": description, **keywords}


def _schema_strings(description: str, **keywords: Any) -> Dict[str, Any]:
    return {"type": "array", "description": description, "items": {"type": "string", **keywords}}


def _schema_object(description: str, properties: Dict[str, Any], **keywords: Any) -> Dict[str, Any]:
    return {"type": "object", "description": description, "properties": properties, **keywords}


_SCHEMA_DURATION = ["string", "integer"]
_SCHEMA_POLICY = _schema_of(
    ["object", "string"],
    "A Traffic Policy: rules by phase (on_http_request, on_http_response, on_tcp_connect), or the same as YAML text.",
)

# Agent options shared by the v2 top level and the v3 "agent" block.
_SCHEMA_AGENT_COMMON: Dict[str, Any] = {
    "api_key": _schema_of("string", "The API key used by the 'ngrok api' command."),
    "authtoken": _schema_of("string", "The authtoken the agent authenticates with."),
    "connect_interface": _schema_of("string", "The network interface to connect through (Linux only)."),
    "connect_timeout": _schema_of(_SCHEMA_DURATION, "How long to wait for the session connection, e.g. 10s."),
    "console_ui": _schema_of(["boolean", "string"], "Show the console UI.", examples=[True, False, "iftty"]),
    "console_ui_color": _schema_of("string", "The console UI background.", examples=["transparent", "black"]),
    "crl_noverify": _schema_of("boolean", "Skip checking the certificate revocation list."),
    "dns_resolver_ips": _schema_strings("DNS servers for the tunnel session."),
    "heartbeat_interval": _schema_of(_SCHEMA_DURATION, "How often to heartbeat, e.g. 10s."),
    "heartbeat_tolerance": _schema_of(_SCHEMA_DURATION, "How late a heartbeat reply may be, e.g. 15s."),
    "inspect_db_size": _schema_of("integer", "Bytes of memory for captured requests (0 default, -1 off)."),
    "log_level": _schema_of("string", "Log detail.", examples=["crit", "warn", "error", "info", "debug"]),
    "log_format": _schema_of("string", "Log record format.", examples=["logfmt", "json", "term"]),
    "log": _schema_of(["string", "boolean"], "Where to log: stdout, stderr, a file path, or false."),
    "metadata": _schema_of("string", "Opaque user metadata for the agent session."),
    "proxy_url": _schema_of("string", "An HTTP or SOCKS5 proxy URL for the session connection."),
    "region": _schema_of(
        "string",
        "The region to connect to (deprecated).",
        examples=["us", "us-cal-1", "eu", "ap", "au", "sa", "jp", "in", "auto", "eu-lon-1"],
    ),
    "remote_management": _schema_of("boolean", "Allow stopping, restarting and updating the agent remotely."),
    "update_channel": _schema_of("string", "The update channel.", examples=["stable", "unstable", "beta"]),
    "update_check": _schema_of("boolean", "Check for updates."),
    "web_addr": _schema_of(["string", "boolean"], "The address of the local web UI and API, or false."),
    "web_allow_hosts": _schema_strings("Host headers the local web UI and API accept."),
}

_SCHEMA_TUNNEL: Dict[str, Any] = _schema_object(
    "A tunnel definition (v2 config, and the deprecated 'tunnels' of a v3 config).",
    {
        "addr": _schema_of(["string", "integer"], "The local port or address to forward to."),
        "proto": _schema_of("string", "The tunnel protocol.", examples=["http", "tcp", "tls"]),
        "metadata": _schema_of("string", "Opaque user metadata for the tunnel."),
        "inspect": _schema_of("boolean", "Capture requests for inspection."),
        "auth": _schema_of("string", "user:password for HTTP basic auth (ngrok 2).", deprecated=True),
        "basic_auth": _schema_strings("user:password pairs for HTTP basic auth."),
        "bind_tls": _schema_of(
            ["boolean", "string"],
            "Bind HTTPS, HTTP or both (ngrok 2).",
            examples=[True, False, "both"],
            deprecated=True,
        ),
        "circuit_breaker": _schema_of("number", "The 5XX ratio above which requests are rejected."),
        "compression": _schema_of("boolean", "Gzip-compress responses."),
        "host_header": _schema_of("string", "Rewrite the Host header: rewrite, preserve or a value."),
        "hostname": _schema_of("string", "The hostname to request (ngrok 2).", deprecated=True),
        "domain": _schema_of("string", "The domain to request."),
        "subdomain": _schema_of("string", "The subdomain to request."),
        "url": _schema_of("string", "The URL to request."),
        "schemes": _schema_strings("The schemes to bind.", examples=["http", "https"]),
        "oauth": _schema_object(
            "OAuth authentication.",
            {
                "provider": _schema_of("string", "The OAuth provider, e.g. google."),
                "allow_domains": _schema_strings("Email domains to allow."),
                "allow_emails": _schema_strings("Emails to allow."),
                "scopes": _schema_strings("OAuth scopes to request."),
                "client_id": _schema_of("string", "The OAuth client ID."),
                "client_secret": _schema_of("string", "The OAuth client secret."),
            },
        ),
        "oidc": _schema_object(
            "OpenID Connect authentication.",
            {
                "issuer_url": _schema_of("string", "The OIDC issuer URL."),
                "client_id": _schema_of("string", "The OIDC client ID."),
                "client_secret": _schema_of("string", "The OIDC client secret."),
                "scopes": _schema_strings("OIDC scopes to request."),
                "allow_domains": _schema_strings("Email domains to allow."),
                "allow_emails": _schema_strings("Emails to allow."),
            },
        ),
        "ip_restriction": _schema_object(
            "IP restrictions.",
            {
                "allow_cidrs": _schema_strings("CIDRs to allow."),
                "deny_cidrs": _schema_strings("CIDRs to deny."),
            },
        ),
        "request_header": _schema_object(
            "Request header changes.",
            {"add": _schema_strings("key:value headers to add."), "remove": _schema_strings("Headers to remove.")},
        ),
        "response_header": _schema_object(
            "Response header changes.",
            {"add": _schema_strings("key:value headers to add."), "remove": _schema_strings("Headers to remove.")},
        ),
        "user_agent_filter": _schema_object(
            "User-Agent filtering.",
            {"allow": _schema_strings("RE2 patterns to allow."), "deny": _schema_strings("RE2 patterns to deny.")},
        ),
        "verify_webhook": _schema_object(
            "Webhook signature verification.",
            {
                "provider": _schema_of("string", "The webhook provider, e.g. slack."),
                "secret": _schema_of("string", "The webhook signing secret."),
            },
        ),
        "mutual_tls_cas": _schema_of("string", "A PEM file of CAs for mutual TLS."),
        "client_cas": _schema_of("string", "A PEM file of CAs for mutual TLS (ngrok 2).", deprecated=True),
        "proxy_proto": _schema_of(["string", "integer"], "The PROXY protocol version, 1 or 2."),
        "websocket_tcp_converter": _schema_of("boolean", "Convert websocket connections to TCP upstream."),
        "traffic_policy": _SCHEMA_POLICY,
        "policy": _schema_of("object", "The Traffic Policy (renamed traffic_policy in agent 3.14.0).", deprecated=True),
        "remote_addr": _schema_of("string", "The reserved TCP address to bind."),
        "crt": _schema_of("string", "A PEM certificate to terminate TLS with."),
        "key": _schema_of("string", "A PEM private key to terminate TLS with."),
        "terminate_at": _schema_of("string", "Where TLS terminates.", examples=["edge", "agent", "upstream"]),
        "labels": _schema_strings("name=value labels of a labeled tunnel (gone with Edges).", deprecated=True),
        "pooling_enabled": _schema_of("boolean", "Let several agents serve the same URL."),
    },
)

_SCHEMA_ENDPOINT: Dict[str, Any] = _schema_object(
    "An endpoint definition of a v3 config.",
    {
        "name": _schema_of("string", "The endpoint's unique name."),
        "url": _schema_of("string", "The endpoint URL: a domain, an origin, a scheme only, or empty for a random one."),
        "upstream": _schema_object(
            "Where the endpoint forwards to.",
            {
                "url": _schema_of(["string", "integer"], "A port, a host or an origin."),
                "protocol": _schema_of("string", "The protocol spoken upstream.", examples=["http1", "http2"]),
                "proxy_protocol": _schema_of(["string", "integer"], "The PROXY protocol version, 1 or 2."),
            },
        ),
        "bindings": _schema_strings("The endpoint binding (one).", examples=["public", "internal", "kubernetes"]),
        "traffic_policy": _SCHEMA_POLICY,
        "traffic_policy_file": _schema_of("string", "A file holding the Traffic Policy."),
        "pooling_enabled": _schema_of("boolean", "Let several agents serve the same URL."),
        "metadata": _schema_of("string", "Opaque user metadata for the endpoint."),
        "description": _schema_of("string", "A description of the endpoint."),
        "agent_tls_termination": _schema_object(
            "TLS termination at the agent (tls:// URLs).",
            {
                "server_certificate": _schema_of("string", "A PEM certificate, or its path."),
                "server_private_key": _schema_of("string", "A PEM private key, or its path."),
                "mutual_tls_certificate_authorities": _schema_strings("PEM CAs, or their paths, for mutual TLS."),
            },
        ),
    },
    required=["name"],
)

_CONFIG_SCHEMA: Dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://pyngrok.readthedocs.io/conf_schema.json",
    "title": "ngrok agent config file",
    "description": (
        "The ngrok agent's config file (ngrok.yml), versions 2 and 3. Keys not listed are allowed, since newer agents "
        "add keys; pyngrok reports them as warnings."
    ),
    "type": "object",
    "if": {"properties": {"version": {"enum": ["3", 3]}}, "required": ["version"]},
    "then": {"$ref": "#/$defs/config_v3"},
    "else": {"$ref": "#/$defs/config_v2"},
    "$defs": {
        "config_v2": _schema_object(
            "A version 2 config: agent options at the top level, tunnels in a map by name.",
            {
                "version": _schema_of(["string", "integer"], "The config version.", enum=["2", 2]),
                **_SCHEMA_AGENT_COMMON,
                "root_cas": _schema_of("string", "CAs for the session connection: trusted, host or a file."),
                "server_addr": _schema_of("string", "The ngrok server to connect to."),
                "http_proxy": _schema_of(
                    "string", "An HTTP proxy URL for the session connection (ngrok 2).", deprecated=True
                ),
                "socks5_proxy": _schema_of(
                    "string", "A SOCKS5 proxy URL for the session connection (ngrok 2).", deprecated=True
                ),
                "trust_host_root_certs": _schema_of("boolean", "Trust the host's root CAs (ngrok 2).", deprecated=True),
                "tunnels": _schema_of(
                    ["object", "null"], "Tunnel definitions by name.", additionalProperties={"$ref": "#/$defs/tunnel"}
                ),
            },
        ),
        "config_v3": _schema_object(
            "A version 3 config: agent options under 'agent', endpoints in a list, optionally tunnels.",
            {
                "version": _schema_of(["string", "integer"], "The config version.", enum=["3", 3]),
                "agent": _schema_object(
                    "Agent options (may be empty).",
                    {
                        **_SCHEMA_AGENT_COMMON,
                        "connect_url": _schema_of("string", "The ngrok server to connect to."),
                        "connect_cas": _schema_of("string", "CAs for the session connection: trusted, host or a file."),
                        "crl_url": _schema_of("string", "A custom certificate revocation list URL (agent 3.39.7)."),
                        "local_storage": _schema_of(
                            "boolean", "Keep captured requests for the local inspector (agent 3.32.0)."
                        ),
                    },
                    type=["object", "null"],
                ),
                "endpoints": _schema_of(["array", "null"], "Endpoint definitions.", items={"$ref": "#/$defs/endpoint"}),
                "tunnels": _schema_of(
                    ["object", "null"],
                    "Tunnel definitions by name (deprecated).",
                    additionalProperties={"$ref": "#/$defs/tunnel"},
                ),
            },
        ),
        "tunnel": _SCHEMA_TUNNEL,
        "endpoint": _SCHEMA_ENDPOINT,
    },
}

# What replaces a key of ngrok 2 agents (marked "deprecated" in the schema), which ngrok 3 agents refuse.
_CONFIG_LEGACY_REPLACEMENTS = {
    "auth": "basic_auth",
    "bind_tls": "schemes",
    "hostname": "domain",
    "client_cas": "mutual_tls_cas",
    "policy": "traffic_policy",
    "labels": "an endpoint url",
    "http_proxy": "proxy_url",
    "socks5_proxy": "proxy_url",
    "trust_host_root_certs": "root_cas: host",
}

# Keys that belong to the other config version, for a more useful warning than "unknown key".
_CONFIG_KEY_HINTS: Dict[_YamlKeyPath, Dict[str, str]] = {
    (): {
        **{key: "in a version 3 config this key belongs under 'agent:'" for key in _SCHEMA_AGENT_COMMON},
        "server_addr": "in a version 3 config this is 'connect_url' under 'agent:'",
        "root_cas": "in a version 3 config this is 'connect_cas' under 'agent:'",
    },
    ("agent",): {
        "server_addr": "in a version 3 config this key is called 'connect_url'",
        "root_cas": "in a version 3 config this key is called 'connect_cas'",
    },
}


def _config_schema_json() -> str:
    """Get the JSON Schema of the ngrok config file, as ``python -m pyngrok schema`` prints it.

    :return: The schema as indented JSON, ending with a line break.
    """
    return json.dumps(_CONFIG_SCHEMA, indent=2) + "\n"


_SCHEMA_TYPE_NAMES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "null": "null",
    "array": "list",
    "object": "mapping",
}


def _schema_type_matches(value: Any, type_name: str) -> bool:
    if type_name == "string":
        return isinstance(value, str)
    if type_name == "boolean":
        return isinstance(value, bool)
    if type_name == "integer":
        # As in JSON Schema, 2.0 is an integer.
        return not isinstance(value, bool) and (
            isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        )
    if type_name == "number":
        return not isinstance(value, bool) and isinstance(value, (int, float))
    if type_name == "object":
        return isinstance(value, dict)
    if type_name == "array":
        return isinstance(value, list)
    return type_name == "null" and value is None


def _schema_equal(one: Any, two: Any) -> bool:
    # JSON equality: true is not 1, and "1" is not 1.
    if isinstance(one, bool) != isinstance(two, bool) or isinstance(one, str) != isinstance(two, str):
        return False
    return bool(one == two)


class _SchemaCheck:
    """Apply the JSON Schema keywords ``_CONFIG_SCHEMA`` uses to a loaded config.

    Errors are what JSON Schema rejects; warnings are keys an object schema with ``properties`` does not list.
    """

    def __init__(self, lines: Dict[_YamlKeyPath, int], path: Optional[str], warn: bool = True) -> None:
        self.lines = lines
        self.path = path
        self.warn = warn  # an ``if`` probe needs only the verdict: no warning texts to build
        self.errors: List[Tuple[_YamlKeyPath, str]] = []
        self.warnings: List[Tuple[_YamlKeyPath, str]] = []

    def message(self, key_path: _YamlKeyPath, what: str) -> str:
        """Format a finding: the key path, what is wrong, and the file and line when known."""
        # pyngrok's own rules name their key already.
        shown = "" if what.startswith('"') else _config_key_path_text(key_path)
        where = ""
        if self.path is not None:
            line = self.line_of(key_path)
            where = f" ({self.path}:{line})" if line else f" ({self.path})"
        return f"{shown}: {what}{where}" if shown else f"{what}{where}"

    def line_of(self, key_path: _YamlKeyPath) -> Optional[int]:
        while key_path:
            if key_path in self.lines:
                return self.lines[key_path]
            key_path = key_path[:-1]
        return None

    def check(self, schema: Dict[str, Any], value: Any, key_path: _YamlKeyPath) -> None:
        if "$ref" in schema:
            self.check(_schema_resolve(schema["$ref"]), value, key_path)
        if "if" in schema:
            probe = _SchemaCheck({}, None, warn=False)
            probe.check(schema["if"], value, key_path)
            branch = schema.get("else") if probe.errors else schema.get("then")
            if branch is not None:
                self.check(branch, value, key_path)
        types = schema.get("type")
        if types is not None:
            names = [types] if isinstance(types, str) else types
            if not any(_schema_type_matches(value, name) for name in names):
                expected = " or ".join(_SCHEMA_TYPE_NAMES[name] for name in names)
                self.errors.append((key_path, f"expected {expected}, got {_yaml_type_name(value)}"))
                return
        if "enum" in schema and not any(_schema_equal(value, option) for option in schema["enum"]):
            options = ", ".join(json.dumps(option) for option in schema["enum"])
            self.errors.append((key_path, f"expected one of {options}, got {_config_value_text(value)}"))
        if self.warn:
            self.advise(schema, value, key_path)
        if isinstance(value, dict):
            self.check_object(schema, value, key_path)
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self.check(schema["items"], item, (*key_path, index))

    def advise(self, schema: Dict[str, Any], value: Any, key_path: _YamlKeyPath) -> None:
        """Warnings from the annotations: a value outside the documented ``examples``, a ``deprecated`` key.

        Value lists are advice, not rules: agents add values (regions, protocols) faster than docs list them.
        """
        examples = schema.get("examples")
        if examples and not any(_schema_equal(value, example) for example in examples):
            self.warnings.append((key_path, _config_unknown_value_text(value, examples)))
        if schema.get("deprecated") and key_path and isinstance(key_path[-1], str):
            replacement = _CONFIG_LEGACY_REPLACEMENTS.get(key_path[-1], "its ngrok 3 equivalent")
            self.warnings.append((key_path, f"a key of ngrok 2 agents, which ngrok 3 agents refuse: use {replacement}"))

    def check_object(self, schema: Dict[str, Any], value: Dict[Any, Any], key_path: _YamlKeyPath) -> None:
        for key in schema.get("required", ()):
            if key not in value:
                self.errors.append((key_path, f"missing the required key {key!r}"))
        properties: Dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            child = (*key_path, key)
            if key in properties:
                self.check(properties[key], item, child)
            elif extra is not None:
                self.check(extra, item, child)
            elif properties and self.warn:
                self.warnings.append((child, _config_unknown_key_text(key, key_path, properties)))


def _schema_resolve(reference: str) -> Dict[str, Any]:
    node: Dict[str, Any] = _CONFIG_SCHEMA
    for part in reference.lstrip("#/").split("/"):
        node = node[part]
    return node


def _config_key_path_text(key_path: _YamlKeyPath) -> str:
    text = ""
    for key in key_path:
        if isinstance(key, int) and not isinstance(key, bool):
            text += f"[{key}]"
        elif isinstance(key, str) and re.fullmatch(r"[A-Za-z0-9_-]+", key):
            text += f".{key}" if text else key
        else:
            text += f"[{json.dumps(key if isinstance(key, str) else str(key))}]"
    return text


def _config_value_text(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return hex(value)[:57] + "..."  # decimal text of a huge int may pass the interpreter's digit limit
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _config_unknown_key_text(key: Any, parent: _YamlKeyPath, known: Dict[str, Any]) -> str:
    import difflib

    hint = _CONFIG_KEY_HINTS.get(parent, {}).get(key) if isinstance(key, str) else None
    if hint is None and parent == () and key == "agent":
        hint = "'agent:' is for version 3 configs; set version: \"3\""
    if hint is not None:
        return f"unknown key ({hint})"
    close = difflib.get_close_matches(str(key), list(known), n=1, cutoff=0.75)
    return f"unknown key, did you mean {close[0]!r}?" if close else "unknown key"


def _config_unknown_value_text(value: Any, examples: List[Any]) -> str:
    import difflib

    known = ", ".join(json.dumps(example) for example in examples)
    text = f"the value {_config_value_text(value)} is not one of the documented values ({known})"
    words = [example for example in examples if isinstance(example, str)]
    close = difflib.get_close_matches(value, words, n=1, cutoff=0.6) if isinstance(value, str) else []
    return f"{text}, did you mean {close[0]!r}?" if close else f"{text}; the agent may still accept it"


def _config_version_text(version: Any) -> Optional[str]:
    """A config's ``version`` as text: ``"3"`` for ``3`` or ``"3"``; ``None`` for anything else's type."""
    if isinstance(version, str):
        return version
    if isinstance(version, int) and not isinstance(version, bool) and -1000 < version < 1000:
        return str(version)
    return None


def _pyngrok_rule_errors(data: Dict[str, Any]) -> List[Tuple[_YamlKeyPath, str]]:
    """The rules pyngrok adds to ngrok's: the agent must serve its API and log in a format pyngrok reads."""
    prefix: _YamlKeyPath = ("agent",) if _config_version_text(data.get("version")) == "3" else ()
    values = data.get("agent") if prefix else data
    if not isinstance(values, dict):
        return []
    errors: List[Tuple[_YamlKeyPath, str]] = []
    if values.get("web_addr", None) is False:
        reason = "as the ngrok API is a dependency for pyngrok"
        errors.append(((*prefix, "web_addr"), f'"web_addr" cannot be False, {reason}'))
    if values.get("log_format") == "json":
        errors.append(((*prefix, "log_format"), '"log_format" must be "term" to be compatible with pyngrok'))
    if values.get("log_level", "info") not in ["info", "debug"]:
        errors.append(((*prefix, "log_level"), '"log_level" must be "info" to be compatible with pyngrok'))
    return errors


def _check_config(
    data: Any, lines: Dict[_YamlKeyPath, int], path: Optional[str]
) -> Tuple[List[str], List[str], Optional[int]]:
    """Check a loaded config against pyngrok's rules and the schema.

    :return: The error messages, the warning messages, and the line of the first error if known.
    """
    check = _SchemaCheck(lines, path)
    if not isinstance(data, dict):
        check.errors.append(((), f"the config must be a mapping of keys to values, got {_yaml_type_name(data)}"))
    elif "version" in data and _config_version_text(data["version"]) not in ("2", "3"):
        # Every other key means what the version says, so nothing else is checked against a guess.
        shown = _config_value_text(data["version"])
        check.errors.append((("version",), f'unsupported config version {shown}: use "2" or "3"'))
    else:
        check.errors.extend(_pyngrok_rule_errors(data))
        check.check(_CONFIG_SCHEMA, data, ())
    errors = [check.message(key_path, what) for key_path, what in check.errors]
    warnings = [check.message(key_path, what) for key_path, what in check.warnings]
    first_line = check.line_of(check.errors[0][0]) if check.errors else None
    return errors, warnings, first_line


def _config_schema_verdict(data: Any) -> List[str]:
    """The schema errors alone (without pyngrok's own rules): what a JSON Schema validator would reject."""
    check = _SchemaCheck({}, None)
    check.check(_CONFIG_SCHEMA, data, ())
    return [check.message(key_path, what) for key_path, what in check.errors]


def validate_config(data: Dict[str, Any]) -> None:
    """Validate that the given dict of config items are valid for ``ngrok`` and ``pyngrok``.

    Unknown keys are allowed (newer agents add keys) and logged as warnings.

    :param data: A dictionary of things to be validated as config items.
    :raises PyngrokConfigError: When a key or value fails validation: ``web_addr: false``, ``log_format: json``
        or a ``log_level`` other than info or debug (pyngrok needs the agent's API and logs), or a value of the
        wrong type for ngrok.
    """
    if isinstance(data, dict):
        rule_errors = _pyngrok_rule_errors(data)
        if rule_errors:
            # Upstream's message, word for word.
            raise PyngrokConfigError(rule_errors[0][1])
    errors, warnings, _ = _check_config(data, {}, None)
    for warning in warnings:
        logger.warning(f"ngrok config: {warning}")
    if errors:
        raise PyngrokConfigError("; ".join(errors))


def _read_config_text(config_path: str) -> str:
    with open(config_path, "rb") as config_file:
        raw = config_file.read()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise PyngrokConfigError(
            f"{config_path}:{line}: the file is not valid UTF-8", path=config_path, line=line
        ) from None


def _load_config_file(config_path: str, marked: bool = False) -> Tuple[Any, Dict[_YamlKeyPath, int], str]:
    """Read and parse a config file: its value (None if empty), the lines of its keys, and its text."""
    text = _read_config_text(config_path)
    if marked:
        value, lines = _yaml_load_marked(text, config_path)
        return value, lines, text
    return _yaml_load(text, config_path), {}, text


def _require_mapping(config: Any, config_path: str) -> Dict[str, Any]:
    if not isinstance(config, dict):
        what = f"the config must be a mapping of keys to values, but it is a {_yaml_type_name(config)}"
        raise PyngrokConfigError(f"{config_path}:1:1: {what}", path=config_path, line=1, column=1)
    return config


def get_ngrok_config(
    config_path: str, use_cache: bool = True, ngrok_version: Optional[str] = "3", config_version: Optional[str] = "3"
) -> Dict[str, Any]:
    """Get the ``ngrok`` config from the given path.

    :param config_path: The ``ngrok`` config path to read.
    :param use_cache: Use the cached version of the config (if populated).
    :param ngrok_version: The major version of ``ngrok`` installed.
    :param config_version: The ``ngrok`` config version.
    :return: The ``ngrok`` config; the default config if the file is empty.
    :raises OSError: When the file cannot be read.
    :raises PyngrokConfigError: When the file is not valid YAML or not a mapping; the message names the line.
    """
    with config_file_lock:
        if config_path not in _config_cache or not use_cache:
            config, _, _ = _load_config_file(config_path)
            if config is None:
                config = get_default_config(ngrok_version, config_version)
            _config_cache[config_path] = _require_mapping(config, config_path)
        return _config_cache[config_path]


def get_default_config(ngrok_version: Optional[str], config_version: Optional[str]) -> Dict[str, Any]:
    """Get the default config params for the given major version of ``ngrok`` and config version.

    :param ngrok_version: The major version of ``ngrok`` installed.
    :param config_version: The ``ngrok`` config version.
    :return: The default config.
    :raises PyngrokError: When the ``ngrok_version`` is not supported.
    """
    if not ngrok_version or _strip_v(ngrok_version) not in SUPPORTED_NGROK_VERSIONS:
        raise PyngrokError(f'"ngrok_version" must be a supported version: {SUPPORTED_NGROK_VERSIONS}')
    return {"version": config_version}


def _merge_config(config: Dict[str, Any], data: Dict[str, Any]) -> None:
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            _merge_config(config[key], value)
        else:
            config[key] = value


def _config_holds_secret(config: Dict[str, Any]) -> bool:
    agent = config.get("agent")
    scopes = [config] + ([agent] if isinstance(agent, dict) else [])
    return any(scope.get(key) for scope in scopes for key in ("authtoken", "api_key"))


def _leading_comments(text: str) -> str:
    """The comment block at the top of a config file (with the blank lines in it, and a byte order mark before
    it), to keep it when the whole file is written anew."""
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    kept: List[str] = []
    for line in text[len(bom) :].splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        kept.append(line.rstrip())
    while kept and not kept[-1]:
        kept.pop()
    return bom + "\n".join(kept) + "\n\n" if kept else bom


# --- Writing files that other processes may write too ---------------------------------------------

# How long a writer waits for another process holding the lock before it goes ahead without it.
_LOCK_WAIT_SECONDS = 600.0

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


def _make_dirs(directory: str, mode: int) -> None:
    """``os.makedirs(directory, mode, exist_ok=True)``, except that every directory made gets ``mode`` (less the
    umask), not only the last one, and none is left group- or other-writable, even under umask 000."""
    directory = os.path.abspath(directory)
    if os.path.isdir(directory):
        return
    parent = os.path.dirname(directory)
    if parent != directory:
        _make_dirs(parent, mode)
    try:
        os.mkdir(directory, mode)
    except FileExistsError:
        if os.path.isdir(directory):
            return  # made meanwhile by another thread or process
        raise
    made_mode = stat.S_IMODE(os.stat(directory).st_mode)
    if made_mode & 0o022:
        os.chmod(directory, made_mode & ~0o022)


@contextlib.contextmanager
def _write_step(operation: str, config_path: str) -> Iterator[None]:
    """Report an ``OSError`` of one step of writing a config file as a ``PyngrokConfigError`` naming both."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise PyngrokConfigError(
            f"Cannot write the ngrok config {config_path}: {operation} failed: {reason}", path=config_path
        ) from error


@contextlib.contextmanager
def _path_lock(path: str) -> Iterator[None]:
    """Serialise the writers of one file across processes with an OS lock, which the OS releases if a holder
    dies: on POSIX a lock on the file's directory (so nothing is added beside the user's files), on Windows,
    where a directory cannot be locked, on ``.<name>.lock`` beside it.

    Installers take it so that concurrent installs don't download at once or race ``os.replace`` (each
    writes its own temp file, so the binary is whole either way); config writers take it so that a
    read-merge-write of one process never drops another's edit.
    """
    directory, name = os.path.split(os.path.abspath(path))
    _make_dirs(directory, 0o700)
    if sys.platform == "win32":
        lock_path = os.path.join(directory, f".{name}.lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    else:
        lock_path = directory
        fd = os.open(directory, os.O_RDONLY)
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
    """Wait for the lock; ``False`` when going ahead without it (atomic renames still keep the file whole)."""
    deadline = time.monotonic() + _LOCK_WAIT_SECONDS
    try:
        if _try_lock(fd):
            return True
        logger.info("Waiting for another process to finish writing (%s) ...", lock_path)
        while time.monotonic() < deadline:
            time.sleep(0.05)
            if _try_lock(fd):
                return True
    except OSError as e:  # e.g. no lock support on this file system
        logger.debug("Cannot lock %s, going ahead without the lock: %s", lock_path, e)
        return False
    logger.warning("Still locked after %.0f s, going ahead anyway: %s", _LOCK_WAIT_SECONDS, lock_path)
    return False


def _remove_stale_temp_files(directory: str, name: str) -> None:
    """Remove the temp files of writers that died before their rename: they may hold a secret.

    Only called under the file's lock, when no other writer can be between its write and its rename.
    """
    prefix = f".{name}."
    for entry in os.listdir(directory):
        if entry.startswith(prefix) and entry.endswith(".tmp"):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(directory, entry))


def _write_config_atomically(config_path: str, text: str, secret: bool) -> None:
    """Replace a config file in one step: a temporary file in the same directory, fsync'ed, then renamed.

    A file holding a secret is created 0600; otherwise an existing file keeps its mode and a new one gets 0644
    less the umask.
    """
    target = os.path.realpath(config_path)
    directory = os.path.dirname(target)
    with _write_step(f"creating its directory {directory}", config_path):
        _make_dirs(directory, 0o700)
    try:
        existing_mode: Optional[int] = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        existing_mode = None
    mode = 0o600 if secret else (0o644 if existing_mode is None else existing_mode)
    _remove_stale_temp_files(directory, os.path.basename(target))
    temp_path = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    try:
        with _write_step(f"writing the temporary file {temp_path}", config_path):
            fd = os.open(temp_path, flags, 0o600 if secret else 0o644)
            with os.fdopen(fd, "wb") as temp_file:
                temp_file.write(text.encode("utf-8"))
                temp_file.flush()
                os.fsync(temp_file.fileno())
            if existing_mode is not None or secret:
                os.chmod(temp_path, mode if not secret or existing_mode is None else existing_mode & 0o600 or 0o600)
        with _write_step(f"renaming {temp_path} over it", config_path):
            os.replace(temp_path, target)
    except BaseException:
        try:
            os.unlink(temp_path)
        except OSError:
            pass
        raise
    if hasattr(os, "O_DIRECTORY"):
        # Make the rename itself durable.
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def install_default_config(
    config_path: str,
    data: Optional[Dict[str, Any]] = None,
    ngrok_version: Optional[str] = "3",
    config_version: Optional[str] = "3",
) -> None:
    """Install the given data to the ``ngrok`` config. If a config is not already present for the given path, create
    one. Before saving new data to the default config, validate that they are compatible with ``pyngrok``.

    ``data`` is merged into the existing file: dicts are merged key by key, other values replaced. Only the lines
    of the keys that change are edited (a new key goes after the last key of its mapping); every other byte of
    the file stays: comments, blank lines, quoting, indentation, flow style, a byte order mark, CRLF line breaks.
    Where that cannot be done (say, the value has an anchor that aliases may use), the whole config is written
    anew, keeping the comment block at the top, and a log record at INFO says why. A file without ``version``
    gets the default one at its top. The file is replaced atomically, and created 0600 when it holds an
    authtoken or API key.

    :param config_path: The path to where the ``ngrok`` config should be installed.
    :param data: A dictionary of things to add to the default config.
    :param ngrok_version: The major version of ``ngrok`` installed.
    :param config_version: The ``ngrok`` config version.
    :raises PyngrokError: When ``ngrok_version`` is not supported.
    :raises PyngrokConfigError: When the existing file cannot be read, the result fails validation, or the file
        cannot be written (the message names the step that failed; the original file is left as it was).
    """
    # The thread lock first, then the file lock: threads of this process queue on the cheap one, and the
    # read-merge-write below never overlaps another process's.
    with config_file_lock, contextlib.ExitStack() as held:
        with _write_step("creating its directory or locking it", config_path):
            held.enter_context(_path_lock(config_path))
        defaults = get_default_config(ngrok_version, config_version)
        data = {} if data is None else copy.deepcopy(data)
        config: Any = None
        text = ""
        if os.path.exists(config_path):
            config, _, text = _load_config_file(config_path)
        config = _require_mapping({} if config is None else config, config_path)
        # A file without a version gets the default one at the top, as upstream writes it (the v3 agent refuses
        # a file without one); an existing version is kept.
        missing = {key: value for key, value in defaults.items() if key not in config}
        changes = [((key,), value, True) for key, value in missing.items()] + _config_changes(config, data)
        config = {**missing, **config}
        _merge_config(config, data)
        validate_config(config)
        logger.debug(f"Installing default ngrok config to {config_path} ...")
        new_text = _config_text(config_path, text, changes, config)
        _write_config_atomically(config_path, new_text, _config_holds_secret(config))
        _config_cache[config_path] = config


def _config_changes(
    config: Dict[str, Any], data: Dict[str, Any], prefix: _YamlKeyPath = ()
) -> List[Tuple[_YamlKeyPath, Any, bool]]:
    """The keys that merging ``data`` into ``config`` (see :func:`_merge_config`) sets to a new value."""
    changes: List[Tuple[_YamlKeyPath, Any, bool]] = []
    for key, value in data.items():
        current = config.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            changes.extend(_config_changes(current, value, (*prefix, key)))
        elif key not in config or not _yaml_same(current, value):
            changes.append(((*prefix, key), value, False))
    return changes


def _config_text(
    config_path: str, text: str, changes: List[Tuple[_YamlKeyPath, Any, bool]], config: Dict[str, Any]
) -> str:
    """The new text of a config file: its old text with only the lines of the changed keys edited.

    Where that cannot be done, or would not read back as ``config``, the whole config is written anew (keeping
    the comment block at the top of the file), and a log record at INFO says why.
    """
    newline = _yaml_newline(text)
    if not changes:
        return text
    try:
        if _yaml_load(text, config_path) is None:
            # Nothing but comments (or nothing at all): the config goes after them.
            separator = newline if text and not text.endswith(("\n", "\r")) else ""
            new_text = text + separator + _yaml_dump(config).replace("\n", newline)
        else:
            new_text = _yaml_edit(text, config_path, changes)
        if _yaml_same(_yaml_load(new_text, config_path), config):
            return new_text
        reason = "editing only the changed keys would not give the same config"
    except _YamlUnwritable:
        raise
    except _YamlCannotEdit as error:
        reason = str(error)
    except PyngrokConfigError as error:
        # Not the error's message: it may quote a value, and the value may be a secret.
        reason = "editing only the changed keys would not give a valid file" + (
            f" (line {error.line})" if error.line else ""
        )
    logger.info("Writing all of %s anew (its comments past the first block are lost): %s", config_path, reason)
    return (_leading_comments(text) + _yaml_dump(config)).replace("\n", newline)


def _validate_config_file(config_path: str, ngrok_version: Optional[str] = None) -> List[str]:
    """Check a config file before the agent starts with it; refresh the cached config.

    A file without ``version`` (an empty one too) is refused for an ngrok 3 agent (``ngrok_version="3"``),
    which would refuse it itself (`` `version` property is required ``); ngrok 2 agents need no version.

    :param config_path: The config file.
    :param ngrok_version: The major version of the agent that will read it, if known.
    :return: Warnings: unknown keys, with a "did you mean" for near-misses, values outside the documented ones,
        keys of ngrok 2 agents. Each names the key path and the line.
    :raises OSError: When the file cannot be read.
    :raises PyngrokConfigError: When the file is not valid YAML, or fails validation; the message names the key
        path, the file and the line of each problem.
    """
    with config_file_lock:
        config, lines, _ = _load_config_file(config_path, marked=True)
        if config is not None:
            config = _require_mapping(config, config_path)
            _config_cache[config_path] = config
    if ngrok_version == "3" and (config is None or config.get("version") is None):
        raise PyngrokConfigError(
            f"{config_path}:1: the config has no 'version', which ngrok 3 agents require (they refuse the file: "
            '"`version` property is required"); add version: "3" (or "2" for a file of v2 keys)',
            path=config_path,
            line=1,
        )
    if config is None:
        return []
    errors, warnings, line = _check_config(config, lines, config_path)
    if errors:
        raise PyngrokConfigError("; ".join(errors), path=config_path, line=line)
    return warnings


def _config_findings(config_path: str) -> List[str]:
    """Everything pyngrok's check finds in a config file (errors and warnings, with key paths and lines)."""
    try:
        config, lines, _ = _load_config_file(config_path, marked=True)
    except PyngrokConfigError as error:
        return [str(error)]
    except OSError:
        return []
    errors, warnings, _ = _check_config(config if config is not None else {}, lines, config_path)
    return errors + warnings


# ======================================================================================================
# Installer: platform table, download, verify, extract
# ======================================================================================================

# What the rest of the file uses:
#   get_system(), get_arch(), get_ngrok_bin(), get_ngrok_cdn_url(ngrok_version)
#   _install_ngrok_binary(ngrok_path, ngrok_version="3", **kwargs)   (the installer facade's install_ngrok)
#   _installer_cli(argv: List[str]) -> int                           (`python -m pyngrok install ...`)
#
# Security model: a remote download is https only (plain http only when allowed), streamed into a private
# mkstemp file and hashed as it streams; the hash is checked against a pinned SHA-256 or a mirror's
# sidecar. Exactly one regular ``ngrok``/``ngrok.exe`` member is read out of the archive (no extractall)
# into a temp file beside the target, which must answer ``version`` before it is os.replace'd into
# place, so a failed install never touches a working binary. An OS lock (_path_lock) serialises installers.

_installer_logger = _logger("pyngrok.installer")

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
#: The largest uncompressed archive member accepted; bigger means a zip or gzip bomb. The real v3 binary is
#: about 30 MB; extraction stops before it writes more than this.
MAX_NGROK_BINARY_SIZE = 128 * 1024 * 1024
_MAX_ARCHIVE_MEMBERS = 1000
_MAX_SIDECAR_SIZE = 1024 * 1024
_VERSION_CHECK_TIMEOUT = 30.0
_RETRY_BACKOFF_SECONDS = 0.5
_RETRY_BACKOFF_MAX_SECONDS = 8.0
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
# Machines named as they are, not as 32/64-bit x86 or ARM.
_ARCH_AS_IS = ("s390x", "ppc64", "ppc64le")


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
    """Get this machine's architecture in upstream's naming, by upstream's rule.

    A machine name ending in ``64`` is ``x86_64``, any other ``i386``; ``_arm`` is appended when it starts
    with ``arm`` or ``aarch64``. A binary for the wrong machine fails the installer's ``version`` check.

    :return: ``i386`` or ``x86_64`` (with ``_arm`` appended on ARM), or ``s390x``, ``ppc64``, ``ppc64le``.
    """
    machine = platform.machine().lower()
    if machine in _ARCH_AS_IS:
        return machine
    arch = "x86_64" if machine.endswith("64") else "i386"
    return f"{arch}_arm" if machine.startswith(("arm", "aarch64")) else arch


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
    """Advice for an agent that ngrok's service rejects as too old.

    :param ngrok_error: The agent's error text (may hold an ``ERR_NGROK_<n>`` code).
    :return: A sentence saying how to update or reinstall, or ``None`` when the error is something else.
    """
    if not ngrok_error or not any(code in ngrok_error for code in _OUTDATED_AGENT_ERRORS):
        return None
    return _OUTDATED_AGENT_ADVICE


# --- Options ------------------------------------------------------------------------------------------


class _InstallOptions:
    """The options of one install: ``install_ngrok``'s keyword arguments merged with the environment."""

    def __init__(
        self,
        url: Optional[str] = None,
        archive: Optional[str] = None,
        sha256: Optional[str] = None,
        allow_http: bool = False,
        require_checksum: bool = False,
        quiet: bool = False,
        timeout: float = DEFAULT_DOWNLOAD_TIMEOUT,
        retries: int = DEFAULT_RETRY_COUNT,
        context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.url = url
        self.archive = archive
        self.sha256 = sha256
        self.allow_http = allow_http
        self.require_checksum = require_checksum
        self.quiet = quiet
        self.timeout = timeout
        self.retries = retries
        self.context = context


class _InstallResult:
    """What an install placed: the binary's path, the archive's SHA-256 and what verified it, and what
    the new binary answered to ``ngrok version``."""

    def __init__(self, path: str, sha256: str, checksum_origin: Optional[str], version_output: str) -> None:
        self.path = path
        self.sha256 = sha256
        self.checksum_origin = checksum_origin
        self.version_output = version_output


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


# How to get an agent with no network, named by every message about a missing agent or a failed download.
_OFFLINE_INSTALL_ADVICE = (
    "With no network, install an agent from a file: `python -m pyngrok install --archive FILE` (an ngrok "
    ".zip/.tgz or the bare binary), or set PYNGROK_NGROK_ARCHIVE=FILE for the automatic install, or use an "
    "agent that is already on disk with PYNGROK_NGROK_PATH=PATH or PyngrokConfig(ngrok_path=PATH)"
)


# --- Download -----------------------------------------------------------------------------------------


def _check_url_scheme(url: str, allow_http: bool, what: str = "URL") -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme == "https" or (scheme == "http" and allow_http):
        return
    hint = " (pass allow_http=True / --allow-http for a plain-http mirror)" if scheme == "http" else ""
    raise _InstallSecurityError(f"Refusing to download ngrok from {what} {url!r}: only https is allowed{hint}")


def _scheme_checking_redirect_handler(allow_http: bool) -> urllib.request.HTTPRedirectHandler:
    """A redirect handler that follows redirects only to https (or http when allowed): no downgrade to plain
    http. The class is made here, not at import time, so that ``urllib.request`` is imported on first use."""

    class SchemeCheckingRedirectHandler(urllib.request.HTTPRedirectHandler):
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: IO[bytes],
            code: int,
            msg: str,
            headers: http.client.HTTPMessage,
            newurl: str,
        ) -> Optional[urllib.request.Request]:
            _check_url_scheme(newurl, allow_http, what="redirect target")
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return SchemeCheckingRedirectHandler()


def _download_urlopen(
    request: urllib.request.Request,
    timeout: float,
    *,
    context: Optional[ssl.SSLContext] = None,
    allow_http: bool = False,
) -> http.client.HTTPResponse:
    """Open a download through the environment's proxies, with the TLS context, following only redirects
    that keep to the allowed schemes; upstream's ``installer.urlopen``, where tests patch it."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context), _scheme_checking_redirect_handler(allow_http)
    )
    response: http.client.HTTPResponse = opener.open(request, timeout=timeout)
    return response


def _open_url(url: str, options: _InstallOptions) -> http.client.HTTPResponse:
    """Open ``url`` through the environment's proxies; a failure worth retrying is a _TransientDownloadError."""
    _check_url_scheme(url, options.allow_http)
    request = urllib.request.Request(url, headers={"User-Agent": f"pyngrok/{__version__}"})
    try:
        response = _download_urlopen(request, options.timeout, context=options.context, allow_http=options.allow_http)
    except urllib.error.HTTPError as e:
        e.close()
        if e.code in _TRANSIENT_HTTP_CODES:
            raise _TransientDownloadError(f"HTTP {e.code} {e.reason}") from e
        raise PyngrokNgrokInstallError(
            f"Download of {url} failed: HTTP {e.code} {e.reason}. {_OFFLINE_INSTALL_ADVICE}."
        ) from e
    except urllib.error.URLError as e:
        if isinstance(e.reason, ssl.SSLCertVerificationError):
            raise PyngrokNgrokInstallError(
                f"TLS verification of {url} failed: {e.reason}; behind a TLS-intercepting proxy, pass the "
                f"corporate CA bundle with cafile= / --ca-bundle / PYNGROK_CA_BUNDLE. {_OFFLINE_INSTALL_ADVICE}."
            ) from e
        raise _TransientDownloadError(str(e.reason)) from e
    except (OSError, http.client.HTTPException) as e:
        raise _TransientDownloadError(str(e) or type(e).__name__) from e
    status = response.getcode()
    if status != 200:
        response.close()
        raise PyngrokNgrokInstallError(
            f"Download of {url} failed: HTTP {status} {response.reason}. {_OFFLINE_INSTALL_ADVICE}."
        )
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
                raise PyngrokNgrokInstallError(
                    f"Download of {url} failed after {attempts} attempt(s): {e}. {_OFFLINE_INSTALL_ADVICE}."
                ) from e
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


class _Source:
    """An archive to install from, open for reading: where it came from, its SHA-256, and the
    ``(sha256, origin)`` it must match (None when nothing pins it)."""

    def __init__(self, file: BinaryIO, location: str, sha256: str, expected: Optional[Tuple[str, str]]) -> None:
        self.file = file
        self.location = location
        self.sha256 = sha256
        self.expected = expected


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
    name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
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
        chosen = [
            info for info in archive.infolist() if picker.check(info.filename, _zip_member_kind(info), info.file_size)
        ]
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


def _extract_binary(source: _Source, out: BinaryIO, target: str) -> None:
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
        raise PyngrokNgrokInstallError(f"Cannot extract ngrok from {source.location} to {target}: {e}") from e


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
        try:
            with os.fdopen(fd, "wb") as out:
                _extract_binary(source, out, f"{temp_path}, for {ngrok_path}")
            os.chmod(temp_path, 0o755)
        except OSError as e:  # closing (flushing) the file failed
            raise PyngrokNgrokInstallError(
                f"Cannot install ngrok to {ngrok_path}: writing {temp_path} failed: {e}"
            ) from e
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


def _install(ngrok_path: str, ngrok_version: Optional[str], options: _InstallOptions) -> _InstallResult:
    version = _checked_ngrok_version(ngrok_version)
    ngrok_path = os.path.abspath(ngrok_path)
    action = "overwriting" if os.path.exists(ngrok_path) else "new install"
    _installer_logger.debug("Installing ngrok %s to %s (%s) ...", version, ngrok_path, action)
    progress = _Progress(options.quiet)
    try:
        _make_dirs(os.path.dirname(ngrok_path), 0o755)
        with _path_lock(ngrok_path), _open_source(version, options, progress) as source:
            _verify_checksum(source.sha256, source.expected, source.location, options.require_checksum)
            version_output = _place_binary(source, ngrok_path)
    except OSError as e:  # the directory, the lock or a temp file could not be made
        raise PyngrokNgrokInstallError(
            f"Cannot install ngrok to {ngrok_path}: creating its directory, lock or temporary file failed: {e}"
        ) from e
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


def _download_file(url: str, retries: int = 0, **kwargs: Any) -> str:
    """Upstream's download helper: download ``url`` to a new temporary file and return its path.

    :param url: The URL; only ``https`` is allowed (``allow_http=True`` for plain http).
    :param retries: Upstream's count of the attempts already made: ``DEFAULT_RETRY_COUNT`` less this remain.
    :param kwargs: ``timeout``, ``allow_http``, ``quiet`` and the TLS options of :func:`installer.install_ngrok`.
    :return: The path of the downloaded file; the caller removes it.
    :raises PyngrokSecurityError: When the URL's scheme is not allowed.
    :raises PyngrokNgrokInstallError: When the download fails.
    """
    options = _install_options({**kwargs, "retries": max(0, DEFAULT_RETRY_COUNT - retries)})
    _check_url_scheme(url, options.allow_http)
    name = urllib.parse.urlsplit(url).path.rsplit("/", 1)[-1]
    fd, path = tempfile.mkstemp(prefix="pyngrok-", suffix=f"-{name}" if name else ".download")
    try:
        with os.fdopen(fd, "w+b") as file:
            _download(url, file, options, _Progress(options.quiet))
    except BaseException:
        os.unlink(path)
        raise
    return path


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
    parser.add_argument(
        "--ngrok-version",
        type=_strip_v,
        choices=SUPPORTED_NGROK_VERSIONS,
        default="3",
        help="the agent's major version: 3 (default), or 2 for agents that still speak the v2 protocol",
    )
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
# Process: running the agent and reading its output
# ======================================================================================================

_process_logger = _logger("pyngrok.process")
# The agent's own log lines are logged under this child logger, at the level the agent gave them.
_agent_logger = _logger("pyngrok.process.ngrok")
# The agent's levels (NgrokLog.lvl) as the logging module's numbers, which never change: logging.DEBUG is 10.
_LOGGING_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

# How long a stopped agent gets between SIGTERM and SIGKILL, and readers get to finish.
_TERMINATE_GRACE_SECONDS = 3.0
_READER_JOIN_SECONDS = 2.0
# A longer line than this is cut: the rest is read and dropped, so a runaway line cannot eat memory.
_MAX_LOG_LINE_BYTES = 64 * 1024
# A rejected authtoken is echoed by the agent ("Your authtoken: <token>") in its log and on stderr; the token may
# have come from the config file, which this library never read, so it is masked by shape as well as by value.
_AGENT_ECHOED_TOKEN = r'(Your authtoken: )[^\s\\"]+'


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
        self._queue: Optional["queue.SimpleQueue[Tuple[Callable[[NgrokSessionEvent], None], NgrokSessionEvent]]"]
        self._queue = None  # made with the thread, on the first event
        self._thread: Optional[threading.Thread] = None
        self._lock = _new_lock()

    def post(self, callback: Callable[[NgrokSessionEvent], None], event: NgrokSessionEvent) -> None:
        with self._lock:
            if self._queue is None:
                self._queue = queue.SimpleQueue()
            self._queue.put((callback, event))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pyngrok-events", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        assert self._queue is not None
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
        self._start_cancelled = False
        self._monitoring = False
        self._stopping = False
        self._died = False  # exited by itself, not stopped by us (set when its exit is reported)
        self._exited = threading.Event()
        self._changed = threading.Condition()
        self._readers: List[threading.Thread] = []
        self._stderr_lines: List[str] = []
        self._restarted_in_place = False
        self._last_transient_error: Optional[str] = None
        self._monitor_thread: Optional[threading.Thread] = None
        self._overlay: Optional[_Overlay] = None
        # The tunnels connect() opened on this agent, by name: what supervision re-opens after a restart.
        self._opened: Dict[str, Tuple[str, Dict[str, Any], NgrokTunnel]] = {}
        self._kills_before = _kill_counts.get(pyngrok_config.ngrok_path, 0)
        # How many times it lost its tunnels to a re-open: after it restarted in place, or when it died and
        # supervision handed them to the agent that replaced it. An open whose request was out while this changed
        # may have been lost by the agent, unknown to the re-open (see _open_tunnel).
        self._reopens = 0
        # The agent supervision started in its place after it died, once its tunnels are handed over.
        self._successor: Optional[NgrokProcess] = None

    def __repr__(self) -> str:
        return f'<NgrokProcess: "{self.api_url}">'

    def __str__(self) -> str:
        return f'NgrokProcess: "{self.api_url}"'

    # --- starting ------------------------------------------------------------------------------------

    def _take_over(self, overlay: Optional[_Overlay]) -> None:
        """Take charge of the freshly spawned agent: stop it at this process's exit (as upstream does), remove
        its overlay when it stops, and drain its output."""
        atexit.register(self._stop_at_exit)
        self._overlay = overlay
        self._start_readers()

    def _wait_until_started(self) -> None:
        """Wait for the agent's startup log and a first API answer, bounded by ``startup_timeout``.

        Reader threads do the reading, so a silent or hung agent cannot block this wait past its deadline, and
        :meth:`_cancel_start` (a ``kill()`` during the start) ends it at once.

        :raises PyngrokNgrokError: When the agent fails to start, or the start is cancelled.
        """
        timeout = self.pyngrok_config.startup_timeout
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._startup_failure(f"The ngrok process was unable to start within {timeout} seconds.")
            with self._changed:
                self._changed.wait_for(self._startup_settled, remaining)
            if self._start_cancelled:
                raise PyngrokNgrokError(_KILLED_WHILE_STARTING)
            if self.startup_error or self._exited.is_set():
                raise self._startup_failure("The ngrok process was unable to start.")
            if self._startup_settled() and self.healthy():
                return
            time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))

    def _start_is_over(self) -> None:
        """From now on an exit is unexpected (reported, and supervised), and lines go where monitoring says."""
        self._starting = False

    def _startup_settled(self) -> bool:
        return bool(
            self.startup_error
            or self._exited.is_set()
            or self._start_cancelled
            or (self.api_url and self._tunnel_started and self._client_connected)
        )

    def _cancel_start(self) -> None:
        """Make :meth:`_wait_until_started` give up now: ``kill()`` was called while the agent started."""
        with self._changed:
            self._start_cancelled = True
            self._changed.notify_all()

    def _startup_failure(self, reason: str) -> PyngrokNgrokError:
        """The error for a failed start: the agent's own error, what it said on stderr, or ``reason``."""
        # Give the agent a moment to finish writing its error to stderr before we read what it said.
        if self.proc.poll() is not None:
            for reader in self._readers:
                reader.join(_READER_JOIN_SECONDS)
        error = self.startup_error or "\n".join(self._stderr_lines[-20:]) or None
        if error is None and self.proc.poll() is not None:
            error = f"ngrok exited with code {self.proc.returncode}"
        if error is not None:
            message = f"The ngrok process errored on start: {error}.{_config_refusal_findings(error)}"
        else:  # still running and retrying: report the timeout with the last error it retried on
            error = self._last_transient_error
            message = f"{reason} Its last error: {error}." if error else reason
        self.startup_error = error
        return PyngrokNgrokError(
            self._redact_secrets(message), list(self.logs), self._redact_secrets(error) if error else None
        )

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
        for reader in self._readers:
            reader.start()

    def _read_pipe(self, pipe: Any, handle_line: Callable[[str], None]) -> None:
        # The pipes are unbuffered (raw) files, read a chunk at a time: a buffered reader holds a lock while
        # it waits for the agent, and a child forked meanwhile would inherit that lock held for ever.
        pending = b""
        dropping = False  # in the rest of a line longer than _MAX_LOG_LINE_BYTES
        try:
            for chunk in iter(functools.partial(pipe.read, _MAX_LOG_LINE_BYTES), b""):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    if not dropping:
                        handle_line(line[:_MAX_LOG_LINE_BYTES].decode("utf-8", "replace").rstrip("\r"))
                    dropping = False
                if len(pending) >= _MAX_LOG_LINE_BYTES:
                    if not dropping:
                        handle_line(pending[:_MAX_LOG_LINE_BYTES].decode("utf-8", "replace"))
                    pending, dropping = b"", True
            if pending and not dropping:
                handle_line(pending.decode("utf-8", "replace").rstrip("\r"))
        except (OSError, ValueError):
            pass  # the pipe was closed under us: the agent is gone
        finally:
            if handle_line == self._on_log_line:
                self._on_exit()

    def _redact_secrets(self, text: str) -> str:
        return _redact(text, (self.pyngrok_config.auth_token, self.pyngrok_config.api_key))

    def _on_log_line(self, line: str) -> None:
        if not line.strip():
            return
        if line.startswith("ERROR:"):  # ngrok 2 prints its fatal errors here, outside the log format
            self._on_stderr_line(line)
            return
        self._record(NgrokLog(self._redact_secrets(line)))

    def _on_stderr_line(self, line: str) -> None:
        text = self._redact_secrets(line).strip()
        if not text:
            return
        log = NgrokLog("")
        log.line = text
        is_error = text.upper().startswith("ERROR:")
        log.lvl = "ERROR" if is_error else "WARNING"
        log.msg = text[len("ERROR:") :].strip() if is_error else text
        log.err = log.msg if is_error else None
        # The agent prints a failure to stderr one line at a time, and logs it whole (with its ERR_NGROK
        # code) on stdout; the lines are kept to explain an exit that the log does not.
        self._stderr_lines.append(log.msg)
        self._record(log, from_stderr=True)

    def _record(self, log: NgrokLog, from_stderr: bool = False) -> None:
        with self._changed:
            keep = max(self.pyngrok_config.max_logs, 1)
            if len(self.logs) >= keep:  # room first: whoever reads ``logs`` never sees more than max_logs
                del self.logs[: len(self.logs) - keep + 1]
            self.logs.append(log)
            if not from_stderr:
                self._update_state(log)
            self._changed.notify_all()
        if self._starting or self._monitoring:
            self._emit(log)

    def _update_state(self, log: NgrokLog) -> None:
        if self._starting and log.lvl in ("ERROR", "CRITICAL"):
            error = log.err or log.msg or log.line
            if _startup_error_is_final(log, error):
                self.startup_error = error
            else:
                self._last_transient_error = error  # the agent retries by itself: keep waiting
        elif log.msg == "starting web service" and log.addr:
            self.api_url = f"http://{log.addr}"
        elif log.msg == "tunnel session started":
            self._tunnel_started = True
        elif log.msg == "client session established":
            self._client_connected = True
            self._set_session_state(SESSION_ONLINE)
            if self._restarted_in_place and self.pyngrok_config.supervise:
                threading.Thread(
                    target=_reopen_after_restart_in_place, args=(self,), name="pyngrok-reopen", daemon=True
                ).start()
            self._restarted_in_place = False
        elif log.msg in _RECONNECTING_MESSAGES:
            self._set_session_state(SESSION_RECONNECTING, log.err)
        elif _is_restart_in_place(log):
            # The agent re-executes itself under the same PID and comes back with no tunnels.
            self._restarted_in_place = True
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
        level = _LOGGING_LEVELS.get(log.lvl, 20)  # a line without a level is logged at INFO
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
        unexpected = self._died = not self._stopping and not self._starting
        if unexpected:
            _process_logger.warning("ngrok process %s exited unexpectedly with code %s", self.proc.pid, exit_code)
        with self._changed:
            if self._starting:  # a failed start is reported by whoever started it, not as a session change
                self.session_state = SESSION_STOPPED
            else:
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

    def _died_by_itself(self) -> bool:
        """Whether the agent has exited by itself: not stopped by ``kill()``, and not as its start failed."""
        return self.proc.poll() is not None and (self._died or not (self._stopping or self._starting))

    def _probe_timeout(self) -> float:
        return max(0.1, min(float(self.pyngrok_config.request_timeout), 2.0))

    def start_monitor_thread(self) -> None:
        """Start logging the agent's lines and passing them to ``log_event_callback``.

        The agent's output is always drained by reader threads; this switches on what is done with it. As in
        upstream, ``_monitor_thread`` is then a thread that lives while monitoring is on and the agent runs.
        """
        with self._changed:
            self._monitoring = True
            if self._monitor_thread is None and not self._exited.is_set():
                self._monitor_thread = threading.Thread(target=self._monitor, name="pyngrok-monitor", daemon=True)
                self._monitor_thread.start()

    def stop_monitor_thread(self) -> None:
        """Stop logging the agent's lines and passing them to ``log_event_callback``.

        The reader threads keep draining the agent's output (so the agent never blocks) until it exits.
        """
        with self._changed:
            self._monitoring = False
            self._changed.notify_all()

    def _monitor(self) -> None:
        with self._changed:
            self._changed.wait_for(lambda: not self._monitoring or self._exited.is_set())
            if self._monitor_thread is threading.current_thread():
                self._monitor_thread = None

    # --- stopping ------------------------------------------------------------------------------------

    def _stop(self) -> None:
        self._stopping = True
        atexit.unregister(self._stop_at_exit)
        _terminate_gracefully(self.proc)
        for reader in self._readers:
            if reader is not threading.current_thread():
                reader.join(_READER_JOIN_SECONDS)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        self._remove_overlay()

    def _disown(self) -> None:
        """Let go of an agent that belongs to the parent of this forked process, without touching it."""
        self._stopping = True
        self._monitoring = False
        atexit.unregister(self._stop_at_exit)  # the parent stops it at its exit, not this child
        self._overlay = None  # the parent removes it
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()

    def _stop_at_exit(self) -> None:
        """Registered with ``atexit`` when the agent starts (as upstream does), unregistered when it stops."""
        if self._stopping:
            return
        if _current_processes.get(self.pyngrok_config.ngrok_path) is self:
            kill_process(self.pyngrok_config.ngrok_path)
        else:
            self._stop()

    def _remove_overlay(self) -> None:
        if self._overlay is not None:
            self._overlay.remove()
            self._overlay = None

    @property
    def _overlay_dir(self) -> Optional[str]:
        """The directory of the agent's overlay file; ``None`` when there is none, or it lives in memory."""
        return self._overlay.directory if self._overlay is not None else None

    # --- the tunnels connect() opened on this agent (callers hold the tunnels lock) --------------------

    def _remember_tunnel(self, api_path: str, options: Dict[str, Any], tunnel: NgrokTunnel) -> None:
        self._opened[str(options.get("name"))] = (api_path, dict(options), tunnel)

    def _forget_tunnel(self, name: str) -> Optional[Tuple[str, Dict[str, Any], NgrokTunnel]]:
        return self._opened.pop(name, None)

    def _begin_reopen(self) -> int:
        """Count a loss of the remembered tunnels to a re-open (see ``_reopens``); return the new count."""
        self._reopens += 1
        return self._reopens

    def _remembers_tunnel(self, name: Any) -> bool:
        return name in self._opened

    def _remembered_tunnels(self) -> List[Tuple[str, Dict[str, Any], NgrokTunnel]]:
        """What supervision re-opens after a restart: ``(api_path, options, tunnel)`` of each."""
        return list(self._opened.values())


def _startup_error_is_final(log: NgrokLog, error: str) -> bool:
    """Whether an error the agent logs while starting ends the start.

    A session error without an ``ERR_NGROK_<n>`` code (a refused or dropped connection, a DNS failure) is
    transient: the agent retries by itself, with back-off, and may yet come up within ``startup_timeout``. A
    coded error (a bad authtoken, an account limit, an agent too old) or a critical one is not recovered from.
    """
    return log.lvl == "CRITICAL" or re.search(_NGROK_ERROR_CODE, error) is not None


_AGENT_CONFIG_REFUSAL = r"Error reading configuration file '([^']+)'"


def _config_refusal_findings(error: str) -> str:
    """When the agent refused a config file, what pyngrok's own check finds in it (key paths and lines)."""
    match = re.search(_AGENT_CONFIG_REFUSAL, error)
    findings = _config_findings(match.group(1)) if match else []
    return f" pyngrok's check of that file: {'; '.join(findings)}." if findings else ""


def _is_restart_in_place(log: NgrokLog) -> bool:
    """The agent's line for a Restart from ngrok's service, in its v3 and v2 forms.

    v3: ``msg="INFO received stop request obj=app stopReq=\\"{... restart:true}\\""``;
    v2: ``msg="received stop request" obj=app stopReq="{... restart:true}"``.
    """
    message = str(log.msg or "")
    if message == "received stop request":
        return "restart:true" in str(getattr(log, "stopReq", ""))
    return message.startswith("INFO received stop request ") and "restart:true" in message


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

_KILLED_WHILE_STARTING = "The ngrok process was stopped by kill() while it started."


class _AgentStart:
    """An agent start in progress for one ngrok_path, shared by the thread that runs it and any that wait for it.

    Its fields are guarded by the registry lock. :func:`kill_process` cancels it: the starting thread then
    stops the half-started agent and raises, and every waiter gets the same outcome.
    """

    def __init__(self, cancelled: bool = False) -> None:
        self.owner = threading.current_thread()
        self.cancelled = cancelled
        #: The agent being started, once spawned.
        self.agent: Optional[NgrokProcess] = None
        self._outcome: Union[NgrokProcess, BaseException, None] = None
        self._done = threading.Event()

    def spawned(self, agent: NgrokProcess) -> None:
        """The agent is spawned: from now on a cancel stops its wait at once (one that came before does now)."""
        with _current_processes_lock:
            self.agent = agent
            cancelled = self.cancelled
        if cancelled:
            agent._cancel_start()

    def cancel(self) -> Optional[NgrokProcess]:
        """With the registry lock held: cancel the start, and return the agent, if spawned, to wake with
        ``_cancel_start()`` once the lock is released."""
        self.cancelled = True
        return self.agent

    def finish(self, outcome: Union[NgrokProcess, BaseException]) -> None:
        self._outcome = outcome
        self._done.set()

    def wait(self) -> None:
        self._done.wait()

    def result(self) -> NgrokProcess:
        """Wait for the start to end: the agent it started, or its error raised."""
        self._done.wait()
        outcome = self._outcome
        if isinstance(outcome, NgrokProcess):
            return outcome
        if isinstance(outcome, Exception):
            raise outcome
        raise PyngrokNgrokError(f"The ngrok process start was interrupted ({type(outcome).__name__}).")


# The running agents, and the starts in progress, by ngrok_path. The lock guards the two dicts (and the
# starts' fields) only: it is never held while an agent starts or stops, so that the agent of another path
# can be started, queried or killed meanwhile, and a kill() reaches a start in progress.
_current_processes: Dict[str, NgrokProcess] = {}
_agent_starts: Dict[str, _AgentStart] = {}
_current_processes_lock = _new_rlock()
# How many times kill() has run for each ngrok_path (guarded by _supervisors_lock). An agent notes the count
# when it is made; if a kill() came since, its death is not supervised, even when that death is reported
# after the kill() (the agent died by itself just before it).
_kill_counts: Dict[str, int] = {}


def is_process_running(ngrok_path: str) -> bool:
    """Check whether an agent started by this library is running for the given binary.

    :param ngrok_path: The path of the ``ngrok`` binary.
    :return: ``True`` if the agent is running.
    """
    return _running_agent(ngrok_path) is not None


def _running_agent(ngrok_path: str) -> Optional[NgrokProcess]:
    """The agent running for the binary; one that died since is forgotten, and what it left cleaned up.

    A dead agent is forgotten only once its reader has reported the exit, which is when supervision (if on)
    takes charge of it: stopping it first would make its death look like a ``kill()``.
    """
    with _current_processes_lock:
        ngrok_process = _current_processes.get(ngrok_path)
    if ngrok_process is None or ngrok_process.proc.poll() is None:
        return ngrok_process
    ngrok_process._exited.wait(_READER_JOIN_SECONDS)
    with _current_processes_lock:
        current = _current_processes.get(ngrok_path)
        if current is ngrok_process:
            del _current_processes[ngrok_path]
    if current is not ngrok_process:
        return _running_agent(ngrok_path)  # forgotten, or replaced, meanwhile by another call
    _process_logger.debug("Removing stale process for ngrok_path %s", ngrok_path)
    ngrok_process._stop()
    return None


def get_process(pyngrok_config: PyngrokConfig) -> NgrokProcess:
    """Get the running agent for the config's ``ngrok_path``, starting one if none is running.

    Concurrent calls for one ``ngrok_path`` share one start and its outcome.

    :param pyngrok_config: The config to start the agent with.
    :return: The running agent.
    :raises PyngrokNgrokError: When the agent fails to start within ``startup_timeout``; the agent's own
        error and logs are attached, and no agent process is left behind.
    """
    return _get_or_start(pyngrok_config)


def _get_or_start(pyngrok_config: PyngrokConfig, cancelled: Optional[threading.Event] = None) -> NgrokProcess:
    """The running agent, else the outcome of the start in progress for its path, else of a new start.

    While supervision restarts an agent that died, a caller waits for that restart (at most its own
    ``startup_timeout``) instead of starting an agent of its own, which would skip the back-off and the limit.

    ``cancelled`` is a supervisor's: :func:`kill_process` sets it before it cancels the starts it finds, so a
    start this call begins after that is cancelled here.
    """
    ngrok_path = pyngrok_config.ngrok_path
    running = _running_agent(ngrok_path)
    if running is not None:
        return running
    if cancelled is None:
        with _supervisors_lock:
            supervisor = _supervisors.get(ngrok_path)
        if supervisor is not None:
            restarted = supervisor.wait_for_agent(pyngrok_config.startup_timeout)
            return restarted if restarted is not None else _get_or_start(pyngrok_config)
    with _current_processes_lock:
        running = _current_processes.get(ngrok_path)  # started meanwhile by another thread
        start = _agent_starts.get(ngrok_path)
        starts_here = running is None and start is None
        if starts_here:
            start = _agent_starts[ngrok_path] = _AgentStart(cancelled is not None and cancelled.is_set())
    if running is not None:
        return running
    assert start is not None
    if starts_here:
        return _run_start(start, pyngrok_config)
    _process_logger.debug("Waiting for the ngrok process starting for ngrok_path %s", ngrok_path)
    return start.result()


def kill_process(ngrok_path: str) -> None:
    """Stop the agent running for the given binary, if any: SIGTERM, then SIGKILL after a grace period.

    An agent still starting is stopped too: its start raises :class:`PyngrokNgrokError`.

    :param ngrok_path: The path of the ``ngrok`` binary.
    """
    with _supervisors_lock:
        supervisor = _supervisors.pop(ngrok_path, None)
        _restart_times.pop(ngrok_path, None)  # a kill() ends a crash loop: the next agent starts afresh
        _kill_counts[ngrok_path] = _kill_counts.get(ngrok_path, 0) + 1
    if supervisor is not None:
        supervisor.cancelled.set()  # before the starts are looked at: see _get_or_start()
    with _current_processes_lock:
        ngrok_process = _current_processes.pop(ngrok_path, None)
        start = _agent_starts.get(ngrok_path)
        half_started = start.cancel() if start is not None else None
    if half_started is not None:
        half_started._cancel_start()
    if ngrok_process is not None:
        _process_logger.info("Killing ngrok process: %s", ngrok_process.proc.pid)
        ngrok_process._stop()
    elif start is None:
        _process_logger.debug("ngrok_path %s is not running a process", ngrok_path)
    if start is not None and start.owner is not threading.current_thread():
        start.wait()  # its thread stops the half-started agent
    if supervisor is not None and supervisor.thread is not threading.current_thread():
        supervisor.thread.join()


@atexit.register
def _kill_all_processes() -> None:
    with _current_processes_lock:
        paths = set(_current_processes) | set(_agent_starts)
    for ngrok_path in paths:
        kill_process(ngrok_path)


def _forget_the_parents_agents() -> None:
    """In a child made by ``fork()``: the agents, tunnels and threads are the parent's, not the child's.

    The child drops them all (so ``kill()`` and its exit leave the parent's agents alone) and gets fresh locks:
    one held by another of the parent's threads at the fork would stay held for ever. Nothing here logs or
    waits, as this also runs in the child that ``subprocess`` forks before it starts a program.
    """
    global _current_processes_lock, _supervisors_lock, _tunnels_lock, config_file_lock, _event_dispatcher
    global _agent_spawner
    half_started = [start.agent for start in _agent_starts.values() if start.agent is not None]
    for ngrok_process in [*_current_processes.values(), *half_started]:
        ngrok_process._disown()
    _current_processes.clear()
    _agent_starts.clear()  # the threads starting them are not in the child
    _supervisors.clear()
    _restart_times.clear()
    _current_tunnels.clear()
    _current_processes_lock = _new_rlock()
    _supervisors_lock = _new_lock()
    _tunnels_lock = _new_rlock()
    config_file_lock = _new_rlock()
    _event_dispatcher = _EventDispatcher()
    _agent_spawner = _AgentSpawner()  # the parent's spawner thread is not in the child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_the_parents_agents)


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


# Real authtokens and API keys are over 30 characters. A shorter secret (a test value, or "session") is also
# part of ordinary words of the agent's messages, so it is masked only where the agent echoes a token.
_MIN_MASKED_SECRET_LENGTH = 20


def _redact(text: str, secrets: Iterable[Optional[str]]) -> str:
    for secret in secrets:
        if secret and len(secret) >= _MIN_MASKED_SECRET_LENGTH:
            text = text.replace(secret, "********")
    return re.sub(_AGENT_ECHOED_TOKEN, r"\1********", text) if "Your authtoken: " in text else text


def _validate_binary(ngrok_path: str) -> None:
    if not os.path.exists(ngrok_path):
        raise PyngrokNgrokError(
            f'ngrok binary was not found. Be sure to call "ngrok.install_ngrok()" first for "ngrok_path": '
            f"{ngrok_path}. {_OFFLINE_INSTALL_ADVICE}."
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
        version = _config_version_text(get_ngrok_config(config_path, use_cache=False).get("version"))
        if version is not None:
            return version
    return pyngrok_config.config_version


_OVERLAY_DIR_NAME = r"pyngrok-([0-9]+)-[A-Za-z0-9_]+"


class _Overlay:
    """A private config holding the secrets, for the agent to merge with the user's file (``--config path``).

    For an agent on Linux it lives in memory only (a memfd the agent inherits and reads as ``/dev/fd/N``): no
    file ever holds the secret, so nothing is left however the agent or this process dies. Elsewhere, and for
    the short ``ngrok api`` runs, it is ``overlay.yml`` (0600) in a 0700 directory named after this process's
    PID, removed when the agent stops or, if this process is killed first, by the next agent start anywhere.
    """

    def __init__(self, text: str, in_memory: bool) -> None:
        self.fd: Optional[int] = None
        self.directory: Optional[str] = None
        if in_memory and hasattr(os, "memfd_create") and os.path.isdir("/dev/fd"):
            with contextlib.suppress(OSError):  # e.g. refused by a seccomp filter: fall back to a file
                self.fd = os.memfd_create("pyngrok-overlay", os.MFD_CLOEXEC)
        if self.fd is not None:
            _write_all(self.fd, text.encode("utf-8"))
            self.path = f"/dev/fd/{self.fd}"
            return
        self.directory = tempfile.mkdtemp(prefix=f"pyngrok-{os.getpid()}-")  # created 0700
        self.path = os.path.join(self.directory, "overlay.yml")
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            _write_all(descriptor, text.encode("utf-8"))
        finally:
            os.close(descriptor)

    def handed_over(self) -> None:
        """The agent holds its own copy of the memfd now: ours is closed."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def remove(self) -> None:
        self.handed_over()
        if self.directory is not None:
            _remove_tree(self.directory)
            self.directory = None


def _write_all(descriptor: int, data: bytes) -> None:
    while data:
        data = data[os.write(descriptor, data) :]


def _write_overlay(
    pyngrok_config: PyngrokConfig, config_path: str, in_memory: bool = False, **secrets: Optional[str]
) -> Optional[_Overlay]:
    """Write the secrets into a private config overlay; ``None`` when there is nothing to hand over."""
    values = {key: value for key, value in secrets.items() if value}
    if not values:
        return None
    file_version = _config_file_version(pyngrok_config, config_path)
    # Written as the config file is (JSON's escapes are not all YAML's: a DEL stays raw, and a character past
    # U+FFFF becomes a surrogate pair, either of which makes the agent ignore the file).
    overlay: Dict[str, Any] = {"version": file_version}
    overlay.update({"agent": values} if file_version == "3" else values)
    return _Overlay(_yaml_dump(overlay), in_memory)


def _overlay_args(overlay: Optional[_Overlay]) -> List[str]:
    return ["--config", overlay.path] if overlay else []


def _sweep_orphaned_overlays() -> None:
    """Remove the overlay directories of processes that died (by a signal) before they could remove them.

    Only on POSIX, where signal 0 tells whether a PID lives; a directory of another user is left alone.
    """
    if os.name != "posix":
        return
    directory = tempfile.gettempdir()
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = re.fullmatch(_OVERLAY_DIR_NAME, name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        path = os.path.join(directory, name)
        with contextlib.suppress(OSError):
            info = os.lstat(path)
            if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid():
                _remove_tree(path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        pass  # it exists, but belongs to someone else
    return True


# --- starting an agent ---------------------------------------------------------------------------------


def _start_process(pyngrok_config: PyngrokConfig) -> NgrokProcess:
    """Start an agent for the config's ``ngrok_path`` (upstream's name): :func:`get_process` without the reuse.

    :raises PyngrokNgrokError: When an agent already runs (or starts) for that path, or this one fails to start.
    """
    ngrok_path = pyngrok_config.ngrok_path
    _validate_binary(ngrok_path)
    if is_process_running(ngrok_path):
        raise PyngrokNgrokError(f'ngrok is already running for the "ngrok_path": {ngrok_path}')
    with _current_processes_lock:
        if ngrok_path in _current_processes or ngrok_path in _agent_starts:
            raise PyngrokNgrokError(f'ngrok is already starting for the "ngrok_path": {ngrok_path}')
        start = _agent_starts[ngrok_path] = _AgentStart()
    return _run_start(start, pyngrok_config)


def _run_start(start: _AgentStart, pyngrok_config: PyngrokConfig) -> NgrokProcess:
    """Run a start claimed in the registry: register the agent, or hand the error to those waiting for it."""
    ngrok_path = pyngrok_config.ngrok_path
    try:
        ngrok_process = _launch_agent(pyngrok_config, start)
        with _current_processes_lock:
            del _agent_starts[ngrok_path]
            cancelled = start.cancelled  # by a kill() after the agent became healthy
            if not cancelled:
                _current_processes[ngrok_path] = ngrok_process
        if cancelled:
            ngrok_process._stop()
            raise PyngrokNgrokError(_KILLED_WHILE_STARTING)
        # After monitoring went on (a line read in between would be passed to no one) and the agent is registered.
        ngrok_process._start_is_over()
    except BaseException as error:
        with _current_processes_lock:
            if _agent_starts.get(ngrok_path) is start:
                del _agent_starts[ngrok_path]
        start.finish(error)
        raise
    start.finish(ngrok_process)
    return ngrok_process


def _launch_agent(pyngrok_config: PyngrokConfig, start: _AgentStart) -> NgrokProcess:
    """Spawn the agent and wait until it is healthy; on any failure, stop it and raise."""
    config_path = get_config_path(pyngrok_config)
    _validate_binary(pyngrok_config.ngrok_path)
    if os.path.exists(config_path):
        for warning in _validate_config_file(config_path, pyngrok_config.ngrok_version):
            _process_logger.warning("ngrok config: %s", warning)
    if start.cancelled:
        raise PyngrokNgrokError(_KILLED_WHILE_STARTING)

    _sweep_orphaned_overlays()
    overlay = _write_overlay(pyngrok_config, config_path, in_memory=True, authtoken=pyngrok_config.auth_token)
    try:
        proc = _spawn_agent(pyngrok_config, config_path, overlay)
    except BaseException:
        if overlay:
            overlay.remove()
        raise
    if overlay:
        overlay.handed_over()
    ngrok_process = NgrokProcess(proc, pyngrok_config)
    ngrok_process._take_over(overlay)
    start.spawned(ngrok_process)
    try:
        ngrok_process._wait_until_started()
    except BaseException:
        ngrok_process._stop()
        raise
    if pyngrok_config.monitor_thread:
        ngrok_process.start_monitor_thread()
    _process_logger.debug("ngrok process has started with API URL: %s", ngrok_process.api_url)
    return ngrok_process


def _agent_args(pyngrok_config: PyngrokConfig, config_path: str, overlay: Optional[_Overlay]) -> List[str]:
    args = [pyngrok_config.ngrok_path, "start", "--none", "--log", "stdout", "--log-format", "logfmt"]
    if os.path.exists(config_path):
        args += ["--config", config_path]
    args += _overlay_args(overlay)
    if pyngrok_config.region:
        args += ["--region", pyngrok_config.region]
    return args


def _spawn_agent(
    pyngrok_config: PyngrokConfig, config_path: str, overlay: Optional[_Overlay]
) -> "subprocess.Popen[bytes]":
    args = _agent_args(pyngrok_config, config_path, overlay)
    popen_kwargs: Dict[str, Any] = {"pass_fds": (overlay.fd,)} if overlay and overlay.fd is not None else {}
    if os.name == "posix":
        popen_kwargs["start_new_session"] = pyngrok_config.start_new_session
    elif pyngrok_config.start_new_session:
        _process_logger.warning("Ignoring start_new_session=True, which requires POSIX")
    if sys.platform == "win32":
        popen_kwargs["creationflags"] = getattr(subprocess, "CREATE_NO_WINDOW", 0)
    _process_logger.info("Starting ngrok: %s", " ".join(args))
    try:
        proc = _agent_spawner.popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, **popen_kwargs
        )
    except OSError as error:
        raise PyngrokNgrokError(f"The ngrok binary at {pyngrok_config.ngrok_path} could not be run: {error}") from None
    _process_logger.debug("ngrok process starting with PID: %s", proc.pid)
    return proc


class _AgentSpawner:
    """Starts the agents from one thread that lives as long as this process, so they die with it on Linux.

    Each agent asks the kernel for SIGKILL when its parent goes (``PR_SET_PDEATHSIG``), so even a ``kill -9``
    of this process leaves no agent behind. The kernel sends that signal when the *thread* that started the
    agent ends, which is why agents are not started from the caller's thread: it may be short-lived. The
    function run in the child before ``exec`` only calls ``prctl`` and ``getppid`` (resolved beforehand), so it
    takes no lock another thread could hold at the fork. Elsewhere agents are started directly; they end
    with this process's ``atexit`` (on a normal exit or an exception), not when it is killed by a signal.
    """

    def __init__(self) -> None:
        self._lock = _new_lock()
        self._requests: Optional["queue.SimpleQueue[Tuple[List[str], Dict[str, Any], List[Any], threading.Event]]"]
        self._requests = None

    def popen(self, args: List[str], **kwargs: Any) -> "subprocess.Popen[bytes]":
        prctl = _prctl()
        if prctl is None:
            return cast("subprocess.Popen[bytes]", subprocess.Popen(args, **kwargs))
        with self._lock:
            if self._requests is None:
                self._requests = queue.SimpleQueue()
                threading.Thread(
                    target=self._serve, args=(self._requests, prctl), name="pyngrok-spawner", daemon=True
                ).start()
            requests = self._requests
        outcome: List[Any] = []
        done = threading.Event()
        requests.put((args, kwargs, outcome, done))
        done.wait()
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        proc: "subprocess.Popen[bytes]" = outcome[0]
        return proc

    @staticmethod
    def _serve(requests: "queue.SimpleQueue[Any]", prctl: Callable[..., int]) -> None:
        while True:
            args, kwargs, outcome, done = requests.get()
            try:
                outcome.append(subprocess.Popen(args, preexec_fn=_die_with_parent(prctl), **kwargs))
            except BaseException as error:
                outcome.append(error)
            finally:
                done.set()


_PR_SET_PDEATHSIG = 1


def _die_with_parent(prctl: Callable[..., int]) -> Callable[[], None]:
    """What the agent's child process runs before ``exec``: ask for SIGKILL when its parent thread ends."""
    import signal

    parent = os.getpid()

    def ask() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request was in place
            os._exit(1)

    return ask


@functools.lru_cache(maxsize=None)
def _prctl() -> Optional[Callable[..., int]]:
    """libc's ``prctl`` on Linux, ready to call; ``None`` elsewhere or when ``ctypes`` cannot load it."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    prctl.argtypes = (ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong)
    prctl.restype = ctypes.c_int
    function: Callable[..., int] = prctl
    return function


_agent_spawner = _AgentSpawner()


# ======================================================================================================
# API client: requests to the agent's local HTTP API
# ======================================================================================================

_api_logger = _logger("pyngrok.ngrok")

# The one answer worth a retry when creating a tunnel: 503 with the agent's error_code 104, "ngrok is not yet
# ready to start tunnels" (its session is still coming up). Everything else is final: a 502 (error_code 103,
# "failed to start tunnel") keeps its name on agents 3.29+, so a retry would only turn the real error into
# 'tunnel "<name>" already exists'.
_NOT_READY_STATUS = 503
_NOT_READY_ERROR_CODE = 104
_CREATE_RETRY_FIRST_DELAY = 0.25
_CREATE_RETRY_MAX_DELAY = 2.0
# The agent's API is never reached through a proxy on these hosts (nor on any 127.x.y.z).
_LOCAL_HOSTS = frozenset({"localhost", "::1", "0.0.0.0", "::"})
# The agent's answers are small; a longer one is refused rather than read into memory.
_MAX_API_ANSWER_BYTES = 16 * 1024 * 1024


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
    if params:  # after the URL's own query, before its #fragment
        parts = urllib.parse.urlsplit(url)
        query = "&".join(part for part in (parts.query, urllib.parse.urlencode(params)) if part)
        url = urllib.parse.urlunsplit(parts._replace(query=query))
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
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        raise PyngrokNgrokError(f"ngrok API at {url} answered {status} with invalid JSON: {text[:200]!r}") from None
    if not isinstance(decoded, dict):
        raise PyngrokNgrokError(f"ngrok API at {url} answered {status} with JSON that is not an object: {text[:200]!r}")
    return decoded


def _http_exchange(
    method: str, url: str, body: Optional[bytes], headers: Dict[str, str], timeout: float
) -> Tuple[int, str, str]:
    """Send one request and read the whole answer, in ``timeout`` seconds in all: ``(status, reason, text)``.

    The agent's API (any loopback or unspecified address) is reached directly with ``http.client``: no proxy
    may come between us and the agent. Other hosts go through ``urllib``, so environment proxies and TLS
    apply as users expect. An answer longer than ``_MAX_API_ANSWER_BYTES`` is refused.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port  # a port that is not a number, or out of range, raises ValueError here
    except ValueError as error:
        raise PyngrokNgrokURLError(f"ngrok client exception, bad URL {url}: {error}", error) from None
    deadline = time.monotonic() + timeout
    try:
        if parts.scheme == "http" and _is_local_host(parts.hostname or ""):
            return _local_exchange(method, parts, port, body, headers, deadline)
        return _urllib_exchange(method, url, body, headers, deadline)
    except http.client.HTTPException as error:  # a malformed or cut answer
        raise PyngrokNgrokURLError(f"ngrok client exception, bad answer from {url}: {error!r}", error) from None
    except OSError as error:  # refused, reset, timed out (socket.timeout is an OSError)
        reason = "timed out" if isinstance(error, socket.timeout) or "timed out" in str(error) else error
        raise PyngrokNgrokURLError(f"ngrok client exception, URLError: {reason}", reason) from None


def _is_local_host(host: str) -> bool:
    host = host.lower()
    if host in _LOCAL_HOSTS:
        return True
    octets = host.split(".")
    return len(octets) == 4 and octets[0] == "127" and all(o.isascii() and o.isdigit() and int(o) < 256 for o in octets)


def _local_exchange(
    method: str, parts: Any, port: Optional[int], body: Optional[bytes], headers: Dict[str, str], deadline: float
) -> Tuple[int, str, str]:
    # An agent listening on every address is reached on loopback.
    hostname: str = parts.hostname
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(hostname, hostname)
    connection = http.client.HTTPConnection(host, port or 80, timeout=_remaining(deadline))
    connection.connect()
    sock = connection.sock
    try:
        connection.sock = _DeadlineSocket(sock, deadline)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, target, body, {**headers, "Connection": "close"})
        response = connection.getresponse()
        return response.status, response.reason, _read_answer(response, deadline, parts.geturl())
    finally:
        connection.close()
        sock.close()


def _urllib_exchange(
    method: str, url: str, body: Optional[bytes], headers: Dict[str, str], deadline: float
) -> Tuple[int, str, str]:
    request = urllib.request.Request(url, headers=headers, method=method)
    try:
        response = _api_urlopen(request, body, _remaining(deadline))
        try:
            return response.getcode(), str(response.reason), _read_answer(response, deadline, url)
        finally:
            response.close()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, str(error.reason), _read_answer(error, deadline, url)
    except urllib.error.URLError as error:
        reason = error.reason
        raise PyngrokNgrokURLError(f"ngrok client exception, URLError: {reason}", reason) from None


def _api_urlopen(request: urllib.request.Request, data: Optional[bytes], timeout: float) -> Any:
    """Open an API request to a host that is not loopback; upstream's ``ngrok.urlopen``, where tests patch it."""
    return urllib.request.urlopen(request, data, timeout)


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise socket.timeout("timed out")
    return remaining


def _read_answer(response: Any, deadline: float, url: str) -> str:
    """The answer's body as text, read within the deadline and never more than ``_MAX_API_ANSWER_BYTES``."""
    if not hasattr(type(response), "read1"):  # a stand-in for urlopen's answer, as upstream's tests patch in
        data: bytes = response.read()
        if len(data) > _MAX_API_ANSWER_BYTES:
            raise _answer_too_long(url)
        return data.decode("utf-8", "replace")
    length = response.headers.get("Content-Length", "")
    if length.isascii() and length.isdigit() and int(length) > _MAX_API_ANSWER_BYTES:
        raise _answer_too_long(url)
    chunks: List[bytes] = []
    received = 0
    while True:
        _remaining(deadline)  # a body that drips in is cut at the deadline
        chunk = response.read1(65536)
        if not chunk:
            return b"".join(chunks).decode("utf-8", "replace")
        received += len(chunk)
        if received > _MAX_API_ANSWER_BYTES:
            raise _answer_too_long(url)
        chunks.append(chunk)


def _answer_too_long(url: str) -> PyngrokNgrokError:
    limit = _MAX_API_ANSWER_BYTES // (1024 * 1024)
    return PyngrokNgrokError(f"ngrok API at {url} answered more than {limit} MiB; the answer is refused")


class _DeadlineSocket:
    """A connected socket whose every send and receive must finish before the call's deadline.

    ``http.client`` sets one timeout per socket operation; an answer that drips in a byte at a time would
    pass each of them. Only what ``http.client`` uses of a socket is here.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def sendall(self, data: bytes) -> None:
        self._sock.settimeout(_remaining(self._deadline))
        self._sock.sendall(data)

    def makefile(self, mode: str, *args: Any, **kwargs: Any) -> BinaryIO:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))

    def close(self) -> None:
        pass  # http.client closes its socket while the answer is still read: the exchange closes it after


class _DeadlineReader(io.RawIOBase):
    def __init__(self, sock: socket.socket, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self._sock.settimeout(_remaining(self._deadline))
        return self._sock.recv_into(buffer)


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
        # Set by disconnect(): a re-open after a restart must not bring the tunnel back.
        self._disconnected = False
        self._load(data, api_url)

    def _load(self, data: Dict[str, Any], api_url: Optional[str]) -> None:
        #: The tunnel as the agent's API described it.
        self.data: Dict[str, Any] = data
        #: The URL of that agent's API.
        self.api_url: Optional[str] = api_url
        # The agent's answer is read leniently: a field of an unexpected type counts as absent.
        #: The ID of the tunnel.
        self.id: Optional[str] = _text_field(data, "ID", "id")
        #: The name of the tunnel.
        self.name: Optional[str] = _text_field(data, "name")
        #: The protocol of the tunnel.
        self.proto: Optional[str] = _text_field(data, "proto")
        #: The path of the tunnel in the agent's API.
        uri = _text_field(data, "uri")
        self.uri: Optional[str] = uri if uri and uri.startswith("/") else self._default_uri()
        #: The public URL of the tunnel.
        self.public_url: Optional[str] = _text_field(data, "public_url", "url")
        if self.proto is None and self.public_url and "://" in self.public_url:
            self.proto = self.public_url.split("://", 1)[0]
        #: The ``config`` block of a v2 tunnel (``{"addr": ..., "inspect": ...}``); empty for endpoints.
        self.config: Dict[str, Any] = _mapping_field(data, "config")
        #: Where the tunnel forwards to (``{"url": "http://localhost:8000", ...}``).
        self.upstream: Dict[str, Any] = _mapping_field(data, "upstream") or (
            {"url": self.config["addr"]} if self.config.get("addr") else {}
        )
        #: The tunnel's metrics, as of the last refresh.
        self.metrics: Dict[str, Any] = _mapping_field(data, "metrics")

    def _default_uri(self) -> Optional[str]:
        if not self.name:
            return None
        return _by_name(_api_path(self.pyngrok_config), self.name)

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


def _text_field(data: Dict[str, Any], *keys: str) -> Optional[str]:
    """The first of the keys whose value is a string."""
    for key in keys:
        value = data.get(key)
        if isinstance(value, str):
            return value
    return None


def _mapping_field(data: Dict[str, Any], key: str) -> Dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


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
        except (ValueError, RecursionError):
            raise PyngrokNgrokError(f"ngrok api printed invalid JSON: {body[:200]!r}") from None
        return NgrokApiResponse(body[:json_starts], data)


# Open tunnels by public URL, across all agents this module runs.
_current_tunnels: Dict[str, NgrokTunnel] = {}
_tunnels_lock = _new_rlock()
# Counts disconnects, so that a get_tunnels() whose answer predates one does not bring its tunnel back.
_disconnects = 0


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
    :raises PyngrokNgrokError: With supervision on, when the agent died and is not back within ``startup_timeout``
        (or supervision gave up), or when it lost the tunnel to a restart more than ``max_restarts`` times.
    """
    pyngrok_config = pyngrok_config or get_default()
    if pyngrok_config.config_version != "3":
        v3_only = sorted(key for key in ("upstream", "bindings") if key in options)
        if v3_only:
            raise PyngrokError(
                f'Options {v3_only} require config_version="3". Set PyngrokConfig.config_version="3" to use these.'
            )
    _interpolate_tunnel_definition(pyngrok_config, options, addr, proto, name)
    if pyngrok_config.config_version == "3":
        _translate_to_endpoint(options)
    else:
        _upgrade_legacy_params(pyngrok_config, options)

    _api_logger.info("Opening tunnel named: %s", options.get("name"))
    ngrok_process = get_ngrok_process(pyngrok_config)
    return _open_tunnel(
        ngrok_process, _api_path(pyngrok_config), options, pyngrok_config=pyngrok_config, wait_for_restart=True
    )


def _open_tunnel(
    ngrok_process: NgrokProcess,
    api_path: str,
    options: Dict[str, Any],
    tunnel: Optional[NgrokTunnel] = None,
    *,
    pyngrok_config: Optional[PyngrokConfig] = None,
    look_first: bool = False,
    wait_for_restart: bool = False,
) -> NgrokTunnel:
    """Create the tunnel on the agent; reload ``tunnel`` in place when re-opening it after a restart.

    The agent may lose the tunnel while the request is out: it restarts in place (and comes back with no
    tunnels), or it dies and supervision hands its tunnels to the agent that replaces it; either way the re-open
    that follows does not know of this tunnel yet. So when the agent's re-open count changed meanwhile, the
    tunnel is looked for by name on the agent that now has the tunnels, and made again if it is not there; after
    ``max_restarts`` such losses the open gives up. A re-opened ``tunnel`` that disconnect() closed meanwhile is
    closed again on the agent.

    ``pyngrok_config`` is the caller's (``connect``'s, as upstream uses it), else the agent's own.

    :param look_first: Whether to ask the agent for the tunnel by name before creating it.
    :param wait_for_restart: Whether a request cut off by the agent's death under supervision waits for the
        restart (at most ``startup_timeout``) and is made again on the restarted agent, as connect()'s is.
    :raises PyngrokNgrokError: When the agent lost the tunnel more than ``max_restarts`` times.
    """
    pyngrok_config = pyngrok_config or ngrok_process.pyngrok_config
    name = str(options.get("name"))
    previous_url = tunnel.public_url if tunnel is not None else None
    losses = 0
    while True:
        reopens = ngrok_process._reopens
        url = f"{ngrok_process.api_url}{api_path}"
        try:
            found = _find_tunnel(url, name, pyngrok_config) if look_first else None
            data = found or _create_tunnel(url, options, pyngrok_config)
        except PyngrokNgrokURLError:
            if not (wait_for_restart and _died_under_supervision(ngrok_process)):
                raise
        else:
            tunnel = _loaded_tunnel(tunnel, data, pyngrok_config, ngrok_process.api_url)
            with _tunnels_lock:
                disconnected = tunnel._disconnected
                if not disconnected and ngrok_process._reopens == reopens:
                    if previous_url is not None and _current_tunnels.get(previous_url) is tunnel:
                        del _current_tunnels[previous_url]
                    _current_tunnels[str(tunnel.public_url)] = tunnel
                    ngrok_process._remember_tunnel(api_path, options, tunnel)
                    return tunnel
            if disconnected:
                _delete_tunnel(str(ngrok_process.api_url), tunnel, pyngrok_config)
                return tunnel
        losses += 1
        if losses > max(pyngrok_config.max_restarts, 1):
            _close_by_name(url, name, pyngrok_config)
            raise PyngrokNgrokError(
                f'ngrok lost tunnel "{name}" to a restart {losses} times while it was being opened, more than '
                f"max_restarts ({pyngrok_config.max_restarts}) allows; it was not opened."
            )
        _api_logger.info("ngrok restarted while tunnel %s was being opened; checking that it is still there", name)
        ngrok_process = _agent_after_restart(ngrok_process, pyngrok_config, name, wait_for_restart)
        look_first = True


def _loaded_tunnel(
    tunnel: Optional[NgrokTunnel], data: Dict[str, Any], pyngrok_config: PyngrokConfig, api_url: Optional[str]
) -> NgrokTunnel:
    """A new tunnel object for the agent's answer, or ``tunnel`` reloaded from it."""
    if tunnel is None:
        tunnel = NgrokTunnel(data, pyngrok_config, api_url)
    else:
        tunnel._load(data, api_url)
    if tunnel.public_url is None:
        raise PyngrokError(
            f'"public_url" was not populated for tunnel {tunnel}, but is required for pyngrok to function.'
        )
    return tunnel


def _died_under_supervision(ngrok_process: NgrokProcess) -> bool:
    """Whether the agent died by itself, and supervision restarts it (for a request it cut off)."""
    if not ngrok_process.pyngrok_config.supervise:
        return False
    ngrok_process._exited.wait(_READER_JOIN_SECONDS)  # its sockets close a moment before its exit is seen
    return ngrok_process._died_by_itself()


def _agent_after_restart(
    ngrok_process: NgrokProcess, pyngrok_config: PyngrokConfig, name: str, wait_for_restart: bool
) -> NgrokProcess:
    """The agent that has the tunnels of ``ngrok_process`` after a restart: itself (restarted in place), or the
    agent that supervision started in its place, waited for when ``wait_for_restart``."""
    with _tunnels_lock:
        while ngrok_process._successor is not None:
            ngrok_process = ngrok_process._successor
    if ngrok_process.proc.poll() is None:
        return ngrok_process
    if not wait_for_restart:
        raise PyngrokNgrokError(f'ngrok exited while tunnel "{name}" was being opened.')
    return get_process(pyngrok_config)


def _by_name(url: str, name: str) -> str:
    """The URL of a tunnel (or endpoint) of the agent's API by its name, under the list's URL ``url``."""
    return f"{url}/{urllib.parse.quote(name, safe='')}"


def _close_by_name(url: str, name: str, pyngrok_config: PyngrokConfig) -> None:
    """Close the agent's tunnel of that name (and a v2 agent's plain-http twin), if it has one: an open that gives
    up leaves none behind."""
    for each in (name, f"{name} (http)") if pyngrok_config.config_version == "2" else (name,):
        try:
            api_request(_by_name(url, each), method="DELETE", timeout=pyngrok_config.request_timeout)
        except PyngrokError as error:
            _api_logger.debug("Tunnel %s was not closed: %s", each, error)


def _find_tunnel(url: str, name: str, pyngrok_config: PyngrokConfig) -> Optional[Dict[str, Any]]:
    """The agent's tunnel of that name, or None when it has none (a 404)."""
    try:
        found = api_request(_by_name(url, name), method="GET", timeout=pyngrok_config.request_timeout)
    except PyngrokNgrokHTTPError as error:
        if error.status_code != 404:
            raise
        return None
    return found


def _create_tunnel(url: str, options: Dict[str, Any], pyngrok_config: PyngrokConfig) -> Dict[str, Any]:
    """POST the tunnel; retry only while the agent says it is not ready yet, for ``startup_timeout`` at most."""
    deadline = time.monotonic() + pyngrok_config.startup_timeout
    delay = _CREATE_RETRY_FIRST_DELAY
    while True:
        timeout = max(min(float(pyngrok_config.request_timeout), deadline - time.monotonic()), 0.1)
        try:
            return api_request(url, method="POST", data=options, timeout=timeout)
        except PyngrokNgrokHTTPError as error:
            if not _agent_not_ready(error) or time.monotonic() + delay >= deadline:
                raise
            _api_logger.info("The agent is not ready for tunnels yet (%s); retrying", error.ngrok_error)
        time.sleep(delay)
        delay = min(delay * 2, _CREATE_RETRY_MAX_DELAY)


def _agent_not_ready(error: PyngrokNgrokHTTPError) -> bool:
    return error.status_code == _NOT_READY_STATUS and error.api_error_code == _NOT_READY_ERROR_CODE


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
        endpoints = config.get("endpoints")
        for definition in endpoints if isinstance(endpoints, list) else []:
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
    """Translate v2 tunnel options that v3 agents renamed: ``bind_tls`` to ``schemes``, ``auth`` to
    ``basic_auth``, ``hostname`` to ``domain``, ``client_cas`` to ``mutual_tls_cas``, ``policy`` to
    ``traffic_policy``."""
    if pyngrok_config.ngrok_version != "3":
        return
    for old, new in (("hostname", "domain"), ("client_cas", "mutual_tls_cas"), ("policy", "traffic_policy")):
        if old in options and new not in options:
            options[new] = options.pop(old)
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


# --- v2 tunnel options for v3 endpoints ----------------------------------------------------------------
# POST /api/endpoints accepts these fields and no others; the agent answers 400 ("field X not found") to the
# rest. connect() translates the v2 options that have an endpoint equivalent and refuses the others, naming
# what to use instead, before any request.
_ENDPOINT_FIELDS = frozenset(
    {"name", "url", "upstream", "pooling_enabled", "inspect", "traffic_policy", "bindings", "metadata", "description"}
)
_ENDPOINT_UPSTREAM_FIELDS = frozenset({"url", "protocol"})
_NO_ENDPOINT_EQUIVALENT = {
    "oauth": 'a Traffic Policy "oauth" action (traffic_policy=...)',
    "oidc": 'a Traffic Policy "openid-connect" action (traffic_policy=...)',
    "ip_restriction": 'a Traffic Policy "restrict-ips" action (traffic_policy=...)',
    "request_header": 'Traffic Policy "add-headers"/"remove-headers" actions on on_http_request',
    "response_header": 'Traffic Policy "add-headers"/"remove-headers" actions on on_http_response',
    "circuit_breaker": 'a Traffic Policy "circuit-breaker" action (traffic_policy=...)',
    "compression": 'a Traffic Policy "compress-response" action (traffic_policy=...)',
    "user_agent_filter": 'a Traffic Policy "deny" action with an expression on req.user_agent',
    "verify_webhook": 'a Traffic Policy "verify-webhook" action (traffic_policy=...)',
    "mutual_tls_cas": 'a Traffic Policy "terminate-tls" action (mutual_tls_certificate_authorities)',
    "client_cas": 'a Traffic Policy "terminate-tls" action (mutual_tls_certificate_authorities)',
    "crt": 'a Traffic Policy "terminate-tls" action, or agent_tls_termination in a config-file endpoint',
    "key": 'a Traffic Policy "terminate-tls" action, or agent_tls_termination in a config-file endpoint',
    "terminate_at": 'a Traffic Policy "terminate-tls" action (traffic_policy=...)',
    "agent_tls_termination": "an endpoint started by the agent from its config file (ngrok start NAME)",
    "proxy_proto": "upstream.proxy_protocol in an endpoint of the config file (ngrok start NAME)",
    "websocket_tcp_converter": 'tunnels: PyngrokConfig(config_version="2")',
    "labels": "url= (labeled tunnels went with Edges)",
    "policy": "traffic_policy=",
}


def _translate_to_endpoint(options: Dict[str, Any]) -> None:
    """Turn v2 tunnel options into endpoint fields in place, or raise before anything is sent.

    ``domain``/``hostname`` (and ``subdomain`` with ``domain`` as its base) become ``url``, ``remote_addr``
    a ``tcp://`` url, ``bind_tls``/``schemes`` the url's scheme, ``auth``/``basic_auth`` a Traffic Policy
    ``basic-auth`` action and ``host_header`` an ``add-headers`` action setting ``host``.

    :raises PyngrokError: For an option with no endpoint equivalent, naming what to use instead.
    """
    for key in sorted(str(key) for key in options):
        if key in _NO_ENDPOINT_EQUIVALENT:
            raise PyngrokError(
                f'Option "{key}" has no equivalent for ngrok v3 endpoints; use {_NO_ENDPOINT_EQUIVALENT[key]}.'
            )
    url = _endpoint_url(options)
    if url:
        options["url"] = url
    actions = _basic_auth_actions(options) + _host_header_actions(options)
    if actions:
        options["traffic_policy"] = _with_request_actions(options.get("traffic_policy"), actions)
    upstream = options.get("upstream")
    extra_upstream = (
        sorted(str(k) for k in upstream if k not in _ENDPOINT_UPSTREAM_FIELDS) if isinstance(upstream, dict) else []
    )
    unknown = sorted(str(key) for key in options if key not in _ENDPOINT_FIELDS)
    if unknown or extra_upstream:
        what = unknown[0] if unknown else f"upstream.{extra_upstream[0]}"
        raise PyngrokError(
            f'Option "{what}" is not a field of ngrok v3 endpoints, which accept {", ".join(sorted(_ENDPOINT_FIELDS))} '
            f'(upstream: url, protocol); for v2 tunnels use PyngrokConfig(config_version="2").'
        )


def _endpoint_url(options: Dict[str, Any]) -> Optional[str]:
    """The endpoint URL the v2 options ask for (popping them), or None to leave ``url`` as it is."""
    url = str(options.get("url") or "")
    scheme, _, host = url.rpartition("://") if "://" in url else ("", "", url)
    domain = options.pop("domain", None) or options.pop("hostname", None)
    subdomain = options.pop("subdomain", None)
    remote_addr = options.pop("remote_addr", None)
    wanted_scheme = _endpoint_scheme(options.pop("bind_tls", None), options.pop("schemes", None))
    if subdomain and not domain:
        raise PyngrokError(
            f'Option "subdomain" has no v3 equivalent without a base domain: use url="https://{subdomain}.<your '
            'domain>", or pass domain= as the base.'
        )
    if (domain or remote_addr) and host:
        raise PyngrokError(f'Options "url" and "{"domain" if domain else "remote_addr"}" both set the endpoint URL.')
    if domain:
        host = f"{subdomain}.{domain}" if subdomain else str(domain)
    if remote_addr:
        scheme, host = "tcp", str(remote_addr)
    if wanted_scheme:
        if scheme in ("tcp", "tls") or (scheme and scheme != wanted_scheme):
            raise PyngrokError(f'Options "bind_tls"/"schemes" ask for {wanted_scheme}, but the URL is {scheme}://.')
        scheme = wanted_scheme
    if not (domain or remote_addr or wanted_scheme):
        return None
    return f"{scheme or 'https'}://{host}"


def _endpoint_scheme(bind_tls: Any, schemes: Any) -> Optional[str]:
    if schemes is not None:
        chosen = sorted({str(s).lower() for s in (schemes if isinstance(schemes, list) else [schemes])})
    elif bind_tls is not None:
        text = str(bind_tls).lower()
        chosen = ["http", "https"] if text == "both" else ["https"] if text in ("true", "1") else ["http"]
    else:
        return None
    if chosen == ["http"] or chosen == ["https"]:
        return chosen[0]
    raise PyngrokError(
        'An endpoint has one URL, so one scheme: bind_tls="both" / schemes=["http", "https"] has no v3 '
        "equivalent; connect twice, once with bind_tls=True and once with bind_tls=False."
    )


def _basic_auth_actions(options: Dict[str, Any]) -> List[Dict[str, Any]]:
    credentials: List[str] = []
    for key in ("auth", "basic_auth"):
        value = options.pop(key, None)
        credentials.extend(str(item) for item in (value if isinstance(value, list) else [value]) if item)
    return [{"type": "basic-auth", "config": {"credentials": credentials}}] if credentials else []


def _host_header_actions(options: Dict[str, Any]) -> List[Dict[str, Any]]:
    host_header = options.pop("host_header", None)
    if not host_header or host_header == "preserve":  # endpoints pass the Host header on as it came
        return []
    if host_header == "rewrite":
        upstream = _mapping_field(options, "upstream")
        target = str(upstream.get("url") or "")
        host_header = urllib.parse.urlsplit(target if "://" in target else f"//{target}").netloc or target
    return [{"type": "add-headers", "config": {"headers": {"host": str(host_header)}}}]


def _with_request_actions(policy: Any, actions: List[Dict[str, Any]]) -> Any:
    """``policy`` (a mapping or its YAML/JSON text) with ``actions`` as a first on_http_request rule."""
    as_text = isinstance(policy, str)
    if as_text:
        try:
            policy = _yaml_load(policy, "traffic_policy")
        except PyngrokConfigError as error:
            raise PyngrokError(f"traffic_policy is not valid YAML or JSON: {error}") from None
    if policy is None:
        policy = {}
    if not isinstance(policy, dict) or not isinstance(policy.get("on_http_request", []), list):
        raise PyngrokError("traffic_policy must be a mapping with a list of on_http_request rules.")
    merged = dict(policy)
    merged["on_http_request"] = [{"actions": actions}, *policy.get("on_http_request", [])]
    return json.dumps(merged) if as_text else merged


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
        endpoints = config.get("endpoints")
        endpoints = endpoints if isinstance(endpoints, list) else []
        names = [item.get("name") for item in endpoints if isinstance(item, dict)] + names
    return [connect(name=name, pyngrok_config=pyngrok_config) for name in names if name and name != "pyngrok-default"]


def disconnect(public_url: str, pyngrok_config: Optional[PyngrokConfig] = None) -> None:
    """Close the tunnel with the given public URL, if it is open.

    With a v2 agent, closing an ``https`` tunnel also closes the ``<name> (http)`` twin the agent opened
    beside it, so no public port is left behind. While the agent is down (it died, and supervision restarts
    it), the tunnel went with it: it is forgotten at once, so the restart does not bring it back.

    :param public_url: The public URL of the tunnel.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :raises PyngrokNgrokHTTPError: When the agent refuses to close the tunnel (a 404, already closed, is not
        an error).
    """
    pyngrok_config = pyngrok_config or get_default()
    ngrok_process = _running_agent(pyngrok_config.ngrok_path)
    tunnel = _known_tunnel(public_url)
    if ngrok_process is None:
        _api_logger.debug("ngrok_path %s is not running a process", pyngrok_config.ngrok_path)
        if tunnel is not None:
            _forget_closed_tunnel(tunnel, public_url)
        return
    api_url = str(ngrok_process.api_url)
    if tunnel is None:
        tunnel = next((t for t in get_tunnels(pyngrok_config) if t.public_url == public_url), None)
        if tunnel is None:
            return
    _api_logger.info("Disconnecting tunnel: %s", tunnel.public_url)
    name = str(tunnel.name)
    # Forgotten before the agent closes it, so that a re-open after a restart, under way now, does not bring it
    # back (it closes what it re-opened instead); remembered again if the agent refuses.
    with _tunnels_lock:
        forgotten = _forget_everywhere(name)
    try:
        _delete_tunnel(api_url, tunnel, pyngrok_config)
    except PyngrokError:
        with _tunnels_lock:
            for agent, entry in forgotten:
                if not agent._remembers_tunnel(name):
                    entry[2]._disconnected = False
                    agent._remember_tunnel(*entry)
        raise
    _forget_closed_tunnel(tunnel, public_url, api_url)


def _forget_closed_tunnel(tunnel: NgrokTunnel, public_url: str, api_url: Optional[str] = None) -> None:
    """Forget a tunnel that is closed: no re-open brings it back, and, given the ``api_url`` of the agent that
    closed it, a v2 agent's ``<name> (http)`` twin beside it goes too."""
    global _disconnects
    name = str(tunnel.name)
    with _tunnels_lock:
        _forget_everywhere(name)
        tunnel._disconnected = True
        _disconnects += 1
        _current_tunnels.pop(public_url, None)
        if api_url is not None:
            names = (name, f"{name} (http)")
            for url in [url for url, t in _current_tunnels.items() if t.name in names and t.api_url == api_url]:
                del _current_tunnels[url]


def _forget_everywhere(name: str) -> List[Tuple[NgrokProcess, Tuple[str, Dict[str, Any], NgrokTunnel]]]:
    """With the tunnels lock held: make every agent forget the tunnel of that name and mark it disconnected, so
    that no re-open brings it back. Return each agent with what it forgot."""
    forgotten = []
    for agent in _agents_with_tunnels():
        entry = agent._forget_tunnel(name)
        if entry is not None:
            entry[2]._disconnected = True
            forgotten.append((agent, entry))
    return forgotten


def _known_tunnel(public_url: str) -> Optional[NgrokTunnel]:
    """The tunnel of that public URL among those this module opened, or None."""
    with _tunnels_lock:
        tunnel = _current_tunnels.get(public_url)
        if tunnel is None:
            # Between a restart and its re-open, a get_tunnels() drops the tunnels the agent lost.
            remembered = (t for agent in _agents_with_tunnels() for _, _, t in agent._remembered_tunnels())
            tunnel = next((t for t in remembered if t.public_url == public_url), None)
    return tunnel


def _agents_with_tunnels() -> List[NgrokProcess]:
    """The agents whose remembered tunnels a call may look at (with the tunnels lock held): the running ones,
    and the dead ones whose tunnels supervision has yet to hand to the agents that replace them."""
    with _supervisors_lock:
        holders = [supervisor.holder for supervisor in _supervisors.values()]
    return [*_current_processes.values(), *holders]


def _delete_tunnel(api_url: str, tunnel: NgrokTunnel, pyngrok_config: PyngrokConfig) -> None:
    """Close the tunnel on the agent (and the plain-http twin a v2 agent opened beside an https one)."""
    uris = [str(tunnel.uri)]
    if pyngrok_config.config_version == "2" and tunnel.proto == "https":
        uris.append(f"{tunnel.uri}%20%28http%29")
    for uri in uris:
        try:
            api_request(f"{api_url}{uri}", method="DELETE", timeout=pyngrok_config.request_timeout)
        except PyngrokNgrokHTTPError as error:
            if error.status_code != 404:
                raise
            _api_logger.debug("Tunnel %s was already gone", uri)


def get_tunnels(pyngrok_config: Optional[PyngrokConfig] = None) -> List[NgrokTunnel]:
    """Get the open tunnels of the agent, starting it first if needed.

    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The tunnels.
    :raises PyngrokError: When a tunnel has no public URL.
    """
    pyngrok_config = pyngrok_config or get_default()
    api_url = get_ngrok_process(pyngrok_config).api_url
    disconnects_before = _disconnects
    response = api_request(
        f"{api_url}{_api_path(pyngrok_config)}", method="GET", timeout=pyngrok_config.request_timeout
    )
    list_keys = ("endpoints", "tunnels") if pyngrok_config.config_version == "3" else ("tunnels",)
    items: List[Any] = next((response[key] for key in list_keys if isinstance(response.get(key), list)), [])
    tunnels = [NgrokTunnel(item, pyngrok_config, api_url) for item in items if isinstance(item, dict)]
    for tunnel in tunnels:
        if tunnel.public_url is None:
            raise PyngrokError(
                f'"public_url" was not populated for tunnel {tunnel}, but is required for pyngrok to function.'
            )
    with _tunnels_lock:
        known = {url for url, t in _current_tunnels.items() if t.api_url == api_url}
        for public_url in known:
            del _current_tunnels[public_url]
        # A tunnel closed while our request was out may still be in the answer: keep what we knew of then.
        stale_answer = disconnects_before != _disconnects
        _current_tunnels.update(
            (str(tunnel.public_url), tunnel) for tunnel in tunnels if not stale_answer or tunnel.public_url in known
        )
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
                starting = pyngrok_config.ngrok_path in _agent_starts
            supervised = pyngrok_config.ngrok_path in _supervisors
            if ngrok_process is not None and ngrok_process._exited.is_set() and not supervised:
                exit_code = ngrok_process.proc.returncode
                break
            if (ngrok_process is None and not starting and not supervised) or (
                deadline and time.monotonic() >= deadline
            ):
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
    overlay = _write_overlay(pyngrok_config, config_path, api_key=pyngrok_config.api_key)
    try:
        config_args = ["--config", config_path] if os.path.exists(config_path) else []
        command = ["api", *(str(arg) for arg in args), *config_args, *_overlay_args(overlay)]
        _api_logger.info('Executing "ngrok api" command with args: %s', args)
        output = _capture_run(pyngrok_config.ngrok_path, command, (pyngrok_config.api_key, pyngrok_config.auth_token))
    finally:
        if overlay:
            overlay.remove()
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
# Supervision: restarting an agent that died, or re-opening the tunnels of one that restarted in place
# ======================================================================================================


_supervisors: Dict[str, _Supervisor] = {}
# When supervision restarted the agent of each ngrok_path (time.monotonic()), within the restart window: kept
# across supervisors, so that an agent that dies soon after every successful restart still runs out of tries.
_restart_times: Dict[str, List[float]] = {}
_supervisors_lock = _new_lock()


class _Supervisor:
    """Restarts a dead agent with the same config and re-opens its tunnels, with back-off and a limit.

    Calls that need the agent meanwhile wait for the restart (:meth:`wait_for_agent`). An agent it restarted
    that dies before it is done is restarted by it too (counted against the same limit).
    """

    def __init__(self, dead: NgrokProcess) -> None:
        self.dead = dead
        # The agent that remembers the tunnels to re-open: the dead one, until they are handed to a restarted one.
        self.holder = dead
        self.cancelled = threading.Event()
        self.thread = threading.Thread(target=self.run, name="pyngrok-supervisor", daemon=True)
        # Notified when an agent it started is up, and when it ends; ``ending`` says why it ends without one.
        self.changed = threading.Condition()
        self.ended = False
        self.ending: Optional[str] = None
        self.last_failure: Optional[str] = None

    def run(self) -> None:
        config = self.dead.pyngrok_config
        try:
            while True:
                restarts = self._recent_restarts()
                if restarts >= config.max_restarts:
                    self._give_up()
                    return
                if self.cancelled.wait(config.restart_backoff * 2**restarts):
                    return
                with _supervisors_lock:
                    _restart_times.setdefault(config.ngrok_path, []).append(time.monotonic())
                if self._restart(restarts + 1) and self._done():
                    return
        finally:
            with _supervisors_lock:
                if _supervisors.get(config.ngrok_path) is self:
                    del _supervisors[config.ngrok_path]
            if self.cancelled.is_set():
                self.ending = "The ngrok process was stopped by kill() while supervision restarted it."
            with self.changed:
                self.ended = True
                self.changed.notify_all()

    def _done(self) -> bool:
        """Leave the registry, unless the agent it restarted has died since: then that death is its to handle
        (the agent's own report of it found this supervisor still registered)."""
        with _supervisors_lock:
            if self.holder._died_by_itself() and not self.cancelled.is_set():
                return False
            if _supervisors.get(self.dead.pyngrok_config.ngrok_path) is self:
                del _supervisors[self.dead.pyngrok_config.ngrok_path]
            return True

    def wait_for_agent(self, timeout: float) -> Optional[NgrokProcess]:
        """Wait for the agent this supervisor restarts, at most ``timeout`` seconds.

        :return: The agent; None when the supervisor is done but its agent is gone again (died since: another
            supervisor may restart it).
        :raises PyngrokNgrokError: When supervision gives up, is ended by ``kill()``, or the agent is not back
            in time.
        """
        ngrok_path = self.dead.pyngrok_config.ngrok_path
        _process_logger.info("ngrok died and supervision restarts it: waiting for the restart (%s s at most)", timeout)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                with _current_processes_lock:
                    agent = _current_processes.get(ngrok_path)
                if agent is not None and agent.proc.poll() is None:
                    return agent
                if self.ended:
                    if self.ending is None:
                        return None
                    raise PyngrokNgrokError(self.ending)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PyngrokNgrokError(
                        f"ngrok died, and supervision was restarting it, but it was not back within {timeout} "
                        "seconds (startup_timeout)."
                    )
                self.changed.wait(remaining)

    def _recent_restarts(self) -> int:
        config = self.dead.pyngrok_config
        window_start = time.monotonic() - config.restart_window
        with _supervisors_lock:
            recent = [when for when in _restart_times.get(config.ngrok_path, ()) if when > window_start]
            _restart_times[config.ngrok_path] = recent
        return len(recent)

    def _give_up(self) -> None:
        config = self.dead.pyngrok_config
        reason = f"gave up after {config.max_restarts} restarts"
        _process_logger.error("ngrok supervision %s within %g seconds", reason, config.restart_window)
        last = f"; {self.last_failure}" if self.last_failure else "."
        self.ending = f"ngrok died, and supervision {reason} within {config.restart_window:g} seconds{last}"
        self.dead._notify(SESSION_STOPPED, SESSION_STOPPED, reason)

    def _restart(self, attempt: int) -> bool:
        config = self.dead.pyngrok_config
        reason = f"restart {attempt} of {config.max_restarts}"
        _process_logger.warning("ngrok process died; %s", reason)
        self.dead._notify(SESSION_STARTING, SESSION_STOPPED, reason)
        if self.cancelled.is_set():
            return True
        try:
            try:
                fresh = _get_or_start(config, self.cancelled)  # or the agent someone's call started meanwhile
            finally:
                with self.changed:
                    self.changed.notify_all()
            _hand_over_tunnels(self.holder, fresh)
            self.holder = fresh
            reopen_error = _reopen_tunnels(fresh, keep_failed=True)
            if reopen_error is not None:
                raise reopen_error
        except PyngrokError as error:
            if self.cancelled.is_set():
                return True  # kill() ended the restart: nothing failed
            _process_logger.warning("ngrok %s failed: %s", reason, error)
            self.last_failure = f"{reason} failed: {error}"
            self.dead._notify(SESSION_STOPPED, SESSION_STARTING, self.last_failure)
            return False
        _process_logger.info("ngrok restarted (%s) with %s tunnels re-opened", reason, len(fresh._remembered_tunnels()))
        return True


def _supervise(dead: NgrokProcess) -> None:
    ngrok_path = dead.pyngrok_config.ngrok_path
    with _supervisors_lock:
        if ngrok_path in _supervisors:
            return  # restarting this path already: an agent it started that died is its to restart
        if _kill_counts.get(ngrok_path, 0) != dead._kills_before:
            return  # kill() ran since the agent was made: whatever it ended, it ended supervision too
        supervisor = _supervisors[ngrok_path] = _Supervisor(dead)
    supervisor.thread.start()


def _hand_over_tunnels(dead: NgrokProcess, agent: NgrokProcess) -> None:
    """Give the tunnels a dead agent remembers to the agent that replaced it, which re-opens them.

    The dead agent's re-open count changes, so a connect() that it answered but that has not noted its tunnel
    yet opens the tunnel on ``agent`` (see _open_tunnel). A name that ``agent`` has already (opened there by a
    call since) keeps that tunnel.
    """
    if dead is agent:
        return
    with _tunnels_lock:
        dead._begin_reopen()
        dead._successor = agent
        for api_path, options, tunnel in dead._remembered_tunnels():
            dead._forget_tunnel(str(options.get("name")))
            _current_tunnels.pop(str(tunnel.public_url), None)
            if not agent._remembers_tunnel(options.get("name")):
                agent._remember_tunnel(api_path, options, tunnel)


def _reopen_tunnels(agent: NgrokProcess, keep_failed: bool = False) -> Optional[PyngrokError]:
    """Open again every tunnel ``agent`` remembers, keeping the user's tunnel objects: after it restarted in place
    (it comes back with no tunnels), or after supervision started it in place of an agent that died.

    Each is looked for first: a tunnel opened since may be there already. A tunnel that cannot be re-opened is
    logged and skipped, and forgotten unless ``keep_failed`` (supervision, which tries again); the first such
    error is returned.
    """
    with _tunnels_lock:
        reopens = agent._begin_reopen()  # an open whose request is out sees that this re-open lacks it
        opened = agent._remembered_tunnels()
    first_error: Optional[PyngrokError] = None
    for api_path, options, tunnel in opened:
        name = str(options.get("name"))
        if tunnel._disconnected:
            continue  # closed meanwhile by disconnect()
        try:
            _open_tunnel(agent, api_path, options, tunnel, look_first=True)
        except PyngrokError as error:
            _process_logger.warning("Could not re-open tunnel %s after a restart: %s", name, error)
            first_error = first_error or error
            with _tunnels_lock:
                if agent._reopens == reopens:  # else a later re-open has it in hand
                    if _current_tunnels.get(str(tunnel.public_url)) is tunnel:
                        del _current_tunnels[str(tunnel.public_url)]
                    if not keep_failed:
                        agent._forget_tunnel(name)
    return first_error


def _reopen_after_restart_in_place(agent: NgrokProcess) -> None:
    _reopen_tunnels(agent)
    _process_logger.info("ngrok restarted in place; %s tunnels re-opened", len(agent._remembered_tunnels()))


# ======================================================================================================
# Agent inspection: status and captured requests
# ======================================================================================================

_inspection_logger = _logger("pyngrok.agent")


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


def get_requests(
    tunnel_name: Optional[str] = None, pyngrok_config: Optional[PyngrokConfig] = None
) -> List[CapturedRequest]:
    """Get the requests the agent captured, for all tunnels or the given one, newest first.

    :param tunnel_name: Only the requests of this tunnel.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The captured requests.
    """
    pyngrok_config, api_url = _agent_api(pyngrok_config)
    params = {"tunnel_name": tunnel_name} if tunnel_name else None
    answer = api_request(f"{api_url}/api/requests/http", "GET", params=params, timeout=pyngrok_config.request_timeout)
    items = answer.get("requests")
    return [CapturedRequest(item) for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def get_request(request_id: str, pyngrok_config: Optional[PyngrokConfig] = None) -> CapturedRequest:
    """Get one captured request.

    :param request_id: The ID of the request.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :return: The captured request.
    :raises PyngrokNgrokHTTPError: When the agent knows no such request.
    """
    pyngrok_config, api_url = _agent_api(pyngrok_config)
    url = f"{api_url}/api/requests/http/{urllib.parse.quote(request_id, safe='')}"
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
    # The twin is looked up at each call, so a patched ``ngrok.connect`` is what ``aio.connect`` runs.
    name = function.__name__

    @functools.wraps(function)
    async def in_thread(*args: Any, **kwargs: Any) -> Any:
        return await _run_in_thread(globals()[name], *args, **kwargs)

    in_thread.__doc__ = f"Async version of :func:`{function.__name__}`, run in a worker thread.\n\n{function.__doc__}"
    return in_thread


class _TunnelOpening:
    """What ``aio.connect`` returns: a coroutine that opens a tunnel, usable in two ways.

    ``tunnel = await aio.connect(...)`` gives the :class:`NgrokTunnel`, as upstream's coroutine does, and
    ``async with aio.connect(...) as tunnel:`` opens it on entry and closes it on exit. It has the
    coroutine methods (``send``, ``throw``, ``close``, ``__await__``), so ``asyncio.create_task``,
    ``asyncio.run`` and ``asyncio.gather`` take it as a coroutine (``collections.abc.Coroutine`` recognises
    it by those methods).

    :param opening: The coroutine that opens the tunnel.
    """

    __slots__ = ("_opening", "_tunnel")

    def __init__(self, opening: Coroutine[Any, Any, NgrokTunnel]) -> None:
        self._opening = opening
        self._tunnel: Optional[NgrokTunnel] = None

    def __await__(self) -> Generator[Any, None, NgrokTunnel]:
        return self._opening.__await__()

    def send(self, value: Any) -> Any:
        return self._opening.send(value)

    def throw(self, *exc_info: Any) -> Any:
        return self._opening.throw(*exc_info)

    def close(self) -> None:
        self._opening.close()

    async def __aenter__(self) -> NgrokTunnel:
        self._tunnel = await self._opening
        return self._tunnel

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._tunnel is not None:
            await self._tunnel.__aexit__(*exc_info)


def _aio_connect(
    addr: Optional[str] = None,
    proto: Optional[Union[str, int]] = None,
    name: Optional[str] = None,
    pyngrok_config: Optional[PyngrokConfig] = None,
    **options: Any,
) -> _TunnelOpening:
    """Async version of :func:`connect`, run in a worker thread: ``await`` it for the tunnel, or use
    ``async with aio.connect(...) as tunnel:``, which closes the tunnel when the block ends.

    :param addr: The local port, address or ``file://`` URL to forward to (default ``"80"``).
    :param proto: The protocol, ``http`` (default), ``tcp`` or ``tls``.
    :param name: A name for the tunnel, or the name of a definition in the config file.
    :param pyngrok_config: The config to use instead of :func:`get_default`.
    :param options: Further tunnel options for the agent.
    :return: An awaitable that is also an async context manager, giving the :class:`NgrokTunnel`.
    """
    opening: Coroutine[Any, Any, NgrokTunnel] = _run_in_thread(connect, addr, proto, name, pyngrok_config, **options)
    return _TunnelOpening(opening)


def _define_async_functions() -> None:
    """Define ``_aio_<name>`` for each name of ``pyngrok.aio``: done when that submodule is first imported."""
    module_globals = globals()
    for name in _AIO_NAMES:
        if name != "connect":  # _aio_connect is defined above: it also works with ``async with``
            module_globals[f"_aio_{name}"] = _make_async(module_globals[name])


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
                "_print_progress_enabled",
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


# Names each upstream module holds besides its own definitions: what it imports from its siblings and the
# standard library, and its logger. Code written for upstream reaches them (``ngrok.conf``,
# ``process.NgrokLog``, ``installer.urlopen``), and its tests patch them. A value that names a submodule
# (``"conf"``) is that submodule; ``"module:name"`` is a standard-library name, imported on first access.
_TYPING_NAMES = ("Any", "Callable", "Dict", "List", "MutableMapping", "Optional", "Tuple", "Union")
_FACADE_IMPORTS: Dict[str, Dict[str, str]] = {
    "exception": {"re": "re", "NgrokLog": "NgrokLog"},
    "log": {"logging": "logging", "shlex": "shlex"},
    "conf": {
        "os": "os",
        "get_ngrok_bin": "get_ngrok_bin",
        "get_default_ngrok_dir": "get_default_ngrok_dir",
        "NgrokLog": "NgrokLog",
    },
    "installer": {
        **{name: name for name in ("copy", "logging", "os", "platform", "socket", "sys", "tempfile", "threading")},
        **{name: name for name in ("time", "tarfile", "zipfile", "PyngrokError", "PyngrokNgrokInstallError")},
        "PyngrokSecurityError": "PyngrokSecurityError",
        "HTTPStatus": "http:HTTPStatus",
        "URLError": "urllib.error:URLError",
        "logger": "_installer_logger",
        "_config_cache": "_config_cache",
        "_merge_config": "_merge_config",
        "_download_file": "_download_file",
        "urlopen": "_download_urlopen",
    },
    "process": {
        **{name: name for name in ("atexit", "ctypes", "logging", "os", "subprocess", "sys", "threading", "time")},
        **{name: name for name in ("conf", "installer", "PyngrokConfig", "PyngrokError", "PyngrokNgrokError")},
        **{name: name for name in ("PyngrokSecurityError", "SUPPORTED_NGROK_VERSIONS", "NgrokLog")},
        "HTTPStatus": "http:HTTPStatus",
        "HTTPError": "urllib.error:HTTPError",
        "URLError": "urllib.error:URLError",
        "Request": "urllib.request:Request",
        "urlopen": "urllib.request:urlopen",
        "logger": "_process_logger",
        "ngrok_logger": "_agent_logger",
        "_current_processes": "_current_processes",
        "_current_processes_lock": "_current_processes_lock",
        "_start_process": "_start_process",
        "_terminate_process": "_terminate_gracefully",
    },
    "ngrok": {
        **{name: name for name in ("json", "logging", "os", "socket", "sys", "uuid", "__version__", "conf")},
        **{name: name for name in ("installer", "process", "PyngrokConfig", "PyngrokError", "PyngrokNgrokHTTPError")},
        **{name: name for name in ("PyngrokNgrokURLError", "PyngrokSecurityError", "get_default_config")},
        "NgrokProcess": "NgrokProcess",
        "HTTPStatus": "http:HTTPStatus",
        "HTTPError": "urllib.error:HTTPError",
        "URLError": "urllib.error:URLError",
        "urlencode": "urllib.parse:urlencode",
        "urlsplit": "urllib.parse:urlsplit",
        "urlunsplit": "urllib.parse:urlunsplit",
        "Request": "urllib.request:Request",
        "logger": "_api_logger",
        "urlopen": "_api_urlopen",
        "_current_tunnels": "_current_tunnels",
    },
    "agent": {
        **{name: name for name in ("logging", "conf", "PyngrokConfig", "get_ngrok_process", "api_request")},
        "logger": "_inspection_logger",
    },
    "aio": {
        **{name: name for name in ("asyncio", "ngrok", "PyngrokConfig", "NgrokApiResponse", "NgrokTunnel")},
        "NgrokProcess": "NgrokProcess",
    },
}
_FACADE_IMPORTS = {
    short_name: {**names, **{name: f"typing:{name}" for name in _TYPING_NAMES}}
    for short_name, names in _FACADE_IMPORTS.items()
}


def _facade_exports(short_name: str) -> Dict[str, str]:
    """Every name of upstream's ``pyngrok.<short_name>``, mapped to the name of its value in this file.

    A build script can call this at run time: ``{name: _facade_exports(name) for name in _FACADES}``; each
    submodule's ``__all__`` lists its public API: the names upstream's module defines itself.
    """
    return {**_FACADE_IMPORTS.get(short_name, {}), **_FACADES[short_name]}


class _Submodule(types.ModuleType):
    """Upstream's ``pyngrok.ngrok``, ``pyngrok.conf``, ...: a real module whose names are this module's values.

    Each name sits in the submodule's own ``__dict__``, so ``mock.patch``, ``patch.object`` and pytest's
    ``monkeypatch`` find it there and restore it with ``setattr``. A write (and so a patch and its undo)
    reaches this module's global of that name, which the library's code reads, and every other submodule
    that holds the same object under a name for that global: patching ``pyngrok.process.get_process``
    changes what :func:`get_ngrok_process` calls, as it does in upstream's package.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        _rebind(self, name, value)

    def __getattr__(self, name: str) -> Any:
        """A standard-library name (``ngrok.HTTPError``), imported on first access and then kept."""
        target = _facade_exports(self.__name__.rpartition(".")[2]).get(name, "")
        if ":" not in target:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        value = _stdlib_value(target)
        vars(self)[name] = value
        return value


class _Package(types.ModuleType):
    """This module's own type once it is imported: writes to its globals reach the submodules too."""

    def __setattr__(self, name: str, value: Any) -> None:
        _rebind(None, name, value)


_MISSING = object()
# The submodules created so far, by short name; a submodule is created on first import.
_submodules: Dict[str, _Submodule] = {}


def _rebind(submodule: Optional[_Submodule], name: str, value: Any) -> None:
    """Set ``name`` in ``submodule`` (or in this module when None) and in the views that share its value."""
    if type(value) is _LazyLogger and _real_loggers_in_place:
        value = logging.getLogger(value._name)  # a patch of a logger undone after the first log call
    this_globals = globals()
    namespace = this_globals if submodule is None else vars(submodule)
    old = namespace.get(name, _MISSING)
    namespace[name] = value
    if submodule is None:
        target: Optional[str] = name
    else:
        target = _facade_exports(submodule.__name__.rpartition(".")[2]).get(name)
        if target is None or old is _MISSING or this_globals.get(target, _MISSING) is not old:
            return
        this_globals[target] = value
    if old is not _MISSING and target is not None:
        _propagate(target, old, value)


def _propagate(target: str, old: Any, value: Any) -> None:
    """Replace ``old`` by ``value`` in every submodule name that stands for this module's global ``target``."""
    for short_name, view in _submodules.items():
        view_globals = vars(view)
        for view_name, view_target in _facade_exports(short_name).items():
            if view_target == target and view_globals.get(view_name, _MISSING) is old:
                view_globals[view_name] = value


# A forked child rebinds some globals (fresh locks, see _forget_the_parents_agents); the submodules follow.
_globals_at_fork: Dict[str, Any] = {}


def _note_globals_before_fork() -> None:
    _globals_at_fork.clear()
    if _submodules:
        this_globals = globals()
        targets = {target for short_name in _submodules for target in _facade_exports(short_name).values()}
        _globals_at_fork.update((target, this_globals[target]) for target in targets if target in this_globals)


def _follow_globals_after_fork() -> None:
    this_globals = globals()
    for target, old in _globals_at_fork.items():
        if this_globals.get(target, _MISSING) is not old:
            _propagate(target, old, this_globals[target])
    _globals_at_fork.clear()


if hasattr(os, "register_at_fork"):  # registered after _forget_the_parents_agents, so it runs after it
    os.register_at_fork(before=_note_globals_before_fork, after_in_child=_follow_globals_after_fork)


def _submodule(short_name: str) -> types.ModuleType:
    full_name = f"{__name__}.{short_name}"
    __import__(full_name)
    return sys.modules[full_name]


# Hidden from type checkers, which would otherwise take every misspelled ``pyngrok.X`` for a valid name.
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        """``pyngrok.ngrok`` after a bare ``import pyngrok``: the submodules are imported on first use."""
        if name in _FACADES:
            return _submodule(name)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _submodule_all(short_name: str) -> List[str]:
    """The submodule's public API: what upstream's module defines itself (its logger too), not what it imports."""
    own = set(_FACADES[short_name]) | {"logger", "ngrok_logger"} & set(_facade_exports(short_name))
    return sorted(name for name in own if not name.startswith("_"))


def _stdlib_value(target: str) -> Any:
    module_name, _, name = target.partition(":")
    __import__(module_name)
    return getattr(sys.modules[module_name], name)


def _fill_submodule(submodule: types.ModuleType) -> None:
    short_name = submodule.__name__.rpartition(".")[2]
    exports = _facade_exports(short_name)
    if "logging" in sys.modules:
        _use_real_loggers()  # free now: the submodule's logger is a logging.Logger at once, as upstream's is
    if short_name == "aio":
        _define_async_functions()
    this_globals = globals()
    values: Dict[str, Any] = {}
    for name, target in exports.items():
        if target in _FACADES:
            values[name] = _submodule(target)
        elif ":" not in target:
            values[name] = this_globals[target]
        elif target.partition(":")[0] in sys.modules:  # else imported on first access, by _Submodule
            values[name] = _stdlib_value(target)
    values["__all__"] = _submodule_all(short_name)
    vars(submodule).update(values)
    if isinstance(submodule, _Submodule):
        _submodules[short_name] = submodule
    if _real_loggers_in_place:  # put in place by another thread while this one read the stand-ins
        _replace_stand_ins(vars(submodule))


# Run as ``python -m pyngrok.<name>``: the submodule's names, and for ``ngrok`` its command line.
_SUBMODULE_MAIN = "from {package} import _run_submodule\n_run_submodule({short_name!r}, globals())\n"


def _run_submodule(short_name: str, namespace: Dict[str, Any]) -> None:
    names = vars(_submodule(short_name))
    namespace.update({name: value for name, value in names.items() if not name.startswith("__")})
    if short_name == "ngrok" and namespace.get("__name__") == "__main__":
        sys.exit(main())


class _SubmoduleLoader:
    """The finder and loader of the submodules, for the import system, ``importlib`` and ``runpy``.

    This module's ``__path__`` holds one entry, answered by a path hook with this finder, so that
    ``importlib.util.find_spec``, ``importlib.reload``, ``pkgutil.iter_modules`` and ``python -m`` find the
    submodules as they find a package's, also when the file is vendored under another name. Nothing on
    disk is searched, so no stray ``conf.py`` beside the file can shadow a submodule.
    """

    def __init__(self, path_entry: str) -> None:
        self.path_entry = path_entry

    def find_spec(
        self, fullname: str, target: Optional[types.ModuleType] = None
    ) -> Optional[importlib.machinery.ModuleSpec]:
        package, _, short_name = fullname.rpartition(".")
        if package != __name__ or short_name not in _FACADES:
            return None
        # importlib.machinery.ModuleSpec is the class of every module's spec, sys's too: no import of importlib
        module_spec = importlib.machinery.ModuleSpec if TYPE_CHECKING else type(sys.__spec__)
        origin = globals().get("__file__")
        spec = module_spec(fullname, cast("importlib.abc.Loader", self), origin=origin)
        spec.has_location = origin is not None
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _Submodule(spec.name, f"Upstream's ``pyngrok.{spec.name.rpartition('.')[2]}``, a view of {__name__}.")

    def exec_module(self, module: types.ModuleType) -> None:
        _fill_submodule(module)

    def is_package(self, fullname: str) -> bool:
        return False

    def get_source(self, fullname: str) -> str:
        return _SUBMODULE_MAIN.format(package=__name__, short_name=fullname.rpartition(".")[2])

    def get_code(self, fullname: str) -> types.CodeType:
        return compile(self.get_source(fullname), f"<{fullname}>", "exec")

    def iter_modules(self, prefix: str = "") -> Iterator[Tuple[str, bool]]:
        for short_name in sorted(_FACADES):
            yield prefix + short_name, False

    def invalidate_caches(self) -> None:
        pass


def _submodule_path_hook(path_entry: str) -> _SubmoduleLoader:
    if path_entry != _SUBMODULE_LOADER.path_entry:
        raise ImportError("not a pyngrok submodule path")
    return _SUBMODULE_LOADER


def _become_package() -> None:
    """Give this module a ``__path__`` answered by :class:`_SubmoduleLoader`, and its writes' propagation."""
    this_module = sys.modules.get(__name__)
    if this_module is None or vars(this_module) is not globals() or __name__ == "__main__":
        return  # executed outside the import system, or run as a script: no submodules
    this_module.__class__ = _Package
    for hook in list(sys.path_hooks):
        if getattr(hook, "__globals__", None) is globals():
            sys.path_hooks.remove(hook)  # a reload of this module: replace the old hook
    sys.path_hooks.insert(0, _submodule_path_hook)
    sys.path_importer_cache.pop(_SUBMODULE_LOADER.path_entry, None)
    vars(this_module)["__path__"] = [_SUBMODULE_LOADER.path_entry, *getattr(this_module, "__path__", ())]
    for short_name in _FACADES:
        existing = sys.modules.get(f"{__name__}.{short_name}")
        if existing is not None:  # a reload of this module: refresh the submodules already imported
            existing.__class__ = _Submodule
            _fill_submodule(existing)


# One entry per module name, so that two copies of the file (vendored and installed) never share one.
_SUBMODULE_LOADER = _SubmoduleLoader(f"{globals().get('__file__') or '<string>'}#{__name__}")
_become_package()
if "logging" in sys.modules:  # imported by the program already: the real loggers cost nothing now
    _use_real_loggers()

# The one module's public API, as pydoc, ``from pyngrok import *`` and type checkers see it: every name the
# upstream submodules export that has its own name here, and the installer's size limits. A literal list, so
# that pyright can read it; a test keeps it equal to what _FACADES exports.
__all__ = [
    "CDN_URL_PREFIX",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_DOWNLOAD_TIMEOUT",
    "DEFAULT_NGROK_CONFIG_PATH",
    "DEFAULT_NGROK_DIR",
    "DEFAULT_NGROK_PATH",
    "DEFAULT_RETRY_COUNT",
    "MAX_NGROK_BINARY_SIZE",
    "MAX_NGROK_DOWNLOAD_SIZE",
    "PLATFORMS",
    "SESSION_ONLINE",
    "SESSION_RECONNECTING",
    "SESSION_STARTING",
    "SESSION_STOPPED",
    "SUPPORTED_NGROK_VERSIONS",
    "UNIX_BINARIES",
    "CapturedRequest",
    "NgrokAgent",
    "NgrokApiResponse",
    "NgrokLog",
    "NgrokProcess",
    "NgrokSessionEvent",
    "NgrokTunnel",
    "PyngrokConfig",
    "PyngrokConfigError",
    "PyngrokError",
    "PyngrokNgrokError",
    "PyngrokNgrokHTTPError",
    "PyngrokNgrokInstallError",
    "PyngrokNgrokURLError",
    "PyngrokSecurityError",
    "api",
    "api_request",
    "capture_run_process",
    "config_file_lock",
    "connect",
    "connect_all",
    "delete_requests",
    "disconnect",
    "get_agent_status",
    "get_arch",
    "get_config_path",
    "get_default",
    "get_default_config",
    "get_default_ngrok_dir",
    "get_ngrok_bin",
    "get_ngrok_cdn_url",
    "get_ngrok_config",
    "get_ngrok_process",
    "get_process",
    "get_request",
    "get_requests",
    "get_system",
    "get_tunnels",
    "get_version",
    "install_default_config",
    "install_ngrok",
    "is_process_running",
    "kill",
    "kill_process",
    "main",
    "replay_request",
    "run",
    "run_process",
    "set_api_key",
    "set_auth_token",
    "set_default",
    "update",
    "validate_config",
    "wait",
]

# ======================================================================================================
# CLI
# ======================================================================================================


def main() -> int:
    """Run ``ngrok`` with the command line's arguments; the console script exits with the code returned.

    Our own commands come first: ``help`` (also ``-h``, ``--help`` and no arguments) prints the usage with no
    network and no agent, ``install`` installs the agent (for air-gapped sites: ``--archive FILE``, ``--url
    URL``, ``--sha256 HEX``), ``schema`` prints the JSON Schema of the ngrok config file, ``vendor DIR``
    writes this file as a typed package into ``DIR/pyngrok``, and ``version`` prints this library's version
    and, when an agent is installed, the agent's. ``agent ARGS`` runs the agent with exactly ``ARGS``; any
    other command line goes to the agent as it is, installing it first.

    :return: The exit code: ngrok's, or 1 when pyngrok could not run it.
    """
    return _cli(sys.argv[1:])


def _cli_usage() -> str:
    commands = "\n".join(f"  {name:<9} {summary}" for name, (_, summary) in _CLI_COMMANDS.items())
    return f"""\
usage: python -m pyngrok COMMAND [ARGS...]

{__distribution__} {__edition_version__}: pyngrok (API {__version__}) in one file, standard library only.

Commands of this library (no network, no agent needed unless said):
{commands}

Any other command line is the ngrok agent's, installed first if missing:
  python -m pyngrok agent help        the agent's own help
  python -m pyngrok agent ARGS...     run the agent with exactly ARGS
  python -m pyngrok http 8000         e.g. an http tunnel to localhost:8000
  python -m pyngrok help install      the options of `install`

{_wrapped(f"The agent is {get_default().ngrok_path} (PYNGROK_NGROK_PATH). {_OFFLINE_INSTALL_ADVICE}.")}
"""


def _wrapped(paragraph: str) -> str:
    import textwrap

    return textwrap.fill(paragraph, width=100, break_on_hyphens=False, break_long_words=False)


def _cli_help(args: List[str]) -> int:
    if args and args[0] in _CLI_COMMANDS and args[0] != "help":
        return _CLI_COMMANDS[args[0]][0](["--help"])
    if args:
        return _cli_agent(["help", *args])
    sys.stdout.write(_cli_usage())
    return 0


def _cli_schema(args: List[str]) -> int:
    if args:
        sys.stdout.write("usage: python -m pyngrok schema\n\nPrint the JSON Schema of the ngrok config file.\n")
        return 0 if args in (["-h"], ["--help"]) else 2
    sys.stdout.write(_config_schema_json())
    return 0


def _cli_version(args: List[str]) -> int:
    if args:
        sys.stdout.write("usage: python -m pyngrok version\n\nPrint this library's version and the agent's.\n")
        return 0 if args in (["-h"], ["--help"]) else 2
    ngrok_path = get_default().ngrok_path
    if os.path.exists(ngrok_path):
        exit_code = run_process(ngrok_path, ["version"])
    else:
        exit_code = 0
        print(_wrapped(f"ngrok agent: not installed at {ngrok_path}. {_OFFLINE_INSTALL_ADVICE}."))
    print(f"pyngrok version {__version__}")
    print(f"{__distribution__} {__edition_version__} ({__edition__} edition, pyngrok API {__version__})")
    return exit_code


def _cli_agent(args: List[str]) -> int:
    try:
        return run(args)
    except PyngrokError as error:
        sys.stderr.write(f"pyngrok: {error}\n")
        return 1


def _cli(args: List[str]) -> int:
    command = _CLI_ALIASES.get(args[0], args[0]) if args else "help"
    if command in _CLI_COMMANDS:
        return _CLI_COMMANDS[command][0](args[1:])
    return _cli_agent(args)


# --- ``python -m pyngrok vendor DIR``: the typed package form ------------------------------------------
# Type checkers read a module's names from its source, and the submodules exist only at run time, so the
# wheel (setup.py's build hook) and the ``vendor`` command install this file as ``pyngrok/__init__.py``
# beside ``py.typed`` and one stub per upstream submodule. Each stub re-exports the submodule's names from
# ``__init__.py``, under the name this file gives the same object (``process.set_auth_token`` is
# ``_process_set_auth_token`` here); a function that only exists at run time (the ``aio`` ones) gets a
# signature read from the function itself.

_PACKAGE_FORM_SUBMODULES = ("agent", "aio", "conf", "exception", "installer", "log", "ngrok", "process")

_PACKAGE_FORM_MAIN = '"""``python -m pyngrok``: the CLI."""\n\nimport sys\n\nfrom . import main\n\nsys.exit(main())\n'

# Beside each stub, a source file that the import system never reaches (importing ``pyngrok`` makes the
# submodules first), so that pyright and IDEs, which look for a module's source, find one and do not warn.
_PACKAGE_FORM_SUBMODULE_SOURCE = (
    '"""Made by ``__init__.py`` as ``pyngrok.{name}``, typed by ``{name}.pyi``: tools look for this file."""\n\n'
    'raise ImportError("pyngrok.{name} is made by pyngrok/__init__.py: import it as pyngrok.{name}")\n'
)


def _vendor_cli(args: List[str]) -> int:
    """Run ``python -m pyngrok vendor DIR``: write the typed package form into ``DIR/pyngrok``.

    :param args: The arguments after ``vendor``.
    :return: The exit code: 0 when written, 1 when it could not be written, 2 on a usage error.
    """
    parser = argparse.ArgumentParser(
        prog="python -m pyngrok vendor",
        description="Write this file as a typed package DIR/pyngrok (__init__.py, py.typed, a .pyi stub per "
        "submodule), so mypy and pyright see pyngrok.ngrok, pyngrok.conf, ... with their types.",
    )
    parser.add_argument("directory", metavar="DIR", help="the directory to write the pyngrok package into")
    try:
        namespace = parser.parse_args(args)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 2
    try:
        package = _write_package_form(namespace.directory)
    except PyngrokError as e:
        sys.stderr.write(f"pyngrok vendor: error: {e}\n")
        return 1
    print(f"Wrote pyngrok {__version__} as a typed package: {package}")
    return 0


def _write_package_form(directory: str) -> str:
    """Write this module as the typed package ``directory/pyngrok``, replacing one written before in one step.

    :param directory: The directory to write the package into; created if missing.
    :return: The package's path.
    :raises PyngrokError: When a file cannot be read or written, or ``directory/pyngrok`` is something else.
    """
    files = _package_form_files()
    package = os.path.join(directory, "pyngrok")
    if os.path.lexists(package) and not os.path.isfile(os.path.join(package, "py.typed")):
        raise PyngrokError(f"Not replacing {package}: it is not a package written by 'pyngrok vendor'")
    staging = os.path.join(directory, f".pyngrok.{uuid.uuid4().hex}.tmp")
    retired = f"{staging}.old"
    try:
        os.makedirs(staging)
        for name, text in files.items():
            with open(os.path.join(staging, name), "w", encoding="utf-8", newline="\n") as file:
                file.write(text)
        if os.path.lexists(package):
            os.replace(package, retired)
        os.replace(staging, package)
    except OSError as e:
        raise PyngrokError(f"Could not write the package form to {package}: {e}") from e
    finally:
        import shutil

        for leftover in (staging, retired):
            shutil.rmtree(leftover, ignore_errors=True)
    return package


def _package_form_files() -> Dict[str, str]:
    """The package form's files by name: this file's source, the marker, ``__main__`` and the stubs."""
    source_path = globals().get("__file__")
    if not source_path:
        raise PyngrokError(f"{__name__} has no source file to write as a package")
    try:
        with open(source_path, encoding="utf-8") as source_file:
            source = source_file.read()
    except OSError as e:
        raise PyngrokError(f"Could not read {source_path}: {e}") from e
    module = sys.modules[__name__]
    if __name__ == "__main__":  # run as a script: the submodules exist only in a copy imported under a name
        import importlib.machinery
        import importlib.util

        loader = importlib.machinery.SourceFileLoader("_pyngrok_vendor_source", source_path)
        spec = importlib.util.spec_from_loader(loader.name, loader)
        if spec is None:
            raise PyngrokError(f"Could not import {source_path}")
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
    defined, imports = _names_type_checkers_see(source)
    files = {"__init__.py": source, "py.typed": "", "__main__.py": _PACKAGE_FORM_MAIN}
    for short_name in _PACKAGE_FORM_SUBMODULES:
        submodule = getattr(module, short_name)
        files[f"{short_name}.pyi"] = _submodule_stub(module, submodule, defined, imports)
        files[f"{short_name}.py"] = _PACKAGE_FORM_SUBMODULE_SOURCE.format(name=short_name)
    return files


def _names_type_checkers_see(source: str) -> Tuple[Set[str], Dict[str, str]]:
    """The top-level names of a module's source as a type checker sees them (``TYPE_CHECKING`` true).

    :param source: The module's source.
    :return: The names the module defines, and the names it imports, each with the statement that imports it.
    """
    import ast

    defined: Set[str] = set()
    imports: Dict[str, str] = {}

    def is_type_checking(test: ast.expr) -> bool:
        return isinstance(test, ast.Name) and test.id == "TYPE_CHECKING"

    def visit(statements: List[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                defined.update(target.id for target in targets if isinstance(target, ast.Name))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    name = alias.asname or alias.name.split(".")[0]
                    imports[name] = f"import {alias.name}" + (f" as {alias.asname}" if alias.asname else "")
            elif isinstance(node, ast.ImportFrom) and not node.level:
                for alias in node.names:
                    as_clause = f" as {alias.asname}" if alias.asname else ""
                    imports[alias.asname or alias.name] = f"from {node.module} import {alias.name}{as_clause}"
            elif isinstance(node, ast.If):
                negated = isinstance(node.test, ast.UnaryOp) and isinstance(node.test.op, ast.Not)
                if not (negated and is_type_checking(getattr(node.test, "operand", node.test))):
                    visit(node.body)
                if not is_type_checking(node.test):
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(block)

    visit(ast.parse(source).body)
    return defined - set(imports), imports


def _submodule_stub(
    module: types.ModuleType, submodule: types.ModuleType, defined: Set[str], imports: Dict[str, str]
) -> str:
    """The ``.pyi`` stub of one submodule: each of its names typed by what this module's source says of it.

    Its public API (``__all__``) and the private names that are this module's objects are re-exported. The
    sibling submodules and this module's objects that upstream's module imports (``ngrok.PyngrokConfig``) are
    imported, not re-exported, so checkers treat them as they treat upstream's. The standard-library modules
    and names that upstream's module imports are left out.

    :param module: This module.
    :param submodule: The submodule (``pyngrok.conf``).
    :param defined: The names this module's source defines, as type checkers see them.
    :param imports: The names it imports, with the statement that imports each.
    :return: The stub's text.
    """
    import inspect

    public = set(getattr(submodule, "__all__", ()))
    own = vars(module)
    by_identity = {id(value): name for name, value in sorted(own.items(), reverse=True) if name in defined}
    header: Set[str] = set()
    lines: List[str] = []
    for name in sorted(public | {name for name in dir(submodule) if not name.startswith("__")}):
        value = getattr(submodule, name)
        if isinstance(value, types.ModuleType):
            if value.__name__.startswith(f"{module.__name__}."):
                header.add(f"from . import {value.__name__.rpartition('.')[2]}")
            continue
        source_name = name if own.get(name, lines) is value and name in defined else None
        if source_name is None and not isinstance(value, (int, float, str, bytes, type(None))):
            source_name = by_identity.get(id(value))
        if name not in public and not name.startswith("_"):  # what upstream's module imports: there, not exported
            if source_name is not None:
                header.add(f"from . import {source_name}" + (f" as {name}" if source_name != name else ""))
            continue
        if source_name == name:
            lines.append(f"from . import {name} as {name}")
        elif source_name is not None:  # only ``import X as X`` re-exports, so another name is bound by assignment
            header.add(f"from . import {source_name}")
            lines.append(f"{name} = {source_name}")
        elif inspect.isfunction(value) and value.__module__ == module.__name__:
            lines.append(_stub_signature(name, value, header, defined, imports))
        elif not name.startswith("_"):
            lines.append(f"{name}: {_stub_type_of(value, header)}")
    short_name = submodule.__name__.rsplit(".", 1)[-1]
    title = f'"""Types of ``pyngrok.{short_name}``: its names, as ``__init__.py`` defines them."""'
    generated = f"# Generated from pyngrok {__version__} by `python -m pyngrok vendor`; edits are overwritten."
    header -= {line.rpartition(" as ")[0] for line in lines if line.startswith("from . import ")}  # bound already
    imports_block = [*sorted(header), ""] if header else []
    return "\n".join([title, "", generated, "", *imports_block, *lines, ""])


def _stub_type_of(value: Any, header: Set[str]) -> str:
    """The type a stub declares for a value it cannot trace to a definition: its class, ``Any`` if generic."""
    kind = type(value)
    if hasattr(kind, "__class_getitem__"):
        header.add("from typing import Any")
        return "Any"
    if kind.__module__ == "builtins":
        return kind.__qualname__
    header.add(f"import {kind.__module__}")
    return f"{kind.__module__}.{kind.__qualname__}"


class _SourceText:
    """Text that ``inspect`` prints as is: an annotation's source, or ``...`` for a default."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _stub_signature(
    name: str, function: Callable[..., Any], header: Set[str], defined: Set[str], imports: Dict[str, str]
) -> str:
    """A stub's ``def`` for a function that exists only at run time, with the imports its annotations need.

    :param name: The name the stub gives it.
    :param function: The function (for an ``aio`` one, its ``__wrapped__`` blocking twin has the annotations).
    :param header: The stub's imports; those the annotations need are added.
    :param defined: The names this module's source defines.
    :param imports: The names it imports, with the statement that imports each.
    :return: The ``def`` line.
    """
    import ast
    import inspect

    def source_of(annotation: Any) -> _SourceText:
        text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
        for node in ast.walk(ast.parse(text, mode="eval")):
            if isinstance(node, ast.Name) and node.id in defined:
                header.add(f"from . import {node.id}")
            elif isinstance(node, ast.Name) and node.id in imports:
                header.add(imports[node.id])
        return _SourceText(text)

    signature = inspect.signature(function)
    parameters = [
        parameter.replace(
            annotation=parameter.empty if parameter.annotation is parameter.empty else source_of(parameter.annotation),
            default=parameter.empty if parameter.default is parameter.empty else _SourceText("..."),
        )
        for parameter in signature.parameters.values()
    ]
    returns = signature.return_annotation
    stub = signature.replace(
        parameters=parameters, return_annotation=returns if returns is signature.empty else source_of(returns)
    )
    keyword = "async def" if inspect.iscoroutinefunction(function) else "def"
    return f"{keyword} {name}{stub}: ..."


# Our own commands, in the order the usage lists them; any other command line is the agent's.
_CLI_COMMANDS: Dict[str, Tuple[Callable[[List[str]], int], str]] = {
    "help": (_cli_help, "this help; `help COMMAND` for a command's options"),
    "install": (_installer_cli, "install the agent: download, or --archive FILE with no network"),
    "schema": (_cli_schema, "print the JSON Schema of the ngrok config file"),
    "vendor": (_vendor_cli, "write this file as a typed package DIR/pyngrok (py.typed, stubs)"),
    "version": (_cli_version, "print this library's version and the installed agent's"),
    "agent": (_cli_agent, "run the agent with the rest of the command line, as it is"),
}
_CLI_ALIASES = {"-h": "help", "--help": "help", "-v": "version", "--version": "version"}


if __name__ == "__main__":
    sys.exit(main())
