"""Oracle tier: conf_schema.json is a valid JSON Schema, and the ``jsonschema`` package agrees with our validator."""

from __future__ import annotations

import copy
import glob
import importlib
import json
import os
import random
import sys
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="the oracle tier needs jsonschema (pip install jsonschema)")

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)
sys.path[:0] = [ROOT, TESTS]

pyngrok = importlib.import_module("pyngrok")
corpus = importlib.import_module("corpus_tool")
_config_schema_verdict = pyngrok._config_schema_verdict
_yaml_load = pyngrok._yaml_load
GOOD, read_text = corpus.GOOD, corpus.read_text

GOOD_FILES = sorted(glob.glob(os.path.join(GOOD, "*.yml")))


def validator() -> Any:
    with open(os.path.join(ROOT, "conf_schema.json"), encoding="utf-8") as file:
        schema = json.load(file)
    return jsonschema.Draft202012Validator(schema)


def test_schema_is_a_valid_draft_2020_12_schema():
    with open(os.path.join(ROOT, "conf_schema.json"), encoding="utf-8") as file:
        jsonschema.Draft202012Validator.check_schema(json.load(file))


@pytest.mark.parametrize("path", GOOD_FILES, ids=os.path.basename)
def test_same_verdict_on_corpus(path):
    data = _yaml_load(read_text(path))
    assert validator().is_valid(data) == (not _config_schema_verdict(data))


def test_corpus_verdicts():
    # Real-looking configs pass (extension keys like x-* only draw warnings), except two that hold the classic
    # traps: "metadata: yes" is a boolean, and an empty "metadata:" is null.
    invalid = [os.path.basename(path) for path in GOOD_FILES if _config_schema_verdict(_yaml_load(read_text(path)))]
    assert invalid == ["v2_yaml11_scalars.yml", "v3_empty_values.yml"]


REPLACEMENTS: list[Any] = [1, -1, 2.5, "text", "", True, False, None, [], ["a"], [1], {}, {"a": 1}, "iftty", "eu"]


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(paths_of(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(paths_of(item, (*prefix, index)))
    return found


def test_same_verdict_on_perturbed_configs():
    rng = random.Random(7)
    check = validator()
    configs = [_yaml_load(read_text(path)) for path in GOOD_FILES]
    verdicts = {True: 0, False: 0}
    for _ in range(3000):
        data = copy.deepcopy(rng.choice(configs))
        for _ in range(rng.randint(1, 2)):
            target = rng.choice(paths_of(data)[1:])
            parent = data
            for key in target[:-1]:
                parent = parent[key]
            if rng.random() < 0.2 and isinstance(parent, dict):
                del parent[target[-1]]
            else:
                parent[target[-1]] = copy.deepcopy(rng.choice(REPLACEMENTS))
        ours = not _config_schema_verdict(data)
        assert check.is_valid(data) == ours, json.dumps(data, default=str)[:500]
        verdicts[ours] += 1
    assert min(verdicts.values()) > 300, verdicts
