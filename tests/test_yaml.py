"""The YAML reader and writer of pyngrok.py, without third-party packages (the oracle tier compares with PyYAML)."""

from __future__ import annotations

import datetime
import glob
import importlib
import json
import math
import os
import random
import re
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE), HERE, os.path.join(HERE, "oracle")]

pyngrok = importlib.import_module("pyngrok")
yamlgen = importlib.import_module("yamlgen")
corpus = importlib.import_module("corpus_tool")
PyngrokConfigError = pyngrok.PyngrokConfigError
PyngrokError = pyngrok.PyngrokError
_yaml_dump = pyngrok._yaml_dump
_yaml_load = pyngrok._yaml_load
_yaml_load_marked = pyngrok._yaml_load_marked
BAD, GOOD, bad_expectations, canon_text, read_text = (
    corpus.BAD,
    corpus.GOOD,
    corpus.bad_expectations,
    corpus.canon_text,
    corpus.read_text,
)

GOOD_FILES = sorted(glob.glob(os.path.join(GOOD, "*.yml")))
BAD_FILES = sorted(glob.glob(os.path.join(BAD, "*.yml")))


def load(text: str) -> object:
    return _yaml_load(text, "t.yml")


def error_of(text: str) -> PyngrokConfigError:
    with pytest.raises(PyngrokConfigError) as info:
        _yaml_load(text, "t.yml")
    return info.value


# --- Corpus ---


def test_corpus_sizes():
    assert len(GOOD_FILES) >= 40
    assert len(BAD_FILES) >= 30
    assert sorted(bad_expectations()) == sorted(os.path.basename(path) for path in BAD_FILES)


@pytest.mark.parametrize("path", GOOD_FILES, ids=os.path.basename)
def test_good_corpus_loads_to_expected_value(path):
    with open(path[:-4] + ".json", encoding="utf-8") as file:
        expected = json.load(file)
    value = _yaml_load(read_text(path), os.path.basename(path))
    assert canon_text(value) == json.dumps(expected, ensure_ascii=False, indent=1)


@pytest.mark.parametrize("path", BAD_FILES, ids=os.path.basename)
def test_bad_corpus_reports_position(path):
    name = os.path.basename(path)
    expected = bad_expectations()[name]
    with pytest.raises(PyngrokConfigError) as info:
        _yaml_load(read_text(path), name)
    error = info.value
    assert isinstance(error, PyngrokError)
    assert (error.path, error.line, error.column) == (name, expected["line"], expected["column"])
    assert str(error) == f"{name}:{expected['line']}:{expected['column']}: {expected['message']}"


@pytest.mark.parametrize("path", GOOD_FILES, ids=os.path.basename)
def test_good_corpus_survives_a_write(path):
    value = _yaml_load(read_text(path))
    assert canon_text(_yaml_load(_yaml_dump(value))) == canon_text(value)


# --- Scalars: YAML 1.1 as PyYAML's safe_load resolves them ---


@pytest.mark.parametrize(
    "text, expected",
    [
        ("~", None),
        ("null", None),
        ("Null", None),
        ("NULL", None),
        ("", None),
        ("nULL", "nULL"),
        ("yes", True),
        ("No", False),
        ("ON", True),
        ("off", False),
        ("True", True),
        ("FALSE", False),
        ("y", "y"),
        ("n", "n"),
        ("tRUE", "tRUE"),
        ("0", 0),
        ("-0", 0),
        ("+12", 12),
        ("1_000", 1000),
        ("017", 15),
        ("09", "09"),
        ("0o17", "0o17"),
        ("0x1F", 31),
        ("-0x1f", -31),
        ("0b101", 5),
        ("1:30", 90),
        ("22:22", 1342),
        ("8080:80", "8080:80"),
        ("1.5", 1.5),
        ("1.", 1.0),
        (".5", 0.5),
        ("-.5", "-.5"),
        ("1e5", "1e5"),
        ("1.0e+5", 100000.0),
        ("1.0e5", "1.0e5"),
        ("6.8523015e+5", 685230.15),
        ("1:30.5", 90.5),
        (".inf", math.inf),
        ("-.Inf", -math.inf),
        ("2001-12-14", datetime.date(2001, 12, 14)),
        ("2001-1-1", "2001-1-1"),
        ("2001-12-14 21:59:43.10", datetime.datetime(2001, 12, 14, 21, 59, 43, 100000)),
        ("127.0.0.1:4040", "127.0.0.1:4040"),
        ("http://x:80/y", "http://x:80/y"),
        ("a#b", "a#b"),
    ],
)
def test_plain_scalar_resolution(text, expected):
    assert load(f"k: {text}") == {"k": expected}


def test_nan_and_timezones():
    assert math.isnan(load("k: .NaN")["k"])
    value = load("k: 2001-12-14t21:59:43.10-05:00")["k"]
    assert value.utcoffset() == datetime.timedelta(hours=-5)
    assert load("k: 2001-12-14T21:59:43Z")["k"].utcoffset() == datetime.timedelta(0)


def test_quoted_scalars_are_strings():
    assert load("a: '3'\nb: \"yes\"\nc: 'null'\nd: \"\"\ne: ''") == {
        "a": "3",
        "b": "yes",
        "c": "null",
        "d": "",
        "e": "",
    }


def test_double_quoted_escapes():
    assert load(r'k: "\t\n\\\"\x41\u00e9\U0001F600\0\a\e\ \/\N\_\L\P"')["k"] == (
        '\t\n\\"Aé😀\0\x07\x1b /\x85\xa0\u2028\u2029'
    )
    assert load('k: "a\\\n   b"')["k"] == "ab"
    assert load('k: "a\n\n   b  \n c"')["k"] == "a\nb c"


def test_single_quoted_folding():
    assert load("k: 'it''s'")["k"] == "it's"
    assert load("k: 'a\n  b\n\n  c'")["k"] == "a b\nc"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("k: |\n  a\n   b\n\n  c\n", "a\n b\n\nc\n"),
        ("k: |-\n  a\n\n", "a"),
        ("k: |+\n  a\n\n\n", "a\n\n\n"),
        ("k: >\n  a\n  b\n\n  c\n   d\n  e\n", "a b\nc\n d\ne\n"),
        ("k: >-\n  a\n  b", "a b"),
        ("k: |2\n    a\n  b\n", "  a\nb\n"),
        ("k: |1-\n  a", " a"),
        ("- |\n x\n- >\n y\n", None),
        ("k: |  # comment\n  # text\n", "# text\n"),
        ("k: |\nj: 1", ""),
    ],
)
def test_block_scalars(text, expected):
    value = load(text)
    if expected is None:
        assert value == ["x\n", "y\n"]
    else:
        assert value["k"] == expected


def test_multiline_plain_scalar():
    assert load("k: a\n  b\n\n  c\nj: d") == {"k": "a b\nc", "j": "d"}


# --- Structure ---


def test_block_and_flow_collections():
    text = """
top:
  list:
  - a
  - b: 1
    c: [x, {y: z}, [1, 2]]
  - - nested
    - seq
  map: {a: 1, b: [2, 3],
        c: {d: e}}
  pairs: [a: 1, b]
  empty_map: {}
  empty_list: []
"""
    assert load(text) == {
        "top": {
            "list": ["a", {"b": 1, "c": ["x", {"y": "z"}, [1, 2]]}, ["nested", "seq"]],
            "map": {"a": 1, "b": [2, 3], "c": {"d": "e"}},
            "pairs": [{"a": 1}, "b"],
            "empty_map": {},
            "empty_list": [],
        }
    }


def test_key_order_and_duplicate_keys():
    value = load("b: 1\na: 2\nc: 3\na: 4")
    assert list(value.items()) == [("b", 1), ("a", 4), ("c", 3)]


def test_anchors_aliases_and_merges():
    text = """
base: &base {proto: http, inspect: false}
more: &more {inspect: true, schemes: [https]}
one:
  <<: *base
  addr: 80
  proto: tcp
two:
  <<: [*more, *base]
three: *base
"""
    value = load(text)
    assert list(value["one"].items()) == [("proto", "tcp"), ("inspect", False), ("addr", 80)]
    assert list(value["two"].items()) == [("proto", "http"), ("inspect", True), ("schemes", ["https"])]
    assert value["three"] is value["base"]


def test_document_markers_and_comments():
    assert load("# c\n%YAML 1.1\n--- # c\na: 1 # c\n...\n# c\n") == {"a": 1}
    assert load("--- text\n") == "text"
    assert load("") is None
    assert load("# only a comment\n") is None
    assert load("\ufeffa: 1") == {"a": 1}
    assert load("a: 1\r\nb: 2\r\n") == {"a": 1, "b": 2}
    # NEL is a line break, read as "\n" (PyYAML writes it raw in quoted scalars with allow_unicode=True).
    assert load("a: 1\x85b: 'x\x85  y'\rc: |\x85  p\x85  q\x85") == {"a": 1, "b": "x y", "c": "p\nq\n"}


def test_explicit_keys():
    assert load("? a\n: 1\n? b\nc: 3\n") == {"a": 1, "b": None, "c": 3}
    assert load("? |\n  long\n  key\n: v\n") == {"long\nkey\n": "v"}
    assert load("- ? a\n  : b\n- {? c : d, ? e}\n") == [{"a": "b"}, {"c": "d", "e": None}]
    assert load("? " + "k" * 2000 + "\n: 1\n") == {"k" * 2000: 1}


def test_standard_tags():
    value = load("a: !!str 1\nb: !!int '7'\nc: !!float 1\nd: !!bool yes\ne: !!null x\nf: !!binary aGk=\ng: ! 12")
    assert value == {"a": "1", "b": 7, "c": 1.0, "d": True, "e": None, "f": b"hi", "g": 12}


# --- Errors ---


@pytest.mark.parametrize(
    "text, line, column, fragment",
    [
        ("a:\n\tb: 1", 2, 1, "tab"),
        ("a: 1\n b: 2", 2, 3, "not allowed here"),
        ("a: 'x", 1, 4, "end of the file"),
        ("a: 1\n---\nb: 2", 2, 1, "second document"),
        ("? [a]\n: b", 1, 3, "cannot be a key"),
        ("[a]: b", 1, 1, "cannot be a key"),
        ("a: !custom x", 1, 4, "not supported"),
        ("a: !!%73tr x", 1, 4, "not supported"),
        ("%TAG !e! tag:e,2000:\n---\na: 1", 1, 1, "%TAG"),
        ("a: &x [*x]", 1, 8, "recursive"),
        ("a: *nope", 1, 4, "no anchor"),
        ("a: =", 1, 4, "only allowed as a key"),
        ("a: !!int x", 1, 4, "!!int"),
        ("a: 0b_", 1, 4, "cannot read"),
        ("a: \x07", 1, 4, "U+0007"),
        ("a: \u2028", 1, 4, "U+2028"),
        ("a: b\ufeff", 1, 5, "U+FEFF"),
    ],
)
def test_errors_name_file_line_and_column(text, line, column, fragment):
    error = error_of(text)
    assert (error.path, error.line, error.column) == ("t.yml", line, column)
    assert str(error).startswith(f"t.yml:{line}:{column}: ")
    assert fragment in str(error)


@pytest.mark.parametrize(
    "text, line, column, where, escape",
    [
        ('version: "3"\nagent:\n  authtoken: "se\\uD800cret"\n', 3, 17, "agent.authtoken: ", "\\uD800 is half"),
        ('tunnels:\n  web:\n    addr: "x\\udc00"\n', 3, 13, "tunnels.web.addr: ", "\\udc00 is half"),
        ('endpoints:\n- name: a\n  description: "\\U0000DFFF"\n', 3, 17, "endpoints[0].description: ", "\\U0000DFFF"),
        ('a: ["ok", {b: "\\uD800"}]\n', 1, 16, "a[1].b: ", "\\uD800"),
        ('tunnels: {"t\\uD800": {addr: 80}}\n', 1, 13, "a key of tunnels: ", "\\uD800"),
        ('a: "line one\n  \\uDBFF two"\n', 2, 3, "a: ", "\\uDBFF"),
        # A pair written as two escapes, as JSON would: two surrogates to YAML, not the character U+1F600.
        ('a: "\\uD83D\\uDE00"\n', 1, 5, "a: ", "\\uD83D\\uDE00 are a UTF-16 surrogate pair"),
    ],
)
def test_escaped_surrogate_is_refused_naming_file_line_and_key(text, line, column, where, escape):
    # PyYAML reads these as lone surrogates; YAML allows none, and ngrok 2.3.41 ignores the whole file.
    error = error_of(text)
    assert (error.path, error.line, error.column) == ("t.yml", line, column)
    assert str(error).startswith(f"t.yml:{line}:{column}: {where}the escape")
    assert escape in str(error) and "ignore the whole file" in str(error)


def test_escaped_surrogate_pair_error_gives_the_escape_to_write_instead():
    assert "or as \\U0001F600" in str(error_of('a: "\\uD83D\\uDE00"'))
    assert load('a: "\\U0001F600"') == {"a": "\U0001f600"}


@pytest.mark.parametrize(
    "text, expected",
    [
        ('a: "\\\\uD800"', "\\uD800"),  # an escaped backslash, then text
        ("a: '\\uD800'", "\\uD800"),  # single quotes have no escapes
        ("a: \\uD800", "\\uD800"),
        ('a: "\\uD7FF\\uE000"', "\ud7ff\ue000"),  # the characters on either side of the surrogates
    ],
)
def test_what_only_looks_like_a_surrogate_escape_is_read(text, expected):
    assert load(text) == {"a": expected}


def test_deep_nesting_is_an_error_not_a_crash():
    assert "nests deeper" in str(error_of("a: " + "[" * 5000 + "]" * 5000))
    assert "nests deeper" in str(error_of("".join(" " * i + "- \n" for i in range(0, 2000, 2))))


def test_malformed_input_only_ever_raises_pyngrok_config_error():
    rng = random.Random(1234)
    for _ in range(1500):
        text = yamlgen.mutate(rng, yamlgen.document(rng))
        try:
            _yaml_load(text)
        except PyngrokConfigError as error:
            assert error.line is None or error.line >= 1


def test_marked_loader_reports_lines():
    text = "version: '3'\nagent:\n  authtoken: x\nendpoints:\n  - name: a\n    upstream:\n      url: [1]\n"
    value, lines = _yaml_load_marked(text, "ngrok.yml")
    assert value == _yaml_load(text)
    assert lines[("agent", "authtoken")] == 3
    assert lines[("endpoints", 0)] == 5
    assert lines[("endpoints", 0, "upstream", "url")] == 7


# --- Writer ---


@pytest.mark.parametrize(
    "text",
    [
        "3",
        "yes",
        "No",
        "null",
        "~",
        "",
        "0x1F",
        "1e5",
        "1.5",
        "-.5",
        ".inf",
        "2001-12-14",
        "1:30",
        "a: b",
        "a #b",
        "*a",
        "&a",
        "!a",
        "|a",
        ">a",
        "%a",
        "@a",
        "`a",
        "-a",
        "- a",
        "?a",
        "'a",
        '"a',
        "a ",
        " a",
        "a\tb",
        "a\nb",
        "a\n",
        "\n",
        "<<",
        "=",
        "y",
        "N",
        "--- a",
        "... a",
        "a:",
        "[a]",
        "{a}",
        ",a",
        "#a",
        "\x00",
        "\x85",
        "\u2028",
        "\ufeff",
        "é😀",
        "C:\\path\\to",
        'it\'s "quoted"',
    ],
)
def test_writer_quotes_strings_that_need_it(text):
    out = _yaml_dump({"k": text, text: "v"})
    assert _yaml_load(out) == {"k": text, text: "v"}


@pytest.mark.parametrize("text", ["3", "yes", "null", "0x1F", "a: b", "*a", "a ", "1e5", "0o17", "y"])
def test_writer_never_leaves_ambiguous_strings_plain(text):
    assert _yaml_dump({"k": text}) != f"k: {text}\n"


def test_writer_keeps_simple_strings_plain_and_key_order():
    data = {"version": "3", "agent": {"authtoken": "4nq9771bPxe8ctg7LKr", "log_level": "info"}, "b": 1, "a": None}
    assert _yaml_dump(data) == (
        'version: "3"\nagent:\n  authtoken: 4nq9771bPxe8ctg7LKr\n  log_level: info\nb: 1\na: null\n'
    )


def test_writer_block_style_layout():
    data = {"endpoints": [{"name": "a", "upstream": {"url": 80}}, ["x", []], {}], "policy": "line 1\nline 2\n"}
    assert _yaml_dump(data) == (
        "endpoints:\n"
        "  - name: a\n"
        "    upstream:\n"
        "      url: 80\n"
        "  - - x\n"
        "    - []\n"
        "  - {}\n"
        "policy: |\n"
        "  line 1\n"
        "  line 2\n"
    )


def test_writer_scalars():
    data = {
        "t": True,
        "f": False,
        "n": None,
        "i": -7,
        "big": 2**70,
        "x": 1.5,
        "e": 1e20,
        "inf": float("inf"),
        "d": datetime.date(2024, 1, 2),
        "b": b"\x00\xff",
        80: "port",
        None: "null key",
    }
    assert _yaml_load(_yaml_dump(data)) == data
    assert "e: 1.0e+20" in _yaml_dump(data)


def test_writer_round_trips_random_values():
    rng = random.Random(99)
    for _ in range(1500):
        data = {"k": yamlgen.value(rng)}
        assert canon_text(_yaml_load(_yaml_dump(data))) == canon_text(data)


def test_writer_rejects_what_it_cannot_write_naming_the_key():
    recursive: list = []
    recursive.append(recursive)
    for bad, where in (({"k": object()}, "k"), ({"k": [{"j": {1, 2}}]}, "k[0].j"), ({"k": recursive}, "k[0]")):
        with pytest.raises(PyngrokConfigError) as caught:
            _yaml_dump(bad)
        assert str(caught.value).startswith(f"cannot write {where} to a YAML config: ")


# What the ngrok agent cannot read raw in a config file: 2.3.41 refuses a file with a tab anywhere ("config
# contains tab characters"), and reads none of a file with a raw DEL; YAML readers refuse the other C0 and C1
# controls, and take U+0085, U+2028 and U+2029 for line breaks.
NOT_RAW = [chr(code) for code in range(0x20) if code != 0x0A] + ["\x7f"]
NOT_RAW += [chr(code) for code in range(0x80, 0xA0)] + ["\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff"]
RAW_ONLY_WHAT_IS_SAFE = "[^\0-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]*"


@pytest.mark.parametrize("char", NOT_RAW, ids=lambda char: f"U+{ord(char):04X}")
def test_writer_escapes_what_the_agent_cannot_read_raw(char):
    # Every style the writer picks from: plain, double quotes, single quotes ("'" in it), a block literal.
    texts = [char, f"a{char}b", f"it's {char}", f'say "{char}"', f"line 1\nline {char} 2\n", f"{char}\n\n"]
    data = {"k": texts, **{text: "as a key" for text in texts}}
    out = _yaml_dump(data)
    assert re.fullmatch(RAW_ONLY_WHAT_IS_SAFE, out), out
    assert _yaml_load(out) == data
    for text in texts:  # an edit keeps the quotes of the old value where they can hold the new one
        for old in ("plain", "'single'", '"double"'):
            edited = pyngrok._yaml_edit(f"k: {old}\n", "t.yml", [(("k",), text, False)])
            assert re.fullmatch(RAW_ONLY_WHAT_IS_SAFE, edited), edited
            assert _yaml_load(edited) == {"k": text}


def test_config_writes_never_put_a_tab_in_the_file(tmp_path):
    path = str(tmp_path / "ngrok.yml")
    with open(path, "w", encoding="utf-8") as file:
        file.write("version: '3'\nagent:\n  authtoken: 'old'\n")
    pyngrok.install_default_config(path, {"agent": {"authtoken": "new\ttoken", "metadata": "tab\there"}})
    with open(path, encoding="utf-8") as file:
        text = file.read()
    assert "\t" not in text and 'authtoken: "new\\ttoken"' in text
    assert pyngrok.get_ngrok_config(path, use_cache=False)["agent"] == {
        "authtoken": "new\ttoken",
        "metadata": "tab\there",
    }


@pytest.mark.parametrize(
    "data, where",
    [
        ({"agent": {"authtoken": "se\ud800cret"}}, "agent.authtoken"),
        ({"endpoints": [{"name": "a", "description": "x\udfff"}]}, "endpoints[0].description"),
        ({"tunnels": {"t\udc00": {"addr": 80}}}, 'tunnels["t\\udc00"]'),
    ],
)
def test_writer_refuses_a_lone_surrogate_naming_the_key_not_the_value(data, where):
    # No UTF-8 file can hold one, and the agent reads none of a file that escapes one ("\uD800").
    with pytest.raises(PyngrokConfigError) as caught:
        _yaml_dump(data)
    message = str(caught.value)
    assert message.startswith(f"cannot write {where} to a YAML config: ") and "surrogate" in message
    assert "cret" not in message


@pytest.mark.parametrize(
    "text",
    [
        "version: '3'\nagent:\n  authtoken: 'old'\n",
        "version: '3'\nagent:\n  log_level: info\n",
        "version: '3'\nagent: {authtoken: old}\n",
        "version: '3'\nagent: {log_level: info}\n",
        "version: '3'\n",
    ],
    ids=["block, changed", "block, new", "flow, changed", "flow, new", "new mapping"],
)
def test_a_lone_surrogate_leaves_the_config_file_as_it_was(tmp_path, text):
    path = str(tmp_path / "ngrok.yml")
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    with pytest.raises(PyngrokConfigError) as caught:
        pyngrok.install_default_config(path, {"agent": {"authtoken": "\ud800"}})
    assert str(caught.value).startswith("cannot write agent.authtoken to a YAML config: ")
    with open(path, encoding="utf-8") as file:
        assert file.read() == text


def test_writer_writes_long_keys_as_explicit_keys():
    data = {"k" * 2000: {"a": [1]}, "short": {"q" * 1500: None}, "list": [{"r" * 1100: 1}]}
    text = _yaml_dump(data)
    assert text.startswith("? " + "k" * 2000 + "\n:\n  a:\n")
    assert _yaml_load(text) == data


def test_writer_top_level_values():
    assert _yaml_dump({}) == "{}\n"
    assert _yaml_dump([]) == "[]\n"
    assert _yaml_dump(["a", {"b": 1}]) == "- a\n- b: 1\n"
    assert _yaml_load(_yaml_dump("multi\nline")) == "multi\nline"


# --- The schema file ---


def test_conf_schema_json_is_the_schema_in_pyngrok():
    with open(os.path.join(os.path.dirname(HERE), "conf_schema.json"), encoding="utf-8") as file:
        assert file.read() == pyngrok._config_schema_json()
