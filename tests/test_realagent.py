"""tests/realagent.py: with no agent to be had, a test is skipped, or fails when REQUIRE_REAL_AGENT is set."""

from __future__ import annotations

from typing import Any

import pytest

import realagent


@pytest.fixture
def no_agent_to_be_had(tmp_path: Any, monkeypatch: Any) -> str:
    """An empty cache directory and no npm on PATH: the agent really cannot be fetched."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    return str(tmp_path / "cache")


@pytest.mark.parametrize("value", ["", "0"])
def test_a_missing_agent_is_a_skip_by_default(no_agent_to_be_had: str, monkeypatch: Any, value: str) -> None:
    monkeypatch.setenv("REQUIRE_REAL_AGENT", value)
    with pytest.raises(pytest.skip.Exception) as skipped:
        realagent.require_real_agent(no_agent_to_be_had)
    assert "npm is not on PATH" in str(skipped.value)


def test_a_missing_agent_is_a_failure_when_required(no_agent_to_be_had: str, monkeypatch: Any) -> None:
    monkeypatch.setenv("REQUIRE_REAL_AGENT", "1")
    with pytest.raises(pytest.fail.Exception) as failed:
        realagent.require_real_agent(no_agent_to_be_had)
    assert "npm is not on PATH" in str(failed.value) and "REQUIRE_REAL_AGENT" in str(failed.value)


def test_the_cached_agent_is_found_either_way(monkeypatch: Any) -> None:
    monkeypatch.setenv("REQUIRE_REAL_AGENT", "1")
    path = realagent.require_real_agent()
    assert realagent.agent_version_output(path) == "ngrok version " + realagent.AGENT_VERSION
