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
#
# The reader follows the YAML 1.1 scanning and parsing rules as PyYAML applies them (so a config means the same
# thing to us as to upstream), and resolves plain scalars with the same null/bool/int/float/timestamp rules as
# ``yaml.safe_load``. Tokens are found with regular expressions over the whole text rather than one character at
# a time, and values are built straight from the tokens, without events or nodes in between.
#
# Not supported, each reported as a PyngrokConfigError at its position: more than one document, complex keys
# (``?`` and collections as keys), ``%TAG`` directives, tags other than the standard scalar and collection ones,
# recursive aliases, and the line breaks U+0085, U+2028 and U+2029.

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
_YT_VALUE = "':'"
_YT_ALIAS = "an alias"
_YT_ANCHOR = "an anchor"
_YT_TAG = "a tag"
_YT_SCALAR = "a scalar"

# (kind, value, line, column, style): line and column are 0-based; style is the quote or block indicator of a
# scalar, None for a plain one.
_YamlToken = Tuple[str, Any, int, int, Optional[str]]

_YAML_BLANK = "\0 \t\n"
_YAML_INDICATORS = "\0 \t\n-?:,[]{}#&*!|>'\"%@`"
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
# line breaks U+0085, U+2028, U+2029 and a byte order mark after the start.
_YAML_NOT_PRINTABLE = re.compile("[^\t\n\r -~\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_YAML_NOT_ACCEPTED = re.compile("[^\t\n\r -~\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")
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
_YAML_HEX = re.compile(r"[0-9A-Fa-f]*")

_YAML_TAG_PREFIX = "tag:yaml.org,2002:"
_YAML_STR = _YAML_TAG_PREFIX + "str"
_YAML_MAP = _YAML_TAG_PREFIX + "map"
_YAML_SEQ = _YAML_TAG_PREFIX + "seq"
_YAML_STANDARD_TAGS = ("str", "int", "float", "bool", "null", "binary", "timestamp", "map", "seq")
_YAML_SCALAR_TAGS = frozenset(_YAML_TAG_PREFIX + name for name in _YAML_STANDARD_TAGS[:-2])


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


def _yaml_end(pattern: re.Pattern[str], text: str, pos: int) -> int:
    """Where a pattern that may match the empty string stops matching at ``pos``."""
    match = pattern.match(text, pos)
    return match.end() if match else pos


def _yaml_error(path: str, what: str, line: int, column: int) -> PyngrokConfigError:
    """Make the error for a problem at a 0-based line and column of a YAML text."""
    return PyngrokConfigError(f"{path}:{line + 1}:{column + 1}: {what}", path=path, line=line + 1, column=column + 1)


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
        # Flow level -> (token index, required, position, line, column) of a token that may turn out to be a key.
        self.simple_keys: Dict[int, Tuple[int, bool, int, int, int]] = {}
        self.tokens: List[_YamlToken] = []

    def error(self, what: str, line: Optional[int] = None, column: Optional[int] = None) -> PyngrokConfigError:
        if line is None or column is None:
            line, column = self.line, self.pos - self.line_start
        return _yaml_error(self.path, what, line, column)

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
                self.tokens.append((_YT_STREAM_END, None, self.line, column, None))
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
                self.tokens.append((kind, None, self.line, column, None))
                self.pos += 3
            elif ch == "[" or ch == "{":
                self.fetch_flow_start(_YT_FLOW_SEQUENCE_START if ch == "[" else _YT_FLOW_MAPPING_START, column)
            elif ch == "]" or ch == "}":
                self.fetch_flow_end(_YT_FLOW_SEQUENCE_END if ch == "]" else _YT_FLOW_MAPPING_END, column)
            elif ch == ",":
                self.allow_simple_key = True
                self.remove_simple_key()
                self.tokens.append((_YT_FLOW_ENTRY, None, self.line, column, None))
                self.pos += 1
            elif ch == "-" and text[self.pos + 1] in _YAML_BLANK:
                self.fetch_block_entry(column)
            elif ch == "?" and (self.flow_level or text[self.pos + 1] in _YAML_BLANK):
                raise self.error("complex keys ('?') are not supported")
            elif ch == "*" or ch == "&":
                self.save_simple_key(column)
                self.allow_simple_key = False
                self.fetch_anchor(ch, column)
            elif ch == "!":
                self.save_simple_key(column)
                self.allow_simple_key = False
                self.fetch_tag(column)
            elif (ch == "|" or ch == ">") and not self.flow_level:
                self.allow_simple_key = True
                self.remove_simple_key()
                self.fetch_block_scalar(ch, column)
            elif ch == "'" or ch == '"':
                self.save_simple_key(column)
                self.allow_simple_key = False
                self.fetch_quoted(ch, column)
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
        for level, (_, required, pos, line, column) in list(self.simple_keys.items()):
            if line != self.line or self.pos - pos > _YAML_MAX_KEY_LENGTH:
                if required:
                    raise self.error("could not find the ':' of this key on its line", line, column)
                del self.simple_keys[level]

    def save_simple_key(self, column: int) -> None:
        if self.allow_simple_key:
            required = not self.flow_level and self.indent == column
            self.remove_simple_key()
            self.simple_keys[self.flow_level] = (len(self.tokens), required, self.pos, self.line, column)

    def remove_simple_key(self) -> None:
        key = self.simple_keys.pop(self.flow_level, None)
        if key is not None and key[1]:
            raise self.error("could not find the ':' of this key on its line", key[3], key[4])

    def unwind_indent(self, column: int) -> None:
        # Indentation does not count inside flow collections (PyYAML is lenient there, and so are we).
        if self.flow_level:
            return
        while self.indent > column:
            self.indent = self.indents.pop()
            self.tokens.append((_YT_BLOCK_END, None, self.line, self.pos - self.line_start, None))

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
        text, line, column = self.text, self.line, 0
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
            raise self.error("%TAG directives are not supported", line, column)
        else:
            self.pos = _yaml_end(_YAML_REST_OF_LINE, text, self.pos)
        self.pos = _yaml_end(_YAML_SPACES, text, self.pos)
        if text[self.pos] == "#":
            self.pos = _yaml_end(_YAML_REST_OF_LINE, text, self.pos)
        if text[self.pos] not in "\0\n":
            raise self.error(f"expected a comment or a line break, but found {_yaml_describe(text[self.pos])}")
        self.tokens.append((_YT_DIRECTIVE, (name, value), line, column, None))

    def fetch_flow_start(self, kind: str, column: int) -> None:
        self.save_simple_key(column)
        self.flow_level += 1
        self.allow_simple_key = True
        self.tokens.append((kind, None, self.line, column, None))
        self.pos += 1

    def fetch_flow_end(self, kind: str, column: int) -> None:
        if not self.flow_level:
            raise self.error(f"found {kind} outside of a flow collection")
        self.remove_simple_key()
        self.flow_level -= 1
        self.allow_simple_key = False
        self.tokens.append((kind, None, self.line, column, None))
        self.pos += 1

    def fetch_block_entry(self, column: int) -> None:
        if not self.flow_level:
            if not self.allow_simple_key:
                raise self.error("a sequence entry ('-') is not allowed here")
            if self.add_indent(column):
                self.tokens.append((_YT_BLOCK_SEQUENCE_START, None, self.line, column, None))
        self.allow_simple_key = True
        self.remove_simple_key()
        self.tokens.append((_YT_BLOCK_ENTRY, None, self.line, column, None))
        self.pos += 1

    def fetch_value(self, column: int) -> None:
        key = self.simple_keys.pop(self.flow_level, None)
        if key is not None:
            index, _, _, key_line, key_column = key
            self.tokens.insert(index, (_YT_KEY, None, key_line, key_column, None))
            if not self.flow_level and self.add_indent(key_column):
                self.tokens.insert(index, (_YT_BLOCK_MAPPING_START, None, key_line, key_column, None))
            self.allow_simple_key = False
        else:
            if not self.flow_level:
                if not self.allow_simple_key:
                    raise self.error("a mapping value (': ') is not allowed here")
                if self.add_indent(column):
                    self.tokens.append((_YT_BLOCK_MAPPING_START, None, self.line, column, None))
            self.allow_simple_key = not self.flow_level
            self.remove_simple_key()
        self.tokens.append((_YT_VALUE, None, self.line, column, None))
        self.pos += 1

    def fetch_anchor(self, indicator: str, column: int) -> None:
        text = self.text
        match = _YAML_ANCHOR_NAME.match(text, self.pos + 1)
        end = match.end() if match else self.pos + 1
        if not match or text[end] not in "\0 \t\n?:,]}%@`":
            self.pos = end
            what = "an alias" if indicator == "*" else "an anchor"
            raise self.error(f"expected a letter, digit, '-' or '_' in {what}, but found {_yaml_describe(text[end])}")
        kind = _YT_ALIAS if indicator == "*" else _YT_ANCHOR
        self.tokens.append((kind, match.group(), self.line, column, None))
        self.pos = end

    def fetch_tag(self, column: int) -> None:
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
        self.tokens.append((_YT_TAG, (handle, suffix), self.line, column, None))

    def scan_tag_uri(self) -> str:
        match = _YAML_TAG_URI.match(self.text, self.pos)
        if not match:
            raise self.error(f"expected a tag, but found {_yaml_describe(self.text[self.pos])}")
        self.pos = match.end()
        uri = match.group()
        if "%" not in uri:
            return uri
        parts = uri.split("%")
        data = bytearray(parts[0].encode("utf-8"))
        for part in parts[1:]:
            if len(part) < 2 or not all(c in "0123456789ABCDEFabcdef" for c in part[:2]):
                raise self.error("expected a URI escape sequence of 2 hexadecimal digits in the tag")
            data.append(int(part[:2], 16))
            data.extend(part[2:].encode("utf-8"))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("the tag's URI escape sequences are not valid UTF-8") from None

    # --- Scalars ---

    def fetch_plain(self, column: int) -> None:
        text = self.text
        line = self.line
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
            # A one-line key followed by ':', the most common token of a config: the tokens the simple-key
            # machinery would produce, without it.
            if self.add_indent(column):
                self.tokens.append((_YT_BLOCK_MAPPING_START, None, line, column, None))
            self.tokens.append((_YT_KEY, None, line, column, None))
            self.tokens.append((_YT_SCALAR, first.group(), line, column, None))
            self.pos = first.end()
            self.tokens.append((_YT_VALUE, None, line, self.pos - self.line_start, None))
            self.pos += 1
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
                self.tokens.append((_YT_SCALAR, first.group(), line, column, None))
                return
            if ch == "\n" and not flow:
                run_end = _yaml_end(_YAML_SPACES_AND_BREAKS, text, end)
                line_start = text.rfind("\n", end, run_end) + 1
                if text[run_end] in "#\0" or run_end - line_start <= self.indent:
                    self.allow_simple_key = True
                    self.consume_breaks(end, run_end)
                    self.tokens.append((_YT_SCALAR, first.group(), line, column, None))
                    return
        indent = self.indent + 1
        chunks: List[str] = []
        spaces = ""
        while text[self.pos] != "#":
            match = chunk_re.match(text, self.pos)
            if not match:
                break
            self.allow_simple_key = False
            if spaces:
                chunks.append(spaces)
            chunks.append(match.group())
            self.pos = match.end()
            spaces = self.scan_plain_spaces()
            if not spaces or text[self.pos] == "#" or (not flow and self.pos - self.line_start < indent):
                break
        self.tokens.append((_YT_SCALAR, "".join(chunks), line, column, None))

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

    def fetch_quoted(self, mark: str, column: int) -> None:
        text = self.text
        line = self.line
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
                self.scan_escape(chunks, line, column)
            else:
                self.scan_quoted_spaces(chunks, line, column)
        self.tokens.append((_YT_SCALAR, "".join(chunks), line, column, mark))

    def scan_escape(self, chunks: List[str], line: int, column: int) -> None:
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
            chunks.append(chr(code))
            self.pos += length
        elif ch == "\n":
            self.consume_breaks(self.pos - 1, self.pos)
            chunks.append(self.scan_quoted_breaks(line, column))
        else:
            self.pos -= 1
            raise self.error(f"found unknown escape character {_yaml_describe(ch)}")

    def scan_quoted_spaces(self, chunks: List[str], line: int, column: int) -> None:
        text = self.text
        start = self.pos
        end = _yaml_end(_YAML_WHITESPACE, text, start)
        ch = text[end]
        if ch == "\0":
            self.pos = end
            raise self.error("found the end of the file inside a quoted scalar that starts here", line, column)
        if ch == "\n":
            self.consume_breaks(start, end + 1)
            breaks = self.scan_quoted_breaks(line, column)
            chunks.append(breaks or " ")
        else:
            chunks.append(text[start:end])
            self.pos = end

    def scan_quoted_breaks(self, line: int, column: int) -> str:
        """Consume the empty lines and indentation that continue a quoted scalar; return the kept breaks."""
        text = self.text
        breaks = 0
        while True:
            if text[self.pos : self.pos + 3] in ("---", "...") and text[self.pos + 3] in _YAML_BLANK:
                raise self.error("found a document marker inside a quoted scalar that starts here", line, column)
            self.pos = _yaml_end(_YAML_WHITESPACE, text, self.pos)
            if text[self.pos] != "\n":
                return "\n" * breaks
            self.consume_breaks(self.pos, self.pos + 1)
            breaks += 1

    def fetch_block_scalar(self, style: str, column: int) -> None:
        text = self.text
        line = self.line
        folded = style == ">"
        self.pos += 1
        chomping, increment = self.scan_block_scalar_header()
        min_indent = max(self.indent + 1, 1)
        if increment is None:
            # Without an indentation indicator, the deepest of the leading space-only lines sets the indentation
            # (the last of them holds the indentation of the first non-empty line).
            start = self.pos
            end = _yaml_end(_YAML_SPACES_AND_BREAKS, text, start)
            max_indent = max(len(spaces) for spaces in text[start:end].split("\n"))
            breaks = "\n" * self.consume_breaks(start, end)
            indent = max(min_indent, max_indent)
        else:
            indent = min_indent + increment - 1
            breaks = self.scan_block_scalar_breaks(indent)
        chunks: List[str] = []
        line_break = ""
        while self.pos - self.line_start == indent and text[self.pos] != "\0":
            chunks.append(breaks)
            leading_non_space = text[self.pos] not in " \t"
            end = _yaml_end(_YAML_REST_OF_LINE, text, self.pos)
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
        self.tokens.append((_YT_SCALAR, "".join(chunks), line, column, style))

    def scan_block_scalar_header(self) -> Tuple[Optional[bool], Optional[int]]:
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
        if text[self.pos] == "\n":
            self.consume_breaks(self.pos, self.pos + 1)
        return chomping, increment

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


class _YamlParser:
    """Build Python values from the tokens of one YAML document, as ``yaml.safe_load`` would.

    :param key_lines: If not None, filled with the 0-based line of each key of each mapping (by ``id`` of the
        dict) and of each item of each list (by ``id`` of the list).
    """

    def __init__(self, tokens: List[_YamlToken], path: str, key_lines: Optional[Dict[int, Dict[Any, int]]]) -> None:
        self.tokens = tokens
        self.index = 0
        self.path = path
        self.anchors: Dict[str, Any] = {}
        self.depth = 0
        self.key_lines = key_lines

    def error(self, what: str, token: _YamlToken) -> PyngrokConfigError:
        return _yaml_error(self.path, what, token[2], token[3])

    def unexpected(self, expected: str) -> PyngrokConfigError:
        token = self.tokens[self.index]
        return self.error(f"expected {expected}, but found {self.describe(token)}", token)

    @staticmethod
    def describe(token: _YamlToken) -> str:
        if token[0] is _YT_SCALAR:
            text = token[1] if len(token[1]) <= 40 else token[1][:37] + "..."
            return f"the scalar {text!r}"
        if token[0] is _YT_ALIAS:
            return f"the alias *{token[1]}"
        if token[0] is _YT_ANCHOR:
            return f"the anchor &{token[1]}"
        return token[0]

    # --- Stream and document ---

    def parse_stream(self) -> Any:
        tokens = self.tokens
        kind = tokens[0][0]
        value: Any = None
        if kind is not _YT_DIRECTIVE and kind is not _YT_DOCUMENT_START and kind is not _YT_STREAM_END:
            value = self.parse_node(block=True)
        else:
            while tokens[self.index][0] is _YT_DOCUMENT_END:
                self.index += 1
            if tokens[self.index][0] is not _YT_STREAM_END:
                self.parse_directives()
                if tokens[self.index][0] is not _YT_DOCUMENT_START:
                    raise self.unexpected("'---' after the directives")
                self.index += 1
                kind = tokens[self.index][0]
                if kind not in (_YT_DIRECTIVE, _YT_DOCUMENT_START, _YT_DOCUMENT_END, _YT_STREAM_END):
                    value = self.parse_node(block=True)
        while tokens[self.index][0] is _YT_DOCUMENT_END:
            self.index += 1
        token = tokens[self.index]
        if token[0] is _YT_DIRECTIVE or token[0] is _YT_DOCUMENT_START:
            raise self.error("found a second document; only one document per file is supported", token)
        if token[0] is not _YT_STREAM_END:
            raise self.unexpected("the end of the document")
        return value

    def parse_directives(self) -> None:
        seen_yaml = False
        while self.tokens[self.index][0] is _YT_DIRECTIVE:
            token = self.tokens[self.index]
            name, version = token[1]
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
        kind = token[0]
        if kind is _YT_SCALAR:
            # The common case first: a scalar without properties.
            self.index += 1
            if token[4] is None:
                value = _YAML_WORDS.get(token[1], token) if len(token[1]) < 6 else token
                if value is token:
                    return _yaml_resolve_plain(token[1], self, token)
                if value is _YAML_MERGE:
                    return self.merge_key(token, is_key)
                return value
            return token[1]
        if kind is _YT_ALIAS:
            self.index += 1
            value = self.anchors.get(token[1], _YAML_MERGE)
            if value is _YAML_MERGE:
                raise self.error(f"found the alias *{token[1]}, but no anchor &{token[1]} before it", token)
            if value is _YAML_IN_PROGRESS:
                raise self.error(
                    f"the alias *{token[1]} is inside its own anchor; recursive values are not supported", token
                )
            return value
        anchor: Optional[str] = None
        tag: Optional[str] = None
        start = token
        if kind is _YT_ANCHOR:
            anchor = token[1]
            self.index += 1
            if tokens[self.index][0] is _YT_TAG:
                tag = self.resolve_tag(tokens[self.index])
                self.index += 1
        elif kind is _YT_TAG:
            tag = self.resolve_tag(token)
            self.index += 1
            if tokens[self.index][0] is _YT_ANCHOR:
                anchor = tokens[self.index][1]
                self.index += 1
        if anchor is not None:
            if anchor in self.anchors:
                raise self.error(f"found a second anchor &{anchor}; anchor names must be unique", start)
            self.anchors[anchor] = _YAML_IN_PROGRESS
        token = tokens[self.index]
        kind = token[0]
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
            value = self.construct_scalar((_YT_SCALAR, "", start[2], start[3], None), tag, True, start)
        else:
            raise self.unexpected("a value")
        if anchor is not None:
            self.anchors[anchor] = value
        return value

    def merge_key(self, token: _YamlToken, is_key: bool) -> Any:
        if not is_key:
            raise self.error(f"found {token[1]!r}, which is only allowed as a key; quote it to make it a string", token)
        return _YAML_MERGE if token[1] == "<<" else "="

    def resolve_tag(self, token: _YamlToken) -> str:
        handle: Optional[str] = token[1][0]
        suffix: str = token[1][1]
        if handle is None:
            return suffix
        if handle == "!!":
            return _YAML_TAG_PREFIX + suffix
        if handle == "!":
            return "!" + suffix
        raise self.error(f"found the undefined tag handle {handle}", token)

    def construct_scalar(self, token: _YamlToken, tag: Optional[str], is_key: bool, start: _YamlToken) -> Any:
        text = token[1]
        if (tag is None and token[4] is not None) or tag == _YAML_STR:
            return text
        if tag is None or tag == "!":
            # PyYAML resolves a scalar with the non-specific tag "!" as if it were plain, even a quoted one.
            value = _YAML_WORDS.get(text, token)
            if value is token:
                return _yaml_resolve_plain(text, self, token)
            if value is _YAML_MERGE:
                if start is not token:
                    raise self.error(f"an anchor or a tag on {text!r} is not supported", start)
                return self.merge_key(token, is_key)
            return value
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
        lines = self.line_marks(items)
        while tokens[self.index][0] is _YT_BLOCK_ENTRY:
            entry = tokens[self.index]
            self.index += 1
            if lines is not None:
                lines[len(items)] = entry[2]
            kind = tokens[self.index][0]
            if kind is _YT_BLOCK_ENTRY or kind is _YT_BLOCK_END:
                items.append(None)
            else:
                items.append(self.parse_node(block=True))
        if tokens[self.index][0] is not _YT_BLOCK_END:
            raise self.unexpected("another '-' item of this sequence, or its end")
        self.index += 1
        self.depth -= 1
        return items

    def parse_indentless_sequence(self) -> List[Any]:
        tokens = self.tokens
        self.enter(tokens[self.index])
        items: List[Any] = []
        lines = self.line_marks(items)
        while tokens[self.index][0] is _YT_BLOCK_ENTRY:
            entry = tokens[self.index]
            self.index += 1
            if lines is not None:
                lines[len(items)] = entry[2]
            kind = tokens[self.index][0]
            if kind in (_YT_BLOCK_ENTRY, _YT_KEY, _YT_VALUE, _YT_BLOCK_END):
                items.append(None)
            else:
                items.append(self.parse_node(block=True))
        self.depth -= 1
        return items

    def parse_block_mapping(self) -> Dict[Any, Any]:
        tokens = self.tokens
        self.enter(tokens[self.index])
        self.index += 1
        mapping: Dict[Any, Any] = {}
        merges: List[Any] = []
        lines = self.line_marks(mapping)
        while tokens[self.index][0] is _YT_KEY:
            key_token = tokens[self.index]
            self.index += 1
            kind = tokens[self.index][0]
            if kind is _YT_KEY or kind is _YT_VALUE or kind is _YT_BLOCK_END:
                key: Any = None
            else:
                key_start = tokens[self.index]
                key = self.parse_node(block=True, indentless=True, is_key=True)
                self.check_key(key, key_start)
            value: Any = None
            if tokens[self.index][0] is _YT_VALUE:
                self.index += 1
                kind = tokens[self.index][0]
                if kind is not _YT_KEY and kind is not _YT_VALUE and kind is not _YT_BLOCK_END:
                    value = self.parse_node(block=True, indentless=True)
            self.add_pair(mapping, merges, lines, key, value, key_token)
        if tokens[self.index][0] is not _YT_BLOCK_END:
            raise self.unexpected("another key of this mapping, or its end")
        self.index += 1
        self.depth -= 1
        return self.apply_merges(mapping, merges) if merges else mapping

    def parse_flow_sequence(self) -> List[Any]:
        tokens = self.tokens
        self.enter(tokens[self.index])
        self.index += 1
        items: List[Any] = []
        lines = self.line_marks(items)
        first = True
        while tokens[self.index][0] is not _YT_FLOW_SEQUENCE_END:
            if not first:
                if tokens[self.index][0] is not _YT_FLOW_ENTRY:
                    raise self.unexpected("',' or ']'")
                self.index += 1
            first = False
            token = tokens[self.index]
            if lines is not None:
                lines[len(items)] = token[2]
            if token[0] is _YT_KEY:
                # A single "key: value" pair in a flow sequence is a one-pair mapping.
                self.index += 1
                self.enter(token)
                pair: Dict[Any, Any] = {}
                merges: List[Any] = []
                key = self.parse_flow_pair_part((_YT_VALUE, _YT_FLOW_ENTRY, _YT_FLOW_SEQUENCE_END), is_key=True)
                value = self.parse_flow_pair_value(_YT_FLOW_SEQUENCE_END)
                self.add_pair(pair, merges, self.line_marks(pair), key, value, token)
                items.append(self.apply_merges(pair, merges) if merges else pair)
                self.depth -= 1
            elif token[0] is not _YT_FLOW_SEQUENCE_END:
                items.append(self.parse_node(block=False))
        self.index += 1
        self.depth -= 1
        return items

    def parse_flow_mapping(self) -> Dict[Any, Any]:
        tokens = self.tokens
        self.enter(tokens[self.index])
        self.index += 1
        mapping: Dict[Any, Any] = {}
        merges: List[Any] = []
        lines = self.line_marks(mapping)
        first = True
        while tokens[self.index][0] is not _YT_FLOW_MAPPING_END:
            if not first:
                if tokens[self.index][0] is not _YT_FLOW_ENTRY:
                    raise self.unexpected("',' or '}'")
                self.index += 1
            first = False
            token = tokens[self.index]
            if token[0] is _YT_KEY:
                self.index += 1
                key = self.parse_flow_pair_part((_YT_VALUE, _YT_FLOW_ENTRY, _YT_FLOW_MAPPING_END), is_key=True)
                value = self.parse_flow_pair_value(_YT_FLOW_MAPPING_END)
                self.add_pair(mapping, merges, lines, key, value, token)
            elif token[0] is not _YT_FLOW_MAPPING_END:
                key = self.parse_node(block=False, is_key=True)
                self.check_key(key, token)
                self.add_pair(mapping, merges, lines, key, None, token)
        self.index += 1
        self.depth -= 1
        return self.apply_merges(mapping, merges) if merges else mapping

    def parse_flow_pair_part(self, ends: Tuple[str, ...], is_key: bool = False) -> Any:
        token = self.tokens[self.index]
        if token[0] in ends:
            return None
        value = self.parse_node(block=False, is_key=is_key)
        if is_key:
            self.check_key(value, token)
        return value

    def parse_flow_pair_value(self, end: str) -> Any:
        if self.tokens[self.index][0] is not _YT_VALUE:
            return None
        self.index += 1
        return self.parse_flow_pair_part((_YT_FLOW_ENTRY, end))

    def check_key(self, key: Any, token: _YamlToken) -> None:
        if isinstance(key, (dict, list)):
            raise self.error("complex keys (a mapping or a sequence as a key) are not supported", token)

    def line_marks(self, container: Any) -> Optional[Dict[Any, int]]:
        if self.key_lines is None:
            return None
        lines: Dict[Any, int] = {}
        self.key_lines[id(container)] = lines
        return lines

    def add_pair(
        self,
        mapping: Dict[Any, Any],
        merges: List[Any],
        lines: Optional[Dict[Any, int]],
        key: Any,
        value: Any,
        token: _YamlToken,
    ) -> None:
        if key is _YAML_MERGE:
            merges.append((value, token))
            return
        mapping[key] = value
        if lines is not None and key not in lines:
            lines[key] = token[2]

    def apply_merges(self, mapping: Dict[Any, Any], merges: List[Tuple[Any, _YamlToken]]) -> Dict[Any, Any]:
        """Apply the ``<<`` keys of a mapping: merged keys come first and the mapping's own keys win.

        Within a list of mappings to merge, an earlier one wins over a later one, as in PyYAML.
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
        if self.key_lines is not None:
            lines = self.key_lines.pop(id(mapping), {})
            self.key_lines[id(merged)] = lines
        return merged


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


def _yaml_check_text(text: str, path: str) -> str:
    """Normalize line breaks; refuse what a YAML reader must refuse and what this one does not support."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    match = _YAML_NOT_ACCEPTED.search(text, 1 if text.startswith("\ufeff") else 0)
    if match:
        if _YAML_NOT_PRINTABLE.match(match.group()):
            what = "found the character {}, which a YAML file cannot contain"
        else:
            what = "found the character {}, which is not supported here"
        line_start = text.rfind("\n", 0, match.start()) + 1
        what = what.format(f"U+{ord(match.group()):04X}")
        raise _yaml_error(path, what, text.count("\n", 0, match.start()), match.start() - line_start)
    return text


def _yaml_parse(text: str, path: str, key_lines: Optional[Dict[int, Dict[Any, int]]]) -> Any:
    text = _yaml_check_text(text, path)
    try:
        tokens = _YamlScanner(text, path).scan()
        return _YamlParser(tokens, path, key_lines).parse_stream()
    except RecursionError:
        raise PyngrokConfigError(f"{path}: the document nests too deeply", path=path) from None


def _yaml_load(text: str, path: str = "<string>") -> Any:
    """Read a YAML document as ``yaml.safe_load`` would.

    :param text: The YAML text.
    :param path: The file the text came from, for error messages.
    :return: The value of the document: ``None`` for an empty one.
    :raises PyngrokConfigError: When the text is not valid YAML, or uses a feature this reader does not support;
        the message names the file, the line and the column.
    """
    return _yaml_parse(text, path, None)


_YamlKeyPath = Tuple[Union[str, int], ...]


def _yaml_load_marked(text: str, path: str = "<string>") -> Tuple[Any, Dict[_YamlKeyPath, int]]:
    """Read a YAML document like :func:`_yaml_load`, and the 1-based line of each key and list item.

    :param text: The YAML text.
    :param path: The file the text came from, for error messages.
    :return: The value and a map from key paths (``("endpoints", 1, "upstream", "url")``) to lines. Keys merged
        with ``<<`` and the inside of aliases have no line of their own.
    :raises PyngrokConfigError: As :func:`_yaml_load`.
    """
    key_lines: Dict[int, Dict[Any, int]] = {}
    value = _yaml_parse(text, path, key_lines)
    lines: Dict[_YamlKeyPath, int] = {}
    seen = set()
    stack: List[Tuple[_YamlKeyPath, Any]] = [((), value)]
    while stack:
        prefix, node = stack.pop()
        if not isinstance(node, (dict, list)) or id(node) in seen:
            continue
        seen.add(id(node))
        node_lines = key_lines.get(id(node), {})
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            if not isinstance(key, (str, int)):
                continue
            key_path = (*prefix, key)
            if key in node_lines:
                lines[key_path] = node_lines[key] + 1
            stack.append((key_path, child))
    return value, lines


# --- Writer ---

_YAML_PLAIN_UNSAFE = re.compile(
    "[\0-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]|: | #|:$|^(?:---|\\.\\.\\.)"
)
_YAML_NUMBER_LIKE = re.compile(r"[-+.0-9][-+.0-9a-fA-F_:xXoObBeE ]*")
_YAML_LITERAL_UNSAFE = re.compile("[\0-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")
_YAML_DOUBLE_QUOTED_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}
_YAML_NEEDS_ESCAPE = re.compile('["\\\\\0-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]')


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


def _yaml_quote(text: str) -> str:
    """Write a string quoted: single quotes when that needs no escapes, else double quotes."""
    if not _YAML_NEEDS_ESCAPE.search(text):
        return f'"{text}"'
    if "\n" not in text and not _YAML_LITERAL_UNSAFE.search(text):
        return "'" + text.replace("'", "''") + "'"
    return '"' + _YAML_NEEDS_ESCAPE.sub(_yaml_escape, text) + '"'


def _yaml_escape(match: re.Match[str]) -> str:
    ch = match.group()
    if ch in _YAML_DOUBLE_QUOTED_ESCAPES:
        return _YAML_DOUBLE_QUOTED_ESCAPES[ch]
    code = ord(ch)
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
        return int.__repr__(value)
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
        text = text if _yaml_plain_ok(text) else _yaml_quote(text)
        if as_key and len(text) > _YAML_MAX_KEY_LENGTH - 2:
            # A longer key would need the '?' form, which readers of ngrok configs need not support.
            raise PyngrokConfigError(f"cannot write a key longer than {_YAML_MAX_KEY_LENGTH - 2} characters")
        return text
    if isinstance(value, datetime.datetime):
        return value.isoformat(" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)) and not as_key:
        import base64

        return '!!binary "' + base64.b64encode(bytes(value)).decode("ascii") + '"'
    raise PyngrokConfigError(f"cannot write a value of type {type(value).__name__} to a YAML config")


def _yaml_literal_header(text: str) -> Optional[Tuple[str, List[str]]]:
    """The ``|`` header and the lines of a multi-line string, or None when a block literal cannot hold it."""
    if "\n" not in text or not text.strip("\n") or _YAML_LITERAL_UNSAFE.search(text):
        return None
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    chomping = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    lines = body.split("\n") + [""] * (trailing - 1 if trailing > 1 else 0)
    first = next(line for line in lines if line)
    indentation = "2" if first[0] == " " else ""
    return "|" + indentation + chomping, lines


def _yaml_emit(value: Any, prefix: str, indent: int, lines: List[str], active: List[int]) -> None:
    """Append the lines of ``value`` written after ``prefix`` (a key and ':' or a '-'), nested at ``indent``."""
    if isinstance(value, (dict, list, tuple)) and value:
        if id(value) in active:
            raise PyngrokConfigError("cannot write a value that contains itself to a YAML config")
        if len(active) > _YAML_MAX_DEPTH:
            raise PyngrokConfigError(f"cannot write a value nested deeper than {_YAML_MAX_DEPTH} levels")
        active.append(id(value))
        first = len(lines)
        if isinstance(value, dict):
            for key, item in value.items():
                _yaml_emit(item, " " * indent + _yaml_scalar(key, as_key=True) + ":", indent + 2, lines, active)
        else:
            for item in value:
                _yaml_emit(item, " " * indent + "-", indent + 2, lines, active)
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
    literal = _yaml_literal_header(value) if isinstance(value, str) else None
    if literal is None:
        lines.append(prefix + " " + _yaml_scalar(value))
        return
    header, body = literal
    lines.append(prefix + " " + header)
    lines.extend(" " * indent + line if line else "" for line in body)


def _yaml_dump(data: Any) -> str:
    """Write a value as block-style YAML that PyYAML and the ngrok agent read back as the same value.

    Mappings keep their key order. Strings are quoted whenever plain style would change their meaning, and
    multi-line strings are written as ``|`` block literals.

    :param data: The value: dicts, lists (or tuples), strings, numbers, bools, None, dates and bytes.
    :return: The YAML text, ending with a line break.
    :raises PyngrokConfigError: When the value holds another type, or contains itself.
    """
    lines: List[str] = []
    if isinstance(data, (dict, list, tuple)):
        _yaml_emit(data, "", 0, lines, [])
        if lines and lines[0] == "":
            del lines[0]
        elif lines and lines[0].startswith(" "):
            lines[0] = lines[0].lstrip(" ")
    else:
        lines.append(_yaml_scalar(data))
    return "\n".join(lines) + "\n"


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
#   _validate_config_file(config_path) -> List[str]   (warnings; raises PyngrokConfigError on errors)

SUPPORTED_NGROK_VERSIONS = ["2", "3"]

config_file_lock = threading.RLock()

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
    "console_ui": _schema_of(["boolean", "string"], "Show the console UI.", enum=[True, False, "iftty"]),
    "console_ui_color": _schema_of("string", "The console UI background.", enum=["transparent", "black"]),
    "crl_noverify": _schema_of("boolean", "Skip checking the certificate revocation list."),
    "dns_resolver_ips": _schema_strings("DNS servers for the tunnel session."),
    "heartbeat_interval": _schema_of(_SCHEMA_DURATION, "How often to heartbeat, e.g. 10s."),
    "heartbeat_tolerance": _schema_of(_SCHEMA_DURATION, "How late a heartbeat reply may be, e.g. 15s."),
    "inspect_db_size": _schema_of("integer", "Bytes of memory for captured requests (0 default, -1 off)."),
    "log_level": _schema_of("string", "Log detail.", enum=["crit", "warn", "error", "info", "debug"]),
    "log_format": _schema_of("string", "Log record format.", enum=["logfmt", "json", "term"]),
    "log": _schema_of(["string", "boolean"], "Where to log: stdout, stderr, a file path, or false."),
    "metadata": _schema_of("string", "Opaque user metadata for the agent session."),
    "proxy_url": _schema_of("string", "An HTTP or SOCKS5 proxy URL for the session connection."),
    "region": _schema_of(
        "string",
        "The region to connect to (deprecated).",
        enum=["us", "us-cal-1", "eu", "ap", "au", "sa", "jp", "in"],
    ),
    "remote_management": _schema_of("boolean", "Allow stopping, restarting and updating the agent remotely."),
    "update_channel": _schema_of("string", "The update channel.", enum=["stable", "unstable", "beta"]),
    "update_check": _schema_of("boolean", "Check for updates."),
    "web_addr": _schema_of(["string", "boolean"], "The address of the local web UI and API, or false."),
    "web_allow_hosts": _schema_strings("Host headers the local web UI and API accept."),
}

_SCHEMA_TUNNEL: Dict[str, Any] = _schema_object(
    "A tunnel definition (v2 config, and the deprecated 'tunnels' of a v3 config).",
    {
        "addr": _schema_of(["string", "integer"], "The local port or address to forward to."),
        "proto": _schema_of("string", "The tunnel protocol.", enum=["http", "tcp", "tls"]),
        "metadata": _schema_of("string", "Opaque user metadata for the tunnel."),
        "inspect": _schema_of("boolean", "Capture requests for inspection."),
        "auth": _schema_of("string", "user:password for HTTP basic auth (ngrok 2)."),
        "basic_auth": _schema_strings("user:password pairs for HTTP basic auth."),
        "bind_tls": _schema_of(
            ["boolean", "string"], "Bind HTTPS, HTTP or both (ngrok 2).", enum=[True, False, "both"]
        ),
        "circuit_breaker": _schema_of("number", "The 5XX ratio above which requests are rejected."),
        "compression": _schema_of("boolean", "Gzip-compress responses."),
        "host_header": _schema_of("string", "Rewrite the Host header: rewrite, preserve or a value."),
        "hostname": _schema_of("string", "The hostname to request (ngrok 2)."),
        "domain": _schema_of("string", "The domain to request."),
        "subdomain": _schema_of("string", "The subdomain to request."),
        "url": _schema_of("string", "The URL to request."),
        "schemes": _schema_strings("The schemes to bind.", enum=["http", "https"]),
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
        "client_cas": _schema_of("string", "A PEM file of CAs for mutual TLS (ngrok 2)."),
        "proxy_proto": _schema_of(["string", "integer"], "The PROXY protocol version, 1 or 2."),
        "websocket_tcp_converter": _schema_of("boolean", "Convert websocket connections to TCP upstream."),
        "traffic_policy": _SCHEMA_POLICY,
        "policy": _schema_of("object", "The Traffic Policy (renamed traffic_policy in agent 3.14.0)."),
        "remote_addr": _schema_of("string", "The reserved TCP address to bind."),
        "crt": _schema_of("string", "A PEM certificate to terminate TLS with."),
        "key": _schema_of("string", "A PEM private key to terminate TLS with."),
        "terminate_at": _schema_of("string", "Where TLS terminates.", enum=["edge", "agent", "upstream"]),
        "labels": _schema_strings("name=value labels of a labeled tunnel."),
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
                "protocol": _schema_of("string", "The protocol spoken upstream.", enum=["http1", "http2"]),
                "proxy_protocol": _schema_of(["string", "integer"], "The PROXY protocol version, 1 or 2."),
            },
        ),
        "bindings": _schema_strings("The endpoint binding (one).", enum=["public", "internal", "kubernetes"]),
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
                "http_proxy": _schema_of("string", "An HTTP proxy URL for the session connection (ngrok 2)."),
                "socks5_proxy": _schema_of("string", "A SOCKS5 proxy URL for the session connection (ngrok 2)."),
                "trust_host_root_certs": _schema_of("boolean", "Trust the host's root CAs (ngrok 2)."),
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
                        "crl_url": _schema_of("string", "A custom certificate revocation list URL."),
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

    def __init__(self, lines: Dict[_YamlKeyPath, int], path: Optional[str]) -> None:
        self.lines = lines
        self.path = path
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
            probe = _SchemaCheck({}, None)
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
        if isinstance(value, dict):
            self.check_object(schema, value, key_path)
        elif isinstance(value, list) and "items" in schema:
            for index, item in enumerate(value):
                self.check(schema["items"], item, (*key_path, index))

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
            elif properties:
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


def _pyngrok_rule_errors(data: Dict[str, Any]) -> List[Tuple[_YamlKeyPath, str]]:
    """The rules pyngrok adds to ngrok's: the agent must serve its API and log in a format pyngrok reads."""
    prefix: _YamlKeyPath = ("agent",) if str(data.get("version")) == "3" else ()
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
    """The comment block at the top of a config file (with the blank lines in it), to keep it on rewrite."""
    kept: List[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        kept.append(line.rstrip())
    while kept and not kept[-1]:
        kept.pop()
    return "\n".join(kept) + "\n\n" if kept else ""


def _write_config_atomically(config_path: str, text: str, secret: bool) -> None:
    """Replace a config file in one step: a temporary file in the same directory, fsync'ed, then renamed.

    A file holding a secret is created 0600; otherwise an existing file keeps its mode and a new one gets 0644
    less the umask.
    """
    target = os.path.realpath(config_path)
    directory = os.path.dirname(target)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        existing_mode: Optional[int] = os.stat(target).st_mode & 0o7777
    except FileNotFoundError:
        existing_mode = None
    mode = 0o600 if secret else (0o644 if existing_mode is None else existing_mode)
    temp_path = os.path.join(directory, f".{os.path.basename(target)}.{uuid.uuid4().hex}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(temp_path, flags, 0o600 if secret else 0o644)
    try:
        with os.fdopen(fd, "wb") as temp_file:
            temp_file.write(text.encode("utf-8"))
            temp_file.flush()
            os.fsync(temp_file.fileno())
        if existing_mode is not None or secret:
            os.chmod(temp_path, mode if not secret or existing_mode is None else existing_mode & 0o600 or 0o600)
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

    ``data`` is merged into the existing file: dicts are merged key by key, other values replaced. Every other key
    of the file, and their order, survive; so does the comment block at the top of the file (other comments do
    not). The default keys (``version``) are added only to a new or empty file. The file is replaced atomically,
    and created 0600 when it holds an authtoken or API key.

    :param config_path: The path to where the ``ngrok`` config should be installed.
    :param data: A dictionary of things to add to the default config.
    :param ngrok_version: The major version of ``ngrok`` installed.
    :param config_version: The ``ngrok`` config version.
    :raises PyngrokError: When ``ngrok_version`` is not supported.
    :raises PyngrokConfigError: When the existing file cannot be read, or the result fails validation.
    """
    with config_file_lock:
        defaults = get_default_config(ngrok_version, config_version)
        data = {} if data is None else copy.deepcopy(data)
        comments = ""
        config: Any = None
        if os.path.exists(config_path):
            config, _, text = _load_config_file(config_path)
            comments = _leading_comments(text)
        if config is None:
            config = defaults
        config = _require_mapping(config, config_path)
        _merge_config(config, data)
        validate_config(config)
        logger.debug(f"Installing default ngrok config to {config_path} ...")
        _write_config_atomically(config_path, comments + _yaml_dump(config), _config_holds_secret(config))
        _config_cache[config_path] = config


def _validate_config_file(config_path: str) -> List[str]:
    """Check a config file before the agent starts with it; refresh the cached config.

    :param config_path: The config file.
    :return: Warnings: unknown keys, with a "did you mean" for near-misses. Each names the key path and the line.
    :raises OSError: When the file cannot be read.
    :raises PyngrokConfigError: When the file is not valid YAML, or fails validation; the message names the key
        path, the file and the line of each problem.
    """
    with config_file_lock:
        config, lines, _ = _load_config_file(config_path, marked=True)
        if config is None:
            return []
        config = _require_mapping(config, config_path)
        _config_cache[config_path] = config
    errors, warnings, line = _check_config(config, lines, config_path)
    if errors:
        raise PyngrokConfigError("; ".join(errors), path=config_path, line=line)
    return warnings


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
