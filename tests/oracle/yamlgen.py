"""Seeded random YAML documents, in the styles real configs use, for comparing readers.

``document(rng)`` writes a random document straight as YAML text (block and flow collections, every scalar style,
comments, anchors, aliases and merges), so that the text, not a writer's habits, decides what a reader sees.
``value(rng)`` makes random data for writer round trips. ``mutate(rng, text)`` breaks a document a little.
"""

from __future__ import annotations

import random
from typing import Any

WORDS = [
    "http",
    "https",
    "tcp",
    "tls",
    "web",
    "api",
    "addr",
    "proto",
    "name",
    "url",
    "upstream",
    "ngrok",
    "agent",
    "yes",
    "no",
    "on",
    "off",
    "true",
    "False",
    "null",
    "~",
    "y",
    "n",
    "NULL",
    "Yes",
    "0",
    "1",
    "-1",
    "+5",
    "017",
    "09",
    "0x1F",
    "0b101",
    "1_000",
    "1:30",
    "22:22",
    "190:20:30.15",
    "8080:80",
    "1.5",
    "1.",
    ".5",
    "-.5",
    "1e5",
    "1.0e+5",
    "6.8523015e+5",
    ".inf",
    "-.Inf",
    ".NaN",
    "0o17",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10",
    "2002-1-1",
    "127.0.0.1:4040",
    "http://localhost:8080/x?y=1",
    "a#b",
    "a:b",
    "-x",
    "x-",
    "?x",
    "a, b",
    "a=b",
    "<<x",
    "=",
    "foo bar",
    "it's",
    'say "hi"',
    "café",
    "日本",
    "%d",
    "@me",
    "`tick`",
    "a\\b",
    "!x",
    "&a",
    "*a",
]
KEYS = [
    "version",
    "agent",
    "authtoken",
    "tunnels",
    "endpoints",
    "name",
    "addr",
    "url",
    "upstream",
    "proto",
    "inspect",
    "schemes",
    "metadata",
    "traffic_policy",
    "on_http_request",
    "actions",
    "type",
    "config",
    "a",
    "b",
    "c",
    "key with space",
    "80",
    "yes",
    "null",
    "1.5",
    "x-y",
    "k:v",
    "k#v",
]
ESCAPES = [
    "\\n",
    "\\t",
    "\\\\",
    '\\"',
    "\\x41",
    "\\u00e9",
    "\\U0001F600",
    "\\0",
    "\\a",
    "\\e",
    "\\ ",
    "\\/",
    "\\N",
    "\\_",
    "\\L",
]


class Gen:
    """One document's generation state: the anchors defined so far."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.anchors: list[str] = []
        self.mapping_anchors: list[str] = []
        self.count = 0

    def comment(self) -> str:
        return "  # " + self.rng.choice(["note", "x: y", "- z", "'q'", ""]) if self.rng.random() < 0.15 else ""

    def anchor(self) -> str | None:
        if self.rng.random() < 0.1:
            self.count += 1
            return f"a{self.count}"
        return None

    def plain(self) -> str:
        rng = self.rng
        word = rng.choice(WORDS)
        if rng.random() < 0.2:
            word = word + " " + rng.choice(WORDS)
        return word

    def scalar_inline(self, flow: bool) -> str:
        """A scalar on one line: plain (if safe), single- or double-quoted."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            word = self.plain()
            if (
                word in ("=", "<<")
                or (flow and any(ch in word for ch in ",[]{}#?"))
                or word[0] in "-?:,[]{}#&*!|>'\"%@`"
                or ": " in word
            ):
                return "'" + word.replace("'", "''") + "'"
            return word
        if roll < 0.7:
            return "'" + self.plain().replace("'", "''") + "'"
        parts = [self.plain().replace("\\", "\\\\").replace('"', '\\"')]
        for _ in range(rng.randint(0, 2)):
            parts.append(rng.choice(ESCAPES))
            parts.append(rng.choice(["", " ", "x"]))
        return '"' + "".join(parts) + '"'

    def key(self, flow: bool) -> str:
        rng = self.rng
        word = rng.choice(KEYS)
        if rng.random() < 0.2 or (flow and "," in word) or ":" in word or "#" in word:
            return rng.choice(["'" + word + "'", '"' + word + '"'])
        return word

    def block_scalar(self, parent: int) -> list[str]:
        """The header (after the key or '-') and the lines of a | or > block scalar nested under ``parent``."""
        rng = self.rng
        style = rng.choice("|>")
        chomp = rng.choice(["", "-", "+"])
        step = rng.choice([1, 2, 2, 3])
        content = parent + step
        lines = []
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.2:
                lines.append("")
            elif roll < 0.35:
                lines.append(" " * (content + rng.randint(1, 3)) + self.plain())
            else:
                lines.append(" " * content + self.plain() + rng.choice(["", " ", "  # not a comment"]))
        first = next((line for line in lines if line), "")
        indicator = str(step) if first.startswith(" " * (content + 1)) or rng.random() < 0.3 else ""
        header = indicator + chomp if rng.random() < 0.5 else chomp + indicator
        return [style + header + self.comment(), *lines]

    def flow(self, depth: int, multiline: bool) -> str:
        rng = self.rng
        sep = ",\n  " if multiline and rng.random() < 0.5 else ", "
        if rng.random() < 0.5 or depth > 3:
            items = [self.flow_node(depth + 1, multiline) for _ in range(rng.randint(0, 3))]
            if items and rng.random() < 0.2:
                items.append(self.key(True) + ": " + self.scalar_inline(True))
            return "[" + sep.join(items) + ("," if items and rng.random() < 0.1 else "") + "]"
        pairs = []
        for _ in range(rng.randint(0, 3)):
            pairs.append(self.key(True) + ": " + self.flow_node(depth + 1, multiline))
        return "{" + sep.join(pairs) + "}"

    def flow_node(self, depth: int, multiline: bool) -> str:
        rng = self.rng
        if rng.random() < 0.25 and depth < 4:
            return self.flow(depth, multiline)
        if self.anchors and rng.random() < 0.08:
            return "*" + rng.choice(self.anchors)
        return self.scalar_inline(True)

    def block_value(self, indent: int, depth: int, in_sequence: bool = False) -> list[str]:
        """A value after 'key:' or '- ': the first element is the rest of that line, the others are lines."""
        rng = self.rng
        roll = rng.random()
        anchor = self.anchor()
        prefix = f"&{anchor} " if anchor else ""
        if self.anchors and roll < 0.06:
            return [" *" + rng.choice(self.anchors)]
        if roll < 0.22 and depth < 5:
            step = rng.choice([2, 2, 4, 1, 3])
            lines = self.block_mapping(indent + step, depth + 1)
            if anchor:
                self.anchors.append(anchor)
                self.mapping_anchors.append(anchor)
            return [(" " + prefix.strip() if anchor else "") + self.comment(), *lines]
        if roll < 0.36 and depth < 5:
            # An indentless sequence under a key is allowed, but not under '- '.
            step = rng.choice([2, 2, 4]) if in_sequence else rng.choice([0, 2, 2, 4])
            lines = self.block_sequence(indent + step, depth + 1)
            if anchor:
                self.anchors.append(anchor)
            return [(" " + prefix.strip() if anchor else "") + self.comment(), *lines]
        if roll < 0.46:
            text = self.flow(depth, multiline=rng.random() < 0.3)
            if anchor:
                self.anchors.append(anchor)
            return [" " + prefix + text.replace("\n", "\n" + " " * (indent + 2)) + self.comment()]
        if roll < 0.56:
            header, *lines = self.block_scalar(indent)
            if anchor:
                self.anchors.append(anchor)
            return [" " + prefix + header, *lines]
        if roll < 0.6:
            return [""]
        if anchor:
            self.anchors.append(anchor)
        value = self.scalar_inline(False)
        if rng.random() < 0.05 and value[0] not in "'\"":
            # A plain scalar continued on the next line.
            return [" " + prefix + value, " " * (indent + 1) + self.plain().lstrip("-?:#&*!|>%@`'\",[]{} ") + "x"]
        return [" " + prefix + value + self.comment()]

    def block_mapping(self, indent: int, depth: int) -> list[str]:
        rng = self.rng
        lines: list[str] = []
        if self.mapping_anchors and rng.random() < 0.2:
            if rng.random() < 0.5:
                lines.append(" " * indent + "<<: *" + rng.choice(self.mapping_anchors))
            else:
                chosen = rng.sample(self.mapping_anchors, min(len(self.mapping_anchors), 2))
                lines.append(" " * indent + "<<: [" + ", ".join("*" + name for name in chosen) + "]")
        for number in range(rng.randint(1, 4)):
            if number and rng.random() < 0.1:
                lines.append(" " * rng.randint(0, indent) + "# comment")
            first, *rest = self.block_value(indent, depth)
            lines.append(" " * indent + self.key(False) + ":" + first)
            lines.extend(rest)
        return lines

    def block_sequence(self, indent: int, depth: int) -> list[str]:
        rng = self.rng
        lines: list[str] = []
        for _ in range(rng.randint(1, 4)):
            roll = rng.random()
            if roll < 0.25 and depth < 5:
                # Compact form: "- key: value" then the other keys aligned under the first.
                body = self.block_mapping(indent + 2, depth + 1)
                lines.append(" " * indent + "- " + body[0][indent + 2 :])
                lines.extend(body[1:])
                continue
            if roll < 0.32 and depth < 5:
                body = self.block_sequence(indent + 2, depth + 1)
                lines.append(" " * indent + "- " + body[0][indent + 2 :])
                lines.extend(body[1:])
                continue
            first, *rest = self.block_value(indent, depth, in_sequence=True)
            lines.append(" " * indent + "-" + first)
            lines.extend(rest)
        return lines


def document(rng: random.Random) -> str:
    """A random YAML document."""
    gen = Gen(rng)
    roll = rng.random()
    if roll < 0.7:
        lines = gen.block_mapping(0, 0)
    elif roll < 0.85:
        lines = gen.block_sequence(rng.choice([0, 0, 2]), 0)
    else:
        lines = [gen.flow(0, multiline=rng.random() < 0.5)]
    if rng.random() < 0.15:
        lines.insert(0, "---")
    if rng.random() < 0.05:
        lines.append("...")
    if rng.random() < 0.2:
        lines.insert(0, "# " + gen.plain())
    return "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")


# Pieces of the strings a config holds (no lone surrogate: no UTF-8 file holds one, and the writer refuses it).
TRICKY = [
    "",
    " ",
    "a",
    "3",
    "yes",
    "No",
    "null",
    "~",
    "0x1F",
    "1e5",
    "1.5",
    "-.5",
    "1:30",
    "2001-12-14",
    ": ",
    "a: b",
    "a #b",
    "#x",
    "*a",
    "&a",
    "!a",
    "|",
    ">",
    "%",
    "@",
    "`",
    "-",
    "- a",
    "?",
    "? a",
    "'",
    '"',
    "\\",
    "\t",
    "\n",
    "\r",
    "\x00",
    "\x07",
    "\x85",
    "\u2028",
    "\ufeff",
    "é",
    "😀",
    "---",
    "...",
    "a ",
    " a",
    "a\n",
    "\n\n",
    "<<",
    "=",
    "y",
    "n",
    ",",
    "[",
    "]",
    "{",
    "}",
    "  x",
    "x  y",
]


def string(rng: random.Random) -> str:
    """A random string made of pieces that trip YAML writers."""
    return "".join(rng.choice(TRICKY + WORDS) for _ in range(rng.randint(0, 4)))


def value(rng: random.Random, depth: int = 0) -> Any:
    """Random data of the types a config holds."""
    roll = rng.random()
    if depth < 4 and roll < 0.2:
        return {scalar_key(rng): value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    if depth < 4 and roll < 0.35:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if roll < 0.75:
        return string(rng)
    return rng.choice([None, True, False, 0, -7, 2**70, 1.5, -0.0, 1e300, float("inf"), float("-inf"), 1e-7])


def scalar_key(rng: random.Random) -> Any:
    if rng.random() < 0.1:
        return rng.choice([1, 80, True, None, 2.5])
    return string(rng)


MUTATIONS = [
    *list(" \n:-#\"'[]{},&*!|>?%@a1.\\\t"),
    "  ",
    "\n  ",
    ": ",
    "- ",
    "<<",
    "*a1",
    "&a1",
    "!!str ",
    "---",
    "...",
    "|-",
    ">+",
    "\\n",
    "\\x4",
    "yes",
    "0x1",
    "1:2",
]


def mutate(rng: random.Random, text: str) -> str:
    """Insert, delete or replace one to three characters or short snippets."""
    for _ in range(rng.randint(1, 3)):
        index = rng.randint(0, len(text))
        roll = rng.random()
        if roll < 0.4:
            text = text[:index] + rng.choice(MUTATIONS) + text[index:]
        elif roll < 0.7:
            text = text[:index] + text[index + 1 :]
        else:
            text = text[:index] + rng.choice(MUTATIONS) + text[index + 1 :]
    return text


# --- Documents written by PyYAML's own dumper -----------------------------------------------------------------

POOL_KEYS = ["a", "b", "c", "addr", "proto", "url", "inspect", "name"]


def long_key(rng: random.Random) -> str:
    """A key PyYAML writes as an explicit '?' key: longer than 128 characters, or holding a line break."""
    words = [rng.choice(WORDS) for _ in range(rng.randint(2, 60))]
    text = " ".join(words)
    if rng.random() < 0.5 or len(text) <= 128:
        text = text[: rng.randint(0, len(text))] + rng.choice(["\n", "\n\n", " \n ", "\t\n"]) + text
    return text


def dumped_value(rng: random.Random, shared: list[Any], depth: int = 0) -> Any:
    """Config-like data with long and multi-line keys, and objects shared between places (anchors)."""
    roll = rng.random()
    if shared and roll < 0.08:
        return rng.choice(shared)
    if depth < 4 and roll < 0.35:
        mapping: dict[Any, Any] = {}
        for _ in range(rng.randint(0, 4)):
            key = long_key(rng) if rng.random() < 0.3 else scalar_key(rng)
            mapping[key] = dumped_value(rng, shared, depth + 1)
        if rng.random() < 0.2:
            shared.append(mapping)
        return mapping
    if depth < 4 and roll < 0.5:
        items = [dumped_value(rng, shared, depth + 1) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.2:
            shared.append(items)
        return items
    return value(rng, 4)


def dump_options(rng: random.Random) -> dict[str, Any]:
    return {
        "default_flow_style": rng.choice([False, False, None, True]),
        "sort_keys": False,
        "allow_unicode": rng.random() < 0.5,
        "width": rng.choice([20, 80, 80, 4096]),
        "indent": rng.choice([2, 2, 4]),
        "explicit_start": rng.random() < 0.1,
    }


def pyyaml_dumped(rng: random.Random, yaml: Any) -> str:
    """A document PyYAML's ``safe_dump`` wrote, in one of its styles, sometimes with merge keys added.

    ``yaml`` is the PyYAML module (passed in so that this module does not need it).
    """
    if rng.random() < 0.35:
        return merged_document(rng, yaml)
    data = {scalar_key(rng) if rng.random() < 0.7 else long_key(rng): dumped_value(rng, []) for _ in range(4)}
    options = dump_options(rng)
    text = str(yaml.safe_dump(data, **options))
    if "\u2028" in text or "\u2029" in text:
        # Written raw, these are line breaks that a reader must keep in the value: escape them instead.
        text = str(yaml.safe_dump(data, **{**options, "allow_unicode": False}))
    return text


def merged_document(rng: random.Random, yaml: Any) -> str:
    """Mappings dumped by PyYAML, anchored, and merged with '<<' into others that have keys of their own."""
    lines: list[str] = []
    names: list[str] = []
    for number in range(rng.randint(1, 4)):
        base = {rng.choice(POOL_KEYS): dumped_value(rng, [], 3) for _ in range(rng.randint(0, 4))}
        if names and rng.random() < 0.3:
            base_text = yaml.safe_dump(base, default_flow_style=False, sort_keys=False) if base else ""
            own = "".join("  " + line + "\n" for line in base_text.splitlines())
            lines.append(f"base{number}: &b{number}\n  <<: *{rng.choice(names)}\n{own}")
        else:
            flow = yaml.safe_dump(base, default_flow_style=True, sort_keys=False, width=4096).rstrip("\n")
            lines.append(f"base{number}: &b{number} {flow}\n")
        names.append(f"b{number}")
    for number in range(rng.randint(1, 3)):
        chosen = rng.sample(names, rng.randint(1, len(names)))
        merge = (
            "*" + chosen[0]
            if len(chosen) == 1 and rng.random() < 0.5
            else "[" + ", ".join("*" + n for n in chosen) + "]"
        )
        own = {rng.choice(POOL_KEYS): dumped_value(rng, [], 3) for _ in range(rng.randint(0, 3))}
        if rng.random() < 0.2:
            own[long_key(rng)] = 1
        own_lines = yaml.safe_dump(own, default_flow_style=False, sort_keys=False).splitlines() if own else []
        own_lines = ["  " + line for line in own_lines]
        own_lines.insert(len(own_lines) if rng.random() < 0.3 else 0, f"  <<: {merge}")
        lines.append(f"derived{number}:\n" + "\n".join(own_lines) + "\n")
    return "".join(lines)


# Real configs' shapes, for ``garbled`` to break.
EXAMPLES = [
    'version: "3"\nagent:\n  authtoken: 2abcDEF\n  web_addr: 127.0.0.1:4040\n',
    "version: 2\nweb_addr: localhost:4040\ntunnels:\n  web:\n    proto: http\n    addr: 8080\n    bind_tls: true\n",
    "endpoints:\n  - name: web\n    url: https://x.ngrok.app\n    upstream:\n      url: 8080\n",
    "a: &a {x: 1, y: [1, 2]}\nb: *a\nc:\n  <<: *a\n  z: 3\n",
    "list:\n- a\n- 'b''c'\n- \"d\\x41\\u00e9\\n\"\n- |\n  literal\n  text\n- >-\n  folded\n  text\n",
    "%YAML 1.1\n---\nkey: !!str 12\nother: !!binary aGVsbG8=\nwhen: 2001-12-14t21:59:43.10-05:00\n",
    "nums: [0x1F, 0o17, 017, 1_000, 1:30, .inf, -.Inf, .NaN, 1e3, 6.8523015e+5, +12, ~, null, Yes, off]\n",
    "# comment\nkey: value # trailing\n\n? complex\n: value\n",
    "- [a, b, {c: d}]\n- {? e, f: g}\n-\n  - nested\n",
    'key: "multi\n  line\n\n  folded"\nplain: multi\n  line plain\n',
    "tunnels:\n  a:\n    auth: 'user:pass'\n    host_header: rewrite\n    inspect: false\n    schemes: [https]\n",
    "str: !!str\nint: !!int '7'\nfloat: !!float 1\nbool: !!bool yes\nnull: !!null ''\nts: !!timestamp 2001-12-14\n",
]
# What matters to a YAML reader, and some characters that should not.
NOISE = (
    "ab: -?,[]{}#&*!|>'\"%@`\n  \t.0123456789xe+~\\"
    + "\u00e9\u2603\U0001f600\u200b\ufeff\u2028\x85\x00\x1b\x7f\ufffd\r\ud800"
)


def key_lines(rng: random.Random) -> str:
    """A few lines of keys and values that real YAML and broken YAML are made of."""
    lines = []
    for _ in range(rng.randint(1, 4)):
        indent = " " * rng.choice([0, 0, 1, 2, 2, 4])
        key = rng.choice(
            [
                "a",
                "b",
                "version",
                "agent",
                "tunnels",
                "- a",
                "-",
                "? x",
                "&x a",
                "*x",
                "'q'",
                '"d"',
                "!!str k",
                "<<",
                "[a",
                "{b",
                "1",
                "null",
                "",
                "a b",
            ]
        )
        value = rng.choice(
            [
                "",
                "1",
                "x",
                "*x",
                "&y v",
                "[1, *x]",
                "{a: 1}",
                "|",
                ">-",
                "'s''",
                '"\\x4"',
                "!!int x",
                "!!float y",
                "!!binary @@",
                "!!timestamp 2001-13-45",
                "0x" + "f" * rng.choice([1, 40, 4000]),
                "9" * rng.choice([1, 5000]),
                "1e999",
                "2001-02-30",
                "!foo x",
                "%TAG",
                "--- x",
                "...",
                "#",
                "\t",
                "\ufeff",
                "~",
            ]
        )
        lines.append(f"{indent}{key}:{' ' if rng.random() < 0.9 else ''}{value}")
    return "\n".join(lines) + rng.choice(["", "\n", "\r\n", "\n...\n", "\n---\nb: 2\n"])


def deep(rng: random.Random) -> str:
    """Nesting a little past a reader's depth limit."""
    # Deeper than the limit, but not much: a deep flow collection costs quadratic time (a known bug, see
    # test_yaml_deep_flow_nesting_is_refused_quickly), which would dominate the run.
    depth = rng.choice([10, 150, 199, 200, 201, 250])
    return rng.choice(
        [
            "[" * depth + "]" * depth,
            "- " * depth + "x",
            "{a: " * depth + "1" + "}" * depth,
            "".join(" " * i + "k:\n" for i in range(depth)) + " " * depth + "v\n",
        ]
    )


def garbled(rng: random.Random) -> str:
    """Text a reader must survive, most of it not quite YAML: a broken example config or random document, a
    heap of key lines, nesting past the depth limit, or noise."""
    roll = rng.random()
    if roll < 0.3:
        return mutate(rng, rng.choice(EXAMPLES))
    if roll < 0.6:
        return mutate(rng, document(rng))
    if roll < 0.9:
        return key_lines(rng)
    if roll < 0.902:
        return deep(rng)
    return "".join(rng.choice(NOISE) for _ in range(rng.randint(0, 60)))
