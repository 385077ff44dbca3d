"""Helpers shared by the corpus tests: a JSON form of loaded YAML values that keeps key order and key types.

Run as a script to (re)write the expected files from the current reader, after review:
``python tests/corpus_tool.py``.
"""

from __future__ import annotations

import base64
import datetime
import glob
import json
import math
import os
import sys
from typing import Any

from helpers import read_text

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "yaml_corpus")
GOOD = os.path.join(CORPUS, "good")
BAD = os.path.join(CORPUS, "bad")


def canon(value: Any) -> Any:
    """A JSON-able form of a loaded value: mappings with non-string keys become ``{"__pairs__": [[k, v], ...]}``."""
    if isinstance(value, dict):
        if all(isinstance(key, str) for key in value) and "__pairs__" not in value:
            return {key: canon(item) for key, item in value.items()}
        return {"__pairs__": [[canon(key), canon(item)] for key, item in value.items()]}
    if isinstance(value, list):
        return [canon(item) for item in value]
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return {"__float__": repr(value)}
    if isinstance(value, datetime.datetime):
        return {"__datetime__": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"__date__": value.isoformat()}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    return value


def canon_text(value: Any) -> str:
    """Canonical JSON text: equal texts mean equal values, key order and types included."""
    return json.dumps(canon(value), ensure_ascii=False, indent=1)


def bad_expectations() -> dict[str, Any]:
    with open(os.path.join(BAD, "expected.json"), encoding="utf-8") as file:
        return json.load(file)  # type: ignore[no-any-return]


def main() -> None:
    sys.path.insert(0, os.path.dirname(HERE))
    import pyngrok

    for path in sorted(glob.glob(os.path.join(GOOD, "*.yml"))):
        value = pyngrok._yaml_load(read_text(path), os.path.basename(path))
        with open(path[:-4] + ".json", "w", encoding="utf-8") as file:
            file.write(canon_text(value) + "\n")
    expected: dict[str, Any] = {}
    old = bad_expectations() if os.path.exists(os.path.join(BAD, "expected.json")) else {}
    for path in sorted(glob.glob(os.path.join(BAD, "*.yml"))):
        name = os.path.basename(path)
        try:
            pyngrok._yaml_load(read_text(path), name)
        except pyngrok.PyngrokConfigError as error:
            entry = {"line": error.line, "column": error.column, "message": str(error).split(": ", 1)[1]}
            entry["unsupported"] = old.get(name, {}).get("unsupported", False)
            expected[name] = entry
        else:
            raise SystemExit(f"{name} loads without an error")
    with open(os.path.join(BAD, "expected.json"), "w", encoding="utf-8") as file:
        json.dump(expected, file, indent=2, ensure_ascii=False)
        file.write("\n")


if __name__ == "__main__":
    main()
