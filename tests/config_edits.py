"""Edits of the config corpus (tests/config_corpus/): what each one sets, and the checks of its result.

Each corpus file goes through ``set_auth_token``, ``set_api_key`` and ``install_default_config`` (new keys,
existing keys, a new nested mapping, and all of them in turn). ``check_edit`` then holds the result to two
rules: the text differs from the original only in lines that write a key being set, each kept line byte for
byte (comments, quoting, indentation, line breaks, byte order mark), and a reader (ours, or PyYAML in the oracle
tier) reads the result as the original config with the data merged in.
"""

from __future__ import annotations

import copy
import difflib
import glob
import os
import re
import shutil
from typing import Any, Callable, Dict, List, Tuple

from helpers import read_text

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "config_corpus")
FILES = sorted(glob.glob(os.path.join(CORPUS, "*.yml")))

TOKEN = "2newTOKEN_abcdefGHIJKL0123456789"
API_KEY = "ak_2newKEY abc"
SCENARIOS = ("set_auth_token", "set_api_key", "install_new_keys", "install_nested", "all_in_turn")

Reader = Callable[[str], Any]


def split_lines(text: str) -> List[str]:
    """The lines of a text with their line breaks ("\\r\\n", "\\r" or "\\n"), as the reader counts them."""
    return re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", text)


def file_version(pyngrok: Any, text: str, name: str) -> str:
    """The config version a file is written for: its ``version``, else what its name says."""
    value = pyngrok._yaml_load(text)
    version = value.get("version") if isinstance(value, dict) else None
    if version is not None:
        return str(version)
    return "2" if name.startswith("v2") else "3"


def scenario_data(scenario: str, version: str) -> List[Tuple[str, Dict[str, Any]]]:
    """The calls a scenario makes: (function, data); data is what the call merges into the config."""

    def agent(keys: Dict[str, Any]) -> Dict[str, Any]:
        return {"agent": keys} if version == "3" else keys

    calls = {
        "set_auth_token": [("set_auth_token", agent({"authtoken": TOKEN}))],
        "set_api_key": [("set_api_key", agent({"api_key": API_KEY}))],
        "install_new_keys": [("install", agent({"region": "eu", "console_ui": False, "log_level": "info"}))],
        "install_nested": [
            ("install", {**agent({"authtoken": "tok-nested"}), "tunnels": {"added": {"proto": "http", "addr": 8081}}})
        ],
    }
    if scenario == "all_in_turn":
        return [call for name in SCENARIOS[:-1] for call in calls[name]]
    return calls[scenario]


def run_scenario(pyngrok: Any, source: str, scenario: str, directory: str, ngrok_path: str) -> Tuple[Any, ...]:
    """Copy a corpus file and make a scenario's calls on the copy: (original text, result text, calls, version).

    :param ngrok_path: An agent binary that exists (the fake one), so that ``set_auth_token`` installs nothing.
    """
    path = os.path.join(directory, "ngrok.yml")
    shutil.copyfile(source, path)
    original = read_text(path)
    version = file_version(pyngrok, original, os.path.basename(source))
    calls = scenario_data(scenario, version)
    config = pyngrok.PyngrokConfig(ngrok_path=ngrok_path, config_path=path, config_version=version)
    for function, data in calls:
        if function == "set_auth_token":
            pyngrok.set_auth_token(TOKEN, config)
        elif function == "set_api_key":
            pyngrok.set_api_key(API_KEY, config)
        else:
            pyngrok.install_default_config(path, data, ngrok_version="3", config_version=version)
    return original, read_text(path), calls, version


def merge(config: Dict[str, Any], data: Dict[str, Any]) -> None:
    """Merge as install_default_config does: mappings key by key, in place (so aliases see it), others replaced."""
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merge(config[key], value)
        else:
            config[key] = copy.deepcopy(value)


def expected_config(original: Any, calls: List[Tuple[str, Dict[str, Any]]], version: str) -> Dict[str, Any]:
    """What the original config (as a reader read it) is after the calls: a missing version first, data merged."""
    config = original if isinstance(original, dict) else {}
    if "version" not in config:
        config = {"version": version, **config}
    for _, data in calls:
        merge(config, data)
    return config


def keys_of(data: Any) -> set:
    """Every key of a value, at any depth."""
    keys: set = set()
    if isinstance(data, dict):
        for key, value in data.items():
            keys.add(str(key))
            keys |= keys_of(value)
    return keys


def writes_one_of(line: str, keys: set) -> bool:
    """Whether a line writes one of the keys: ``key:`` at its start (after any ``-``, ``?`` or ``:``), or in a
    flow mapping."""
    for key in keys:
        written = r"""["']?""" + re.escape(key) + r"""["']?\s*:"""
        if re.match(r"\s*(?:[-?:]\s+)*" + written, line) or re.search(r"[{,]\s*" + written, line):
            return True
    return False


def check_edit(original: str, result: str, calls: List[Tuple[str, Dict[str, Any]]], version: str, read: Reader) -> None:
    """The rules a config edit keeps (see the module docstring); fails with the diff when one is broken."""
    keys = {"version"} | set().union(*(keys_of(data) for _, data in calls))
    before, after = split_lines(original), split_lines(result)
    newline = re.search("\r\n|\r|\n", original)
    if before and newline and before[-1][-1:] not in "\r\n" and before[-1] + newline.group() in after:
        before[-1] += newline.group()  # a key added after the last line gives it a line break
    diff = "\n".join(difflib.unified_diff(before, after, lineterm=""))
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, before, after, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        for line in before[i1:i2] + after[j1:j2]:
            assert writes_one_of(line, keys), f"a line that sets none of {sorted(keys)} changed: {line!r}\n{diff}"
        for old, new in zip(before[i1:i2], after[j1:j2]):
            comment = re.search(r"\s#.*$", old.rstrip("\r\n"))
            if comment and not re.match(r"""\s*["']""", old[comment.start() :]):
                assert new.rstrip("\r\n").endswith(comment.group()), f"the comment of {old!r} is lost\n{diff}"
    for line in after[:-1]:
        assert newline is None or line.endswith(newline.group()), f"line break changed in {line!r}\n{diff}"
    assert result.startswith("\ufeff") == original.startswith("\ufeff"), diff
    assert result.count("\ufeff") == original.count("\ufeff"), diff
    assert read(result) == expected_config(read(original), calls, version), diff
