"""Oracle tier: our YAML reader and writer against PyYAML's ``safe_load`` (pure-Python loader)."""

from __future__ import annotations

import glob
import importlib
import os
import random
import re
import sys

import pytest

yaml = pytest.importorskip("yaml", reason="the oracle tier needs PyYAML (pip install pyyaml)")

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path[:0] = [os.path.dirname(TESTS), TESTS, HERE]

pyngrok = importlib.import_module("pyngrok")
yamlgen = importlib.import_module("yamlgen")
corpus = importlib.import_module("corpus_tool")
same_value = importlib.import_module("helpers").same_value
edits = importlib.import_module("config_edits")
PyngrokConfigError = pyngrok.PyngrokConfigError
_yaml_dump = pyngrok._yaml_dump
_yaml_load = pyngrok._yaml_load
BAD, GOOD, bad_expectations, canon_text, read_text = (
    corpus.BAD,
    corpus.GOOD,
    corpus.bad_expectations,
    corpus.canon_text,
    corpus.read_text,
)

DOCUMENTS = int(os.environ.get("PYNGROK_ORACLE_DOCUMENTS", "3000"))
# What we refuse on purpose although PyYAML reads it (see the YAML section of pyngrok.py).
UNSUPPORTED = ("recursive values", "nests deeper", "is not supported here", "%TAG", "UTF-16 surrogate")


def pyyaml_load(text: str) -> object:
    return yaml.load(text, Loader=yaml.SafeLoader)


def pyyaml_merges_like_6_0_3() -> bool:
    """Whether this PyYAML merges ``<<: [*a, *b]`` as 6.0.3 and the YAML spec do: earlier mappings win.

    PyYAML 6.0.4 lets the later mapping win for most keys (yaml/pyyaml#953, a regression of the merge-key DoS
    fix #937, whose key de-duplication goes by string identity). We follow 6.0.3 and the spec, so with such a PyYAML
    documents with merge keys are left out of the comparison; pin pyyaml==6.0.3 to compare them too.
    """
    value = pyyaml_load("a: &a {x: 1, kk: 1}\nb: &b {kk: 2, y: 2}\nc: {<<: [*a, *b]}\n")
    return list(value["c"].items()) == [("kk", 1), ("y", 2), ("x", 1)]  # type: ignore[index]


MERGES_LIKE_6_0_3 = pyyaml_merges_like_6_0_3()


def compare(text: str) -> str:
    """Compare both readers on one text: 'same', 'both-reject', 'unsupported'; fail on anything else."""
    if not MERGES_LIKE_6_0_3 and "<<" in text:
        return "skipped"
    try:
        expected = pyyaml_load(text)
    except Exception:  # PyYAML raises YAMLError, and ValueError and others from its constructors
        with pytest.raises(PyngrokConfigError):
            _yaml_load(text)
        return "both-reject"
    try:
        value = _yaml_load(text)
    except PyngrokConfigError as error:
        assert any(reason in str(error) for reason in UNSUPPORTED), f"{error}\n---\n{text}"
        return "unsupported"
    assert canon_text(value) == canon_text(expected), text
    return "same"


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(GOOD, "*.yml"))), ids=os.path.basename)
def test_good_corpus_equals_pyyaml(path):
    text = read_text(path)
    if not MERGES_LIKE_6_0_3 and "<<" in text:
        pytest.skip(f"PyYAML {yaml.__version__} merges lists of mappings against the spec (yaml/pyyaml#953)")
    assert canon_text(_yaml_load(text)) == canon_text(pyyaml_load(text))
    with open(path[:-4] + ".json", encoding="utf-8") as file:
        assert canon_text(pyyaml_load(text)) == file.read().rstrip("\n")


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(BAD, "*.yml"))), ids=os.path.basename)
def test_bad_corpus_is_bad_for_pyyaml_too(path):
    expected = bad_expectations()[os.path.basename(path)]
    text = read_text(path)
    try:
        pyyaml_load(text)
    except Exception:  # PyYAML raises YAMLError, and ValueError and others from its constructors
        accepted = False
    else:
        accepted = True
    assert accepted == expected["unsupported"]


def test_random_documents_equal_pyyaml():
    outcomes = {"same": 0, "both-reject": 0, "unsupported": 0, "skipped": 0}
    for seed in range(DOCUMENTS):
        outcomes[compare(yamlgen.document(random.Random(seed)))] += 1
    assert outcomes["same"] + outcomes["skipped"] == DOCUMENTS, outcomes
    assert outcomes["skipped"] < DOCUMENTS // 5, outcomes


def test_documents_pyyaml_dumped_equal_pyyaml():
    """PyYAML's own output, with long and multi-line keys (written as explicit '?' keys) and merges added."""
    outcomes = {"same": 0, "both-reject": 0, "unsupported": 0, "skipped": 0}
    explicit_keys = merges = 0
    for seed in range(DOCUMENTS):
        text = yamlgen.pyyaml_dumped(random.Random(20_000_000 + seed), yaml)
        explicit_keys += bool(re.search(r"^[ -]*\? ", text, re.MULTILINE))
        merges += "\n  <<: " in text
        outcomes[compare(text)] += 1
    assert outcomes["same"] + outcomes["skipped"] == DOCUMENTS, outcomes
    # Both features must be well represented for the comparison to mean something.
    assert explicit_keys > DOCUMENTS // 3 and merges > DOCUMENTS // 5, (explicit_keys, merges)


def test_mutated_documents_agree_with_pyyaml():
    outcomes = {"same": 0, "both-reject": 0, "unsupported": 0, "skipped": 0}
    for seed in range(DOCUMENTS):
        rng = random.Random(10_000_000 + seed)
        outcomes[compare(yamlgen.mutate(rng, yamlgen.document(rng)))] += 1
    # Both kinds must be well represented for the comparison to mean something.
    assert outcomes["same"] > DOCUMENTS // 5 and outcomes["both-reject"] > DOCUMENTS // 5, outcomes
    assert outcomes["unsupported"] < DOCUMENTS // 100, outcomes


def test_garbled_text_that_both_read_reads_the_same():
    """Text that is mostly not quite YAML (what the fuzz run feeds our reader): where both readers accept it
    they read the same value; ours may refuse more."""
    outcomes = {"same": 0, "we refuse": 0, "only we read it": 0, "skipped": 0}
    for seed in range(DOCUMENTS):
        text = yamlgen.garbled(random.Random(30_000_000 + seed))
        if not MERGES_LIKE_6_0_3 and "<<" in text:
            outcomes["skipped"] += 1
            continue
        try:
            ours = _yaml_load(text)
        except PyngrokConfigError:
            outcomes["we refuse"] += 1
            continue
        try:
            theirs = pyyaml_load(text)
        except Exception:  # PyYAML raises YAMLError, and ValueError and others from its constructors
            outcomes["only we read it"] += 1
            continue
        assert same_value(ours, theirs), f"PyYAML reads {theirs!r:.200}, we read {ours!r:.200} from {text!r}"
        outcomes["same"] += 1
    assert outcomes["same"] > DOCUMENTS // 10 and outcomes["we refuse"] > DOCUMENTS // 10, outcomes


def test_writer_output_loads_back_equal_with_pyyaml():
    for seed in range(DOCUMENTS):
        data = {"value": yamlgen.value(random.Random(seed))}
        text = _yaml_dump(data)
        assert canon_text(pyyaml_load(text)) == canon_text(data), text


def test_writer_escapes_load_back_equal_with_pyyaml():
    # What no config file may hold raw (C0 controls with the tab, DEL, C1 controls, U+2028/2029, a byte order
    # mark, non-characters), alone and in each quoting style the writer picks, in values, keys and edits.
    chars = [chr(code) for code in range(0x20) if code != 0x0A] + ["\x7f"]
    chars += [chr(code) for code in range(0x80, 0xA0)] + ["\u2028", "\u2029", "\ufeff", "\ufffe", "\uffff"]
    for char in chars:
        texts = [char, f"a{char}b", f"it's {char}", f'say "{char}"', f"line 1\nline {char} 2\n"]
        data = {"k": texts, **{text: "as a key" for text in texts}}
        assert pyyaml_load(_yaml_dump(data)) == data
        for text in texts:
            edited = pyngrok._yaml_edit("k: 'old'\n", "t.yml", [(("k",), text, False)])
            assert pyyaml_load(edited) == {"k": text}


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(GOOD, "*.yml"))), ids=os.path.basename)
def test_writer_output_of_corpus_loads_back_equal_with_pyyaml(path):
    # The writer never writes merge keys, so this holds whatever PyYAML's merge behaviour.
    value = _yaml_load(read_text(path))
    assert canon_text(pyyaml_load(_yaml_dump(value))) == canon_text(value)


@pytest.mark.parametrize("scenario", edits.SCENARIOS)
@pytest.mark.parametrize("source", edits.FILES, ids=os.path.basename)
def test_config_edits_read_by_pyyaml_as_the_expected_merge(source, scenario, tmp_path, fake_ngrok_path):
    pyngrok._config_cache.clear()
    original, result, calls, version = edits.run_scenario(pyngrok, source, scenario, str(tmp_path), fake_ngrok_path)
    if not MERGES_LIKE_6_0_3 and "<<" in original:
        pytest.skip(f"PyYAML {yaml.__version__} merges lists of mappings against the spec (yaml/pyyaml#953)")
    edits.check_edit(original, result, calls, version, pyyaml_load)
    # Key order too: the edited file reads as the expected config, key for key.
    expected = edits.expected_config(pyyaml_load(original), calls, version)
    assert canon_text(pyyaml_load(result)) == canon_text(expected)
