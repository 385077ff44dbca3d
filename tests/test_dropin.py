"""Drop-in: the submodules behave as upstream's modules for the tools that inspect and patch them.

``mock.patch`` and pytest's ``monkeypatch`` round-trip every name of every submodule and the library's own code
sees a patched value; ``importlib``, ``runpy``, ``inspect``, ``pkgutil`` and ``pydoc`` find the submodules;
``typing.get_type_hints`` resolves every public annotation; all of it also when the file is vendored.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import os
import pkgutil
import pydoc
import shutil
import subprocess
import sys
import textwrap
import typing
from typing import Any, Dict, Iterator, List, Optional, Tuple
from unittest import mock

import pytest

import pyngrok
from helpers import REPO_ROOT

SUBMODULES = sorted(pyngrok._FACADES)


def submodule(short_name: str) -> Any:
    return importlib.import_module(f"pyngrok.{short_name}")


def every_binding() -> Iterator[Tuple[str, str]]:
    """(submodule, name) for every name of every submodule, as upstream's modules have them."""
    for short_name in SUBMODULES:
        for name in sorted(pyngrok._facade_exports(short_name)):
            yield short_name, name


def snapshot() -> Dict[Tuple[str, str], int]:
    """The identity of every value in the submodules and in the module's globals they map to."""
    state = {}
    for short_name, name in every_binding():
        state[(short_name, name)] = id(getattr(submodule(short_name), name))
        target = pyngrok._facade_exports(short_name)[name]
        if target in vars(pyngrok):
            state[("", target)] = id(vars(pyngrok)[target])
    return state


def kind_of(value: Any) -> str:
    if inspect.ismodule(value):
        return "module"
    if inspect.isclass(value):
        return "class"
    if callable(value):
        return "function"
    return "constant"


def test_the_bindings_cover_every_kind_of_name() -> None:
    kinds = {kind_of(getattr(submodule(short_name), name)) for short_name, name in every_binding()}
    assert kinds == {"module", "class", "function", "constant"}


def test_mock_patch_round_trips_every_name_of_every_submodule() -> None:
    before = snapshot()
    for short_name, name in every_binding():
        module = submodule(short_name)
        original = getattr(module, name)
        with mock.patch(f"pyngrok.{short_name}.{name}") as replacement:
            assert getattr(module, name) is replacement, f"{short_name}.{name}"
            target = pyngrok._facade_exports(short_name)[name]
            if ":" not in target:  # else a standard-library name, held by the submodule alone
                assert vars(pyngrok)[target] is replacement, f"{short_name}.{name} did not reach pyngrok.{target}"
        assert getattr(module, name) is original, f"{short_name}.{name}"
        assert snapshot() == before, f"mock.patch of {short_name}.{name} left something behind"


def test_patch_object_and_decorator_round_trip(monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot()
    for short_name, name in every_binding():
        module = submodule(short_name)
        with mock.patch.object(module, name, "patched"):
            assert getattr(module, name) == "patched"

        @mock.patch(f"pyngrok.{short_name}.{name}", "decorated")
        def patched(module: Any = module, name: str = name) -> Any:
            return getattr(module, name)

        assert patched() == "decorated"
        monkeypatch.setattr(module, name, "monkeypatched")
        assert getattr(module, name) == "monkeypatched"
        monkeypatch.undo()
        assert snapshot() == before, f"{short_name}.{name}"


def test_monkeypatch_by_dotted_name_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    before = snapshot()
    monkeypatch.setattr("pyngrok.installer.DEFAULT_RETRY_COUNT", 7)
    monkeypatch.setattr("pyngrok.conf.PyngrokConfig", dict)
    monkeypatch.setattr("pyngrok.process.get_process", len)
    assert pyngrok.DEFAULT_RETRY_COUNT == 7 and pyngrok.PyngrokConfig is dict and pyngrok.get_process is len
    assert submodule("ngrok").PyngrokConfig is dict  # the same class, imported by ngrok from conf
    monkeypatch.undo()
    assert snapshot() == before


def test_writes_through_the_main_module_reach_the_submodules() -> None:
    conf = submodule("conf")
    before = snapshot()
    with mock.patch("pyngrok.DEFAULT_NGROK_CONFIG_PATH", "/elsewhere/ngrok.yml"):
        assert conf.DEFAULT_NGROK_CONFIG_PATH == "/elsewhere/ngrok.yml"
    with mock.patch("pyngrok.PyngrokConfig") as replacement:
        assert conf.PyngrokConfig is replacement and submodule("ngrok").PyngrokConfig is replacement
    assert snapshot() == before


def test_a_view_that_holds_another_object_is_not_overwritten() -> None:
    """A write reaches only the views that held the old object: one that holds something else keeps it."""
    ngrok, conf = submodule("ngrok"), submodule("conf")
    original = conf.PyngrokConfig
    with mock.patch.dict(vars(ngrok), {"PyngrokConfig": "ngrok's own"}):
        with mock.patch.object(conf, "PyngrokConfig", "patched"):
            assert ngrok.PyngrokConfig == "ngrok's own" and pyngrok.PyngrokConfig == "patched"
            assert submodule("process").PyngrokConfig == "patched"
        assert ngrok.PyngrokConfig == "ngrok's own" and conf.PyngrokConfig is pyngrok.PyngrokConfig is original
    assert ngrok.PyngrokConfig is original


def test_patch_dict_on_a_submodule_dict_round_trips() -> None:
    ngrok = submodule("ngrok")
    before = snapshot()
    with mock.patch.dict(vars(ngrok), {"connect": "patched", "extra": 1}):
        assert ngrok.connect == "patched" and ngrok.extra == 1
    assert snapshot() == before and not hasattr(ngrok, "extra")


# --- The library's own code sees a patched name ------------------------------------------------------------


def test_patched_process_get_process_is_what_get_ngrok_process_returns(
    pyngrok_config: pyngrok.PyngrokConfig,
) -> None:
    ngrok = submodule("ngrok")
    with mock.patch("pyngrok.process.get_process", return_value="the patched process") as get_process:
        assert ngrok.get_ngrok_process(pyngrok_config) == "the patched process"
    get_process.assert_called_once_with(pyngrok_config)


def test_patched_installer_function_is_what_the_install_calls(tmp_path: Any) -> None:
    """``ngrok.install_ngrok`` installs through ``installer.install_ngrok``, as upstream's does."""
    config = pyngrok.PyngrokConfig(
        ngrok_path=str(tmp_path / "missing" / "ngrok"), config_path=str(tmp_path / "ngrok.yml")
    )
    with mock.patch("pyngrok.installer.install_ngrok") as install:
        submodule("ngrok").install_ngrok(config)
    install.assert_called_once_with(config.ngrok_path, config.ngrok_version)
    assert os.path.exists(config.config_path)


def test_patched_constant_is_what_a_new_config_uses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYNGROK_NGROK_PATH", raising=False)
    monkeypatch.setattr("pyngrok.conf.DEFAULT_NGROK_PATH", "/opt/patched/ngrok")
    assert submodule("conf").PyngrokConfig().ngrok_path == "/opt/patched/ngrok"
    monkeypatch.undo()
    assert pyngrok.PyngrokConfig().ngrok_path != "/opt/patched/ngrok"


def test_patched_class_is_what_the_default_config_is_made_of(monkeypatch: pytest.MonkeyPatch) -> None:
    class Custom(pyngrok.PyngrokConfig):
        pass

    monkeypatch.setattr(pyngrok, "_default_pyngrok_config", None)
    with mock.patch("pyngrok.conf.PyngrokConfig", Custom):
        assert type(submodule("conf").get_default()) is Custom


def test_patched_ngrok_function_is_what_the_async_twin_runs() -> None:
    aio = submodule("aio")
    with mock.patch("pyngrok.ngrok.get_version", return_value=("3.30.0", "9.1.0")) as get_version:
        assert asyncio.run(aio.get_version()) == ("3.30.0", "9.1.0")
    get_version.assert_called_once_with()


# --- importlib, runpy, inspect, pkgutil, pydoc ---------------------------------------------------------------


@pytest.mark.parametrize("short_name", SUBMODULES)
def test_each_submodule_is_a_module_with_a_spec(short_name: str) -> None:
    module = submodule(short_name)
    spec = importlib.util.find_spec(f"pyngrok.{short_name}")
    assert spec is module.__spec__ and spec is not None and spec.loader is not None
    assert spec.name == module.__name__ == f"pyngrok.{short_name}"
    assert spec.origin == pyngrok.__file__ and inspect.getsourcefile(module) == pyngrok.__file__
    assert module.__loader__ is spec.loader and getattr(pyngrok, short_name) is module
    assert set(pyngrok._FACADES[short_name]) - set(module.__all__) == {
        name for name in pyngrok._FACADES[short_name] if name.startswith("_")
    }
    assert all(hasattr(module, name) for name in module.__all__)


def test_find_spec_before_the_first_import() -> None:
    """A fresh interpreter finds the submodules' specs without importing them, as for a package's modules."""
    code = textwrap.dedent(
        """
        import importlib.util, sys
        spec = importlib.util.find_spec("pyngrok.installer")
        assert spec is not None and spec.loader is not None and "pyngrok.installer" not in sys.modules
        assert importlib.util.find_spec("pyngrok.no_such_module") is None
        print(spec.name)
        """
    )
    result = run_python(["-c", code])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pyngrok.installer"


def test_reload_keeps_the_module_and_resyncs_it() -> None:
    conf = submodule("conf")
    vars(conf)["DEFAULT_NGROK_PATH"] = "/stale/ngrok"  # bypasses the propagation, as a stale copy would
    try:
        assert importlib.reload(conf) is conf is sys.modules["pyngrok.conf"]
        assert conf.DEFAULT_NGROK_PATH == pyngrok.DEFAULT_NGROK_PATH != "/stale/ngrok"
    finally:
        vars(conf)["DEFAULT_NGROK_PATH"] = pyngrok.DEFAULT_NGROK_PATH


def test_pkgutil_and_pydoc_list_the_submodules() -> None:
    found = [(info.name, info.ispkg) for info in pkgutil.iter_modules(pyngrok.__path__, "pyngrok.")]
    assert found == [(f"pyngrok.{name}", False) for name in SUBMODULES]
    package_doc = pydoc.render_doc(pyngrok, renderer=pydoc.plaintext)
    contents = package_doc.split("PACKAGE CONTENTS", 1)[1].split("\n\n", 1)[0].split()
    assert contents == SUBMODULES
    ngrok_doc = pydoc.render_doc(submodule("ngrok"), renderer=pydoc.plaintext)
    assert "connect(" in ngrok_doc and "NgrokTunnel" in ngrok_doc


def test_no_file_beside_the_module_shadows_a_submodule(tmp_path: Any) -> None:
    """The submodules come from the one file: a stray ``conf.py`` in its directory is never imported."""
    shutil.copy(os.path.join(REPO_ROOT, "pyngrok.py"), tmp_path)
    (tmp_path / "conf.py").write_text("raise SystemExit('the stray conf.py was imported')\n")
    result = run_python(["-c", "from pyngrok.conf import PyngrokConfig; print(PyngrokConfig.__module__)"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "pyngrok"


def run_python(
    args: List[str], cwd: Any = REPO_ROOT, env: Optional[Dict[str, str]] = None
) -> "subprocess.CompletedProcess[str]":
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment.update(env or {})
    # -W error: runpy warns when a module it is about to run was already imported; that must not happen.
    return subprocess.run(
        [sys.executable, "-W", "error", *args],
        cwd=str(cwd),
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_python_m_pyngrok_ngrok_runs_the_agent(fake_ngrok_path: str, tmp_path: Any) -> None:
    env = {"PYNGROK_NGROK_PATH": fake_ngrok_path, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    result = run_python(["-m", "pyngrok.ngrok", "version"], env=env)
    assert result.returncode == 0, result.stderr
    assert "ngrok version 3.30.0" in result.stdout and f"pyngrok version {pyngrok.__version__}" in result.stdout
    assert result.stderr == ""
    failing = run_python(["-m", "pyngrok.ngrok", "no-such-command"], env=env)
    assert failing.returncode != 0


def test_vendored_copy_is_a_package_with_patchable_submodules(fake_ngrok_path: str, tmp_path: Any) -> None:
    vendor = tmp_path / "myapp" / "_vendor"
    vendor.mkdir(parents=True)
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (vendor / "__init__.py").write_text("")
    shutil.copy(os.path.join(REPO_ROOT, "pyngrok.py"), vendor)
    code = textwrap.dedent(
        """
        import importlib, importlib.util, inspect, pkgutil, sys
        from unittest import mock
        from myapp._vendor.pyngrok import conf, ngrok, process
        import myapp._vendor.pyngrok as package
        assert "pyngrok" not in sys.modules and "pyngrok.conf" not in sys.modules
        assert importlib.util.find_spec("myapp._vendor.pyngrok.conf") is conf.__spec__
        assert importlib.reload(conf) is conf
        assert inspect.getsourcefile(ngrok) == package.__file__
        names = [info.name for info in pkgutil.iter_modules(package.__path__)]
        assert "conf" in names and "aio" in names, names
        original = ngrok.connect
        with mock.patch("myapp._vendor.pyngrok.ngrok.connect") as connect:
            assert package.connect is connect
        assert ngrok.connect is package.connect is original
        config = conf.PyngrokConfig()
        with mock.patch("myapp._vendor.pyngrok.process.get_process", return_value="patched"):
            assert ngrok.get_ngrok_process(config) == "patched"
        print("ok")
        """
    )
    env = {"PYNGROK_NGROK_PATH": fake_ngrok_path, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    result = run_python(["-c", code], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
    result = run_python(["-m", "myapp._vendor.pyngrok.ngrok", "version"], tmp_path, env)
    assert result.returncode == 0, result.stderr
    assert "ngrok version 3.30.0" in result.stdout


# --- typing.get_type_hints --------------------------------------------------------------------------------


def public_annotated() -> Dict[str, Any]:
    """Every public function, class, method and property of every submodule, by dotted name."""
    found: Dict[str, Any] = {}
    for short_name in SUBMODULES:
        module = submodule(short_name)
        for name in module.__all__:
            value = getattr(module, name)
            if not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            found[f"{short_name}.{name}"] = value
            if inspect.isclass(value) and value.__module__ == pyngrok.__name__:
                for member_name, member in vars(value).items():
                    if member_name.startswith("_") and member_name != "__init__":
                        continue
                    if isinstance(member, property):
                        member = member.fget
                    if inspect.isfunction(member):
                        found[f"{short_name}.{name}.{member_name}"] = member
    return found


def test_get_type_hints_resolves_every_public_annotation() -> None:
    callables = public_annotated()
    assert len(callables) > 80  # every submodule's functions, classes and their methods
    failures = []
    for dotted, value in sorted(callables.items()):
        try:
            typing.get_type_hints(value)
        except Exception as error:
            failures.append(f"{dotted}: {type(error).__name__}: {error}")
    assert failures == []


def test_get_type_hints_gives_the_real_types() -> None:
    ngrok, conf = submodule("ngrok"), submodule("conf")
    connect = typing.get_type_hints(ngrok.connect)
    assert connect["return"] is ngrok.NgrokTunnel
    assert connect["pyngrok_config"] == Optional[conf.PyngrokConfig]
    assert typing.get_type_hints(conf.PyngrokConfig.__init__)["ngrok_path"] == Optional[str]
    assert typing.get_type_hints(ngrok.NgrokTunnel.__init__)["data"] == Dict[str, Any]
