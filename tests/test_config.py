"""The ngrok config file: reading, installing, validating, and the schema."""

from __future__ import annotations

import importlib
import logging
import os
import stat
import sys
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

pyngrok = importlib.import_module("pyngrok")
PyngrokConfigError = pyngrok.PyngrokConfigError
PyngrokError = pyngrok.PyngrokError

POSIX = os.name == "posix"


@pytest.fixture(autouse=True)
def clear_cache():
    pyngrok._config_cache.clear()
    yield
    pyngrok._config_cache.clear()


def write(path, text):
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    return str(path)


def read(path):
    with open(path, encoding="utf-8") as file:
        return file.read()


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


# --- get_default_config / get_ngrok_config ---


@pytest.mark.parametrize("ngrok_version", ["2", "3", "v3", "V2"])
def test_default_config(ngrok_version):
    assert pyngrok.get_default_config(ngrok_version, "3") == {"version": "3"}
    assert pyngrok.get_default_config(ngrok_version, "2") == {"version": "2"}


@pytest.mark.parametrize("ngrok_version", ["1", "4", None, ""])
def test_default_config_unsupported_version(ngrok_version):
    with pytest.raises(PyngrokError, match="supported version"):
        pyngrok.get_default_config(ngrok_version, "3")


def test_get_ngrok_config_reads_and_caches(tmp_path):
    path = write(tmp_path / "ngrok.yml", "version: '3'\nagent:\n  authtoken: abc\n")
    config = pyngrok.get_ngrok_config(path)
    assert config == {"version": "3", "agent": {"authtoken": "abc"}}
    write(path, "version: '2'\n")
    assert pyngrok.get_ngrok_config(path) is config
    assert pyngrok.get_ngrok_config(path, use_cache=False) == {"version": "2"}
    assert pyngrok.get_ngrok_config(path) == {"version": "2"}


def test_get_ngrok_config_empty_file_is_default(tmp_path):
    path = write(tmp_path / "ngrok.yml", "# nothing yet\n")
    assert pyngrok.get_ngrok_config(path, ngrok_version="3", config_version="3") == {"version": "3"}


def test_get_ngrok_config_errors(tmp_path):
    path = write(tmp_path / "ngrok.yml", "version: '3'\nagent:\n\tauthtoken: abc\n")
    with pytest.raises(PyngrokConfigError) as info:
        pyngrok.get_ngrok_config(path)
    assert (info.value.path, info.value.line, info.value.column) == (path, 3, 1)
    assert str(info.value).startswith(f"{path}:3:1: ")
    write(path, "- a\n- b\n")
    with pytest.raises(PyngrokConfigError, match="mapping"):
        pyngrok.get_ngrok_config(path, use_cache=False)
    with open(path, "wb") as file:
        file.write(b"a: \xff\n")
    with pytest.raises(PyngrokConfigError, match="UTF-8"):
        pyngrok.get_ngrok_config(path, use_cache=False)
    with pytest.raises(OSError):
        pyngrok.get_ngrok_config(str(tmp_path / "missing.yml"))


def test_installer_facade_exports():
    from pyngrok import installer

    for name in (
        "get_ngrok_config",
        "get_default_config",
        "install_default_config",
        "validate_config",
        "config_file_lock",
        "SUPPORTED_NGROK_VERSIONS",
    ):
        assert getattr(installer, name) is getattr(pyngrok, name)


# --- install_default_config ---


def test_install_creates_file_and_directory(tmp_path):
    path = str(tmp_path / "new" / "dir" / "ngrok.yml")
    pyngrok.install_default_config(path, ngrok_version="3", config_version="3")
    assert read(path) == 'version: "3"\n'
    assert pyngrok.get_ngrok_config(path) == {"version": "3"}
    if POSIX:
        assert mode_of(os.path.dirname(path)) == 0o700 & ~current_umask()
        assert mode_of(path) == 0o644 & ~current_umask()
    assert os.listdir(os.path.dirname(path)) == ["ngrok.yml"]


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.skipif(not POSIX, reason="file modes")
def test_install_with_authtoken_is_private(tmp_path):
    path = str(tmp_path / "ngrok.yml")
    pyngrok.install_default_config(path, {"agent": {"authtoken": "secret"}})
    assert mode_of(path) == 0o600
    assert pyngrok.get_ngrok_config(path, use_cache=False) == {"version": "3", "agent": {"authtoken": "secret"}}
    v2 = str(tmp_path / "v2.yml")
    pyngrok.install_default_config(v2, {"api_key": "k"}, ngrok_version="2", config_version="2")
    assert mode_of(v2) == 0o600


@pytest.mark.skipif(not POSIX, reason="file modes")
def test_install_keeps_existing_mode(tmp_path):
    path = write(tmp_path / "ngrok.yml", "version: '3'\n")
    os.chmod(path, 0o640)
    pyngrok.install_default_config(path, {"agent": {"log_level": "debug"}})
    assert mode_of(path) == 0o640


def test_install_merges_and_keeps_every_key_in_order(tmp_path):
    original = """# My ngrok config
# (hand written)

version: "3"
agent:
  authtoken: tok   # the token
  future_option: 42
endpoints:
  - name: web
    upstream:
      url: 8080
    traffic_policy:
      on_http_request:
        - actions:
            - type: deny
x-custom: &x {a: 1}
x-other: *x
"""
    path = write(tmp_path / "ngrok.yml", original)
    data = {"agent": {"log_level": "debug", "authtoken": "new"}, "tunnels": {"t": {"proto": "http", "addr": 80}}}
    pyngrok.install_default_config(path, data)
    config = pyngrok.get_ngrok_config(path, use_cache=False)
    assert list(config) == ["version", "agent", "endpoints", "x-custom", "x-other", "tunnels"]
    assert list(config["agent"].items()) == [("authtoken", "new"), ("future_option", 42), ("log_level", "debug")]
    assert config["endpoints"][0]["traffic_policy"] == {"on_http_request": [{"actions": [{"type": "deny"}]}]}
    assert config["x-other"] == {"a": 1}
    assert read(path).startswith('# My ngrok config\n# (hand written)\n\nversion: "3"\n')
    assert data == {
        "agent": {"log_level": "debug", "authtoken": "new"},
        "tunnels": {"t": {"proto": "http", "addr": 80}},
    }


@pytest.mark.parametrize("config_version", ["2", "3"])
def test_install_writes_the_default_version_into_a_file_without_one(tmp_path, config_version):
    path = write(tmp_path / "ngrok.yml", "authtoken: abc\ntunnels:\n  web: {proto: http, addr: 80}\n")
    pyngrok.install_default_config(path, {"region": "eu"}, ngrok_version="3", config_version=config_version)
    assert pyngrok.get_ngrok_config(path, use_cache=False) == {
        "version": config_version,
        "authtoken": "abc",
        "tunnels": {"web": {"proto": "http", "addr": 80}},
        "region": "eu",
    }


def test_install_keeps_the_version_of_an_existing_file(tmp_path):
    path = write(tmp_path / "ngrok.yml", "version: 2\nauthtoken: abc\n")
    pyngrok.install_default_config(path, {"region": "eu"}, ngrok_version="3", config_version="3")
    assert pyngrok.get_ngrok_config(path, use_cache=False) == {"version": 2, "authtoken": "abc", "region": "eu"}


def test_install_keeps_a_byte_order_mark_and_the_comments_after_it(tmp_path):
    path = tmp_path / "ngrok.yml"
    path.write_bytes("\ufeff# my config\r\n# second line\r\nversion: '3'\r\n".encode())
    pyngrok.install_default_config(str(path), {"agent": {"authtoken": "tok"}})
    text = path.read_bytes().decode("utf-8")
    assert text.startswith("\ufeff# my config")
    assert "# second line" in text
    assert pyngrok.get_ngrok_config(str(path), use_cache=False) == {"version": "3", "agent": {"authtoken": "tok"}}


def test_install_refreshes_cache(tmp_path):
    path = write(tmp_path / "ngrok.yml", "version: '3'\n")
    assert pyngrok.get_ngrok_config(path) == {"version": "3"}
    pyngrok.install_default_config(path, {"agent": {"metadata": "m"}})
    assert pyngrok.get_ngrok_config(path) == {"version": "3", "agent": {"metadata": "m"}}


@pytest.mark.parametrize(
    "data, message",
    [
        ({"agent": {"web_addr": False}}, '"web_addr" cannot be False'),
        ({"agent": {"log_format": "json"}}, '"log_format" must be "term"'),
        ({"agent": {"log_level": "warn"}}, '"log_level" must be "info"'),
        ({"endpoints": [{"name": "a", "upstream": {"url": [1]}}]}, "endpoints[0].upstream.url: expected string or"),
    ],
)
def test_install_refuses_invalid_data_and_leaves_file_alone(tmp_path, data, message):
    path = write(tmp_path / "ngrok.yml", "version: '3'\nagent:\n  authtoken: tok\n")
    with pytest.raises(PyngrokConfigError) as info:
        pyngrok.install_default_config(path, data)
    assert message in str(info.value)
    assert read(path) == "version: '3'\nagent:\n  authtoken: tok\n"
    assert os.listdir(tmp_path) == ["ngrok.yml"]


def test_install_refuses_broken_existing_file(tmp_path):
    path = write(tmp_path / "ngrok.yml", "version: '3'\nagent: [\n")
    with pytest.raises(PyngrokConfigError):
        pyngrok.install_default_config(path, {"agent": {"authtoken": "x"}})
    assert read(path) == "version: '3'\nagent: [\n"


@pytest.mark.skipif(not POSIX, reason="symlinks")
def test_install_through_a_symlink_edits_the_target(tmp_path):
    target = write(tmp_path / "real.yml", "version: '3'\n")
    link = tmp_path / "ngrok.yml"
    os.symlink(target, link)
    pyngrok.install_default_config(str(link), {"agent": {"metadata": "m"}})
    assert os.path.islink(link)
    assert pyngrok.get_ngrok_config(target, use_cache=False) == {"version": "3", "agent": {"metadata": "m"}}


def test_concurrent_installs_leave_a_valid_file(tmp_path):
    path = str(tmp_path / "ngrok.yml")
    errors = []

    def worker(index):
        try:
            for round_number in range(5):
                pyngrok.install_default_config(path, {"agent": {f"k{index}": round_number}})
        except Exception as error:  # the test reports it
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    config = pyngrok.get_ngrok_config(path, use_cache=False)
    assert config["agent"] == {f"k{index}": 4 for index in range(6)} or sorted(config["agent"]) == sorted(
        f"k{index}" for index in range(6)
    )
    assert os.listdir(tmp_path) == ["ngrok.yml"]


# --- validate_config ---


@pytest.mark.parametrize(
    "data, message",
    [
        ({"web_addr": False}, '"web_addr" cannot be False, as the ngrok API is a dependency for pyngrok'),
        ({"log_format": "json"}, '"log_format" must be "term" to be compatible with pyngrok'),
        ({"log_level": "warn"}, '"log_level" must be "info" to be compatible with pyngrok'),
        ({"version": "3", "agent": {"web_addr": False}}, '"web_addr" cannot be False'),
        ({"version": 3, "agent": {"log_level": "crit"}}, '"log_level" must be "info"'),
    ],
)
def test_validate_config_pyngrok_rules(data, message):
    with pytest.raises(PyngrokConfigError) as info:
        pyngrok.validate_config(data)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize(
    "data",
    [
        {"version": "3", "agent": {"log_level": "debug", "web_addr": "localhost:4040"}},
        {"version": "3", "agent": None},
        {"version": "3"},
        {"version": "2", "log_level": "info", "tunnels": {"a": {"addr": 80, "proto": "http"}}},
        {"web_addr": False, "version": "3"},
        {},
    ],
)
def test_validate_config_accepts(data):
    pyngrok.validate_config(data)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"version": "3", "agent": "tok"}, "agent: expected mapping or null, got string"),
        ({"version": "3", "endpoints": {"a": 1}}, "endpoints: expected list or null, got mapping"),
        ({"version": "3", "endpoints": [{"url": "x"}]}, "endpoints[0]: missing the required key 'name'"),
        ({"version": "2", "inspect_db_size": "big"}, "inspect_db_size: expected integer, got string"),
        ({"version": "3", "agent": {"region": ["eu"]}}, "agent.region: expected string, got list"),
        ({"version": "4"}, 'version: unsupported config version "4": use "2" or "3"'),
        ({"version": 1.5, "agent": {}}, 'version: unsupported config version 1.5: use "2" or "3"'),
    ],
)
def test_validate_config_schema_errors(data, message):
    with pytest.raises(PyngrokConfigError) as info:
        pyngrok.validate_config(data)
    assert message in str(info.value)


@pytest.mark.parametrize(
    "data, warning",
    [
        (
            {"version": "3", "agent": {"region": "us-cal-2"}},
            'agent.region: the value "us-cal-2" is not one of the documented',
        ),
        ({"version": "3", "agent": {"region": "us-cal-2"}}, "did you mean 'us-cal-1'?"),
        ({"version": "2", "tunnels": {"web": {"proto": "udp"}}}, 'tunnels.web.proto: the value "udp" is not one of'),
        ({"version": "2", "console_ui": "maybe"}, 'console_ui: the value "maybe" is not one of the documented values'),
        ({"version": "3", "tunnels": {"w": {"addr": 80, "auth": "u:p"}}}, "tunnels.w.auth: a key of ngrok 2 agents"),
        ({"version": "3", "tunnels": {"w": {"addr": 80, "bind_tls": True}}}, "ngrok 3 agents refuse: use schemes"),
    ],
)
def test_validate_config_value_lists_and_legacy_keys_are_advice(caplog, data, warning):
    with caplog.at_level(logging.WARNING, logger="pyngrok"):
        pyngrok.validate_config(data)
    assert warning in caplog.text


@pytest.mark.parametrize("value", ["auto", "eu-lon-1", "us-cal-1"], ids=["auto", "eu-lon-1", "us-cal-1"])
def test_regions_the_agent_takes_draw_no_warning(caplog, value):
    with caplog.at_level(logging.WARNING, logger="pyngrok"):
        pyngrok.validate_config({"version": "3", "agent": {"region": value, "local_storage": False}})
        pyngrok.validate_config(
            {"version": "3", "endpoints": [{"name": "a", "upstream": {"url": 80, "protocol": "http2"}}]}
        )
    assert caplog.text == ""


def test_validate_config_warns_about_unknown_keys(caplog):
    with caplog.at_level(logging.WARNING, logger="pyngrok"):
        pyngrok.validate_config({"version": "3", "agent": {"authtokn": "x"}, "authtoken": "y", "brand_new": 1})
    text = caplog.text
    assert "agent.authtokn: unknown key, did you mean 'authtoken'?" in text
    assert "authtoken: unknown key (in a version 3 config this key belongs under 'agent:')" in text
    assert "brand_new: unknown key" in text


# --- _validate_config_file ---


def test_validate_config_file_names_key_path_and_line(tmp_path):
    text = """version: "3"
agent:
  authtoken: tok
endpoints:
  - name: a
    upstream:
      url: 80
  - name: b
    upstream:
      url:
        - 1
        - 2
"""
    path = write(tmp_path / "ngrok.yml", text)
    with pytest.raises(PyngrokConfigError) as info:
        pyngrok._validate_config_file(path)
    assert str(info.value) == f"endpoints[1].upstream.url: expected string or integer, got list ({path}:10)"
    assert info.value.line == 10


def test_validate_config_file_warnings(tmp_path):
    path = write(tmp_path / "ngrok.yml", "version: 3\nagent:\n  authtokn: tok\n  log_level: info\nserver_addr: x\n")
    warnings = pyngrok._validate_config_file(path)
    assert warnings == [
        f"agent.authtokn: unknown key, did you mean 'authtoken'? ({path}:3)",
        f"server_addr: unknown key (in a version 3 config this is 'connect_url' under 'agent:') ({path}:5)",
    ]
    assert pyngrok.get_ngrok_config(path)["agent"]["authtokn"] == "tok"


def test_validate_config_file_pyngrok_rules_with_line(tmp_path):
    path = write(tmp_path / "ngrok.yml", "version: '2'\n\nweb_addr: false\n")
    with pytest.raises(PyngrokConfigError) as info:
        pyngrok._validate_config_file(path)
    assert str(info.value) == f'"web_addr" cannot be False, as the ngrok API is a dependency for pyngrok ({path}:3)'


def test_an_unsupported_version_is_named_with_file_and_line_and_nothing_else(tmp_path):
    path = write(tmp_path / "ngrok.yml", '# from a newer agent\nversion: "4"\nagent:\n  authtoken: tok\n')
    with pytest.raises(PyngrokConfigError) as info:
        pyngrok._validate_config_file(path)
    assert str(info.value) == f'version: unsupported config version "4": use "2" or "3" ({path}:2)'
    assert info.value.line == 2


def test_validate_config_file_yaml_error_and_empty(tmp_path):
    path = write(tmp_path / "ngrok.yml", "")
    assert pyngrok._validate_config_file(path) == []
    assert pyngrok._validate_config_file(path, ngrok_version="2") == []
    write(path, "a: b: c\n")
    with pytest.raises(PyngrokConfigError, match=r":1:5: "):
        pyngrok._validate_config_file(path)


def test_schema_json_is_valid_json_with_both_versions():
    import json

    schema = json.loads(pyngrok._config_schema_json())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"config_v2", "config_v3", "tunnel", "endpoint"} <= set(schema["$defs"])
    agent = schema["$defs"]["config_v3"]["properties"]["agent"]["properties"]
    for key in ("log_level", "log_format", "log", "console_ui", "region", "authtoken", "connect_url", "web_addr"):
        assert key in agent
    endpoint = schema["$defs"]["endpoint"]["properties"]
    for key in ("name", "url", "upstream", "bindings", "traffic_policy", "pooling_enabled", "metadata", "description"):
        assert key in endpoint
    assert set(endpoint["upstream"]["properties"]) == {"url", "protocol", "proxy_protocol"}


@pytest.mark.parametrize("text", ["", "# nothing\n", "agent:\n  authtoken: t\n", "authtoken: t\n"])
def test_a_file_without_version_is_refused_for_an_ngrok_3_agent(tmp_path, text):
    path = write(tmp_path / "ngrok.yml", text)
    with pytest.raises(PyngrokConfigError) as info:
        pyngrok._validate_config_file(path, ngrok_version="3")
    assert str(info.value).startswith(f"{path}:1: the config has no 'version', which ngrok 3 agents require")
    assert 'add version: "3"' in str(info.value) and (info.value.path, info.value.line) == (path, 1)
    assert isinstance(pyngrok._validate_config_file(path, ngrok_version="2"), list)  # ngrok 2 needs none


def test_config_findings_never_raise(tmp_path):
    path = write(tmp_path / "ngrok.yml", 'version: "3"\nagent:\n  authtokn: t\n  region: [eu]\nendpoints: {}\n')
    findings = pyngrok._config_findings(path)
    assert f"agent.region: expected string, got list ({path}:4)" in findings
    assert f"agent.authtokn: unknown key, did you mean 'authtoken'? ({path}:3)" in findings
    write(path, "a: [\n")
    assert pyngrok._config_findings(path)[0].startswith(f"{path}:2:")
    assert pyngrok._config_findings(str(tmp_path / "missing.yml")) == []
