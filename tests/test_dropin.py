"""Drop-in: the submodules behave as upstream's modules for the tools that inspect and patch them.

``mock.patch`` and pytest's ``monkeypatch`` round-trip every name of every submodule and the library's own code
sees a patched value; ``importlib``, ``runpy``, ``inspect``, ``pkgutil`` and ``pydoc`` find the submodules;
``typing.get_type_hints`` resolves every public annotation; all of it also when the file is vendored.
"""

from __future__ import annotations

import asyncio
import dis
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
from helpers import REPO_ROOT, in_forked_child, wait_for

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


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_sees_its_fresh_locks_through_the_submodules() -> None:
    installer, process = submodule("installer"), submodule("process")

    def in_the_child() -> bytes:
        same = installer.config_file_lock is pyngrok.config_file_lock
        same = same and process._current_processes_lock is pyngrok._current_processes_lock
        return b"same" if same else b"stale"

    assert in_forked_child(in_the_child) == b"same"
    assert installer.config_file_lock is pyngrok.config_file_lock  # the parent's own are untouched


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
    own = {name for name in pyngrok._FACADES[short_name] if not name.startswith("_")}
    assert set(module.__all__) - own <= {"logger", "ngrok_logger"} and own <= set(module.__all__)
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


def test_get_type_hints_works_when_typing_is_imported_after_pyngrok(tmp_path: Any) -> None:
    """``import pyngrok`` does not import ``typing``; when the program imports it later, get_type_hints resolves
    the annotations of both copies of the file (installed and vendored, each imported before typing and one of
    them reloaded), and typing is the module it always is: its own loader, its source readable, also through
    the spec found before the import."""
    vendor = tmp_path / "myapp"
    vendor.mkdir()
    (vendor / "__init__.py").write_text("")
    shutil.copy(os.path.join(REPO_ROOT, "pyngrok.py"), vendor)
    code = textwrap.dedent(
        """
        import importlib, sys
        import pyngrok
        from myapp import pyngrok as vendored
        importlib.reload(pyngrok)
        assert "typing" not in sys.modules, "imported by import pyngrok"
        watches = [finder for finder in sys.meta_path if type(finder).__name__ == "_TypingWatch"]
        assert len(watches) == 2, watches  # one per copy, not one more for the reload
        spec = watches[0].find_spec("typing")  # as importlib.util.find_spec gets it: runpy and pkgutil ask its loader
        assert "def get_type_hints" in spec.loader.get_source("typing") and not spec.loader.is_package("typing")
        assert spec.loader.get_code("typing").co_filename == spec.origin
        assert "typing" not in sys.modules
        import inspect, typing
        for module in (pyngrok, vendored):
            hints = typing.get_type_hints(module.connect)
            assert hints["addr"] == typing.Optional[str], hints
            assert hints["pyngrok_config"] == typing.Optional[module.PyngrokConfig], hints
            key_path = typing.get_type_hints(module._config_key_path_text)["key_path"]
            assert key_path == typing.Tuple[typing.Union[str, int], ...], key_path
        assert type(typing.__loader__).__name__ == "SourceFileLoader", typing.__loader__
        assert typing.__spec__.loader is typing.__loader__
        assert "def get_type_hints" in inspect.getsource(typing)
        assert importlib.reload(typing) is typing  # a new typing: its names are bound again
        assert typing.get_type_hints(pyngrok.connect)["addr"] == typing.Optional[str]
        assert pyngrok.Optional is typing.Optional
        print("ok")
        """
    )
    result = run_python(["-S", "-c", code], tmp_path, {"PYTHONPATH": REPO_ROOT})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def global_reads(module_code: Any, names: typing.Set[str]) -> List[str]:
    """Where a function compiled in ``module_code`` reads one of ``names`` from its globals (``LOAD_GLOBAL``)."""
    reads = []
    functions = [code for code in module_code.co_consts if inspect.iscode(code)]
    while functions:
        code = functions.pop()
        functions.extend(const for const in code.co_consts if inspect.iscode(const))
        for instruction in dis.get_instructions(code):
            if instruction.opname == "LOAD_GLOBAL" and instruction.argval in names:
                reads.append(f"{getattr(code, 'co_qualname', code.co_name)}: {instruction.argval}")
    return reads


def test_no_function_reads_a_typing_name_at_run_time() -> None:
    """The annotation names are bound only once ``typing`` is imported, so no code may read them before: every
    global read of every function in the file is checked (``cast`` is the file's own)."""
    names = set(pyngrok._ANNOTATION_NAMES.split()) | {"_YamlKeyPath"}
    sample = compile("class A:\n    def f(self):\n        return Optional\n", "<sample>", "exec")
    assert global_reads(sample, names) == ["A.f: Optional" if sys.version_info >= (3, 11) else "f: Optional"]
    with open(pyngrok.__file__, encoding="utf-8") as source_file:
        module_code = compile(source_file.read(), pyngrok.__file__, "exec", dont_inherit=True)
    assert global_reads(module_code, names) == []


# --- Upstream's names, with upstream's meaning ---------------------------------------------------------------

# Every module-level name of upstream pyngrok 9.1.0's modules (read from its source), but for the private
# helpers its own tests never use and ``yaml`` (upstream's YAML library, which this file does not use).
UPSTREAM_NAMES = {
    "agent": "logging Any Dict List Optional conf PyngrokConfig get_ngrok_process api_request logger NgrokAgent "
    "CapturedRequest get_agent_status get_requests get_request replay_request delete_requests",
    "aio": "asyncio Any Dict List Optional Tuple Union ngrok PyngrokConfig NgrokApiResponse NgrokTunnel NgrokProcess "
    "install_ngrok set_auth_token set_api_key get_ngrok_process connect connect_all disconnect get_tunnels kill api "
    "get_version update api_request",
    "conf": "os Callable Optional get_ngrok_bin get_default_ngrok_dir NgrokLog DEFAULT_CONFIG_PATH DEFAULT_NGROK_DIR "
    "DEFAULT_NGROK_CONFIG_PATH DEFAULT_NGROK_PATH PyngrokConfig get_default set_default get_config_path",
    "exception": "re Any List Optional Union Dict MutableMapping NgrokLog PyngrokError PyngrokSecurityError "
    "PyngrokNgrokInstallError PyngrokNgrokError PyngrokNgrokHTTPError PyngrokNgrokURLError",
    "installer": "copy logging os platform socket sys tempfile threading time tarfile zipfile HTTPStatus Any Dict "
    "Optional URLError urlopen PyngrokError PyngrokNgrokInstallError PyngrokSecurityError logger CDN_URL_PREFIX "
    "PLATFORMS UNIX_BINARIES SUPPORTED_NGROK_VERSIONS DEFAULT_DOWNLOAD_TIMEOUT DEFAULT_RETRY_COUNT "
    "config_file_lock _config_cache _print_progress_enabled get_default_ngrok_dir get_system get_arch "
    "get_ngrok_bin get_ngrok_cdn_url install_ngrok get_ngrok_config get_default_config install_default_config "
    "validate_config _merge_config _download_file",
    "log": "logging shlex Optional NgrokLog",
    "ngrok": "json logging os socket sys uuid HTTPStatus Any Dict List Optional Tuple Union HTTPError URLError "
    "urlencode urlsplit urlunsplit Request urlopen __version__ conf installer process PyngrokConfig PyngrokError "
    "PyngrokNgrokHTTPError PyngrokNgrokURLError PyngrokSecurityError get_default_config NgrokProcess logger "
    "NgrokTunnel NgrokApiResponse _current_tunnels install_ngrok set_auth_token set_api_key get_ngrok_process "
    "connect connect_all disconnect get_tunnels kill api get_version update api_request run main",
    "process": "atexit ctypes logging os subprocess sys threading time HTTPStatus Any Dict List Optional HTTPError "
    "URLError Request urlopen conf installer PyngrokConfig PyngrokError PyngrokNgrokError PyngrokSecurityError "
    "SUPPORTED_NGROK_VERSIONS NgrokLog logger ngrok_logger NgrokProcess set_auth_token set_api_key "
    "is_process_running get_process kill_process run_process capture_run_process _terminate_process "
    "_start_process _current_processes _current_processes_lock",
}


@pytest.mark.parametrize("short_name", SUBMODULES)
def test_every_upstream_name_is_there(short_name: str) -> None:
    module = submodule(short_name)
    missing = [name for name in UPSTREAM_NAMES[short_name].split() if not hasattr(module, name)]
    assert missing == []


def test_imported_names_are_the_siblings_objects() -> None:
    ngrok, process, conf, agent = submodule("ngrok"), submodule("process"), submodule("conf"), submodule("agent")
    installer, aio, log = submodule("installer"), submodule("aio"), submodule("log")
    assert ngrok.conf is conf and ngrok.installer is installer and ngrok.process is process and aio.ngrok is ngrok
    assert ngrok.PyngrokConfig is conf.PyngrokConfig and ngrok.PyngrokError is submodule("exception").PyngrokError
    assert process.NgrokLog is log.NgrokLog and process.SUPPORTED_NGROK_VERSIONS is installer.SUPPORTED_NGROK_VERSIONS
    assert conf.get_ngrok_bin is installer.get_ngrok_bin and agent.api_request is ngrok.api_request
    assert aio.NgrokTunnel is ngrok.NgrokTunnel and ngrok.get_default_config is installer.get_default_config
    assert ngrok.__version__ == pyngrok.__version__
    import urllib.error
    import urllib.parse

    assert ngrok.HTTPError is urllib.error.HTTPError and ngrok.urlencode is urllib.parse.urlencode


def test_loggers_have_upstreams_names() -> None:
    names = {short_name: submodule(short_name).logger.name for short_name in ("ngrok", "process", "installer", "agent")}
    assert names == {name: f"pyngrok.{name}" for name in names}
    assert submodule("process").ngrok_logger.name == "pyngrok.process.ngrok"


def test_registries_hold_the_agent_and_its_tunnels(pyngrok_config: pyngrok.PyngrokConfig) -> None:
    ngrok, process = submodule("ngrok"), submodule("process")
    tunnel = ngrok.connect("8000", pyngrok_config=pyngrok_config)
    assert process._current_processes[pyngrok_config.ngrok_path] is ngrok.get_ngrok_process(pyngrok_config)
    assert ngrok._current_tunnels[tunnel.public_url] is tunnel


def test_a_second_start_for_a_running_binary_raises(pyngrok_config: pyngrok.PyngrokConfig) -> None:
    process = submodule("process")
    first = process._start_process(pyngrok_config)
    with pytest.raises(pyngrok.PyngrokNgrokError, match="already running"):
        process._start_process(pyngrok_config)
    assert process._current_processes[pyngrok_config.ngrok_path] is first and first.proc.poll() is None


def test_terminate_process_stops_the_agent(pyngrok_config: pyngrok.PyngrokConfig) -> None:
    process = submodule("process")
    ngrok_process = process._start_process(pyngrok_config)
    monitor_thread = ngrok_process._monitor_thread
    assert monitor_thread is not None and monitor_thread.is_alive()
    process._terminate_process(ngrok_process.proc)
    assert ngrok_process.proc.poll() is not None
    monitor_thread.join(10)
    assert not monitor_thread.is_alive()


def test_monitor_thread_off_and_stopped(pyngrok_config: pyngrok.PyngrokConfig) -> None:
    ngrok = submodule("ngrok")
    pyngrok_config.monitor_thread = False
    ngrok_process = ngrok.get_ngrok_process(pyngrok_config)
    assert ngrok_process._monitor_thread is None
    ngrok_process.start_monitor_thread()
    monitor_thread = ngrok_process._monitor_thread
    assert monitor_thread is not None and monitor_thread.is_alive()
    ngrok_process.stop_monitor_thread()
    monitor_thread.join(10)
    assert not monitor_thread.is_alive() and ngrok_process._monitor_thread is None
    ngrok.connect("8000", pyngrok_config=pyngrok_config)  # the readers still drain the agent's output
    # The agent may log the line just after it answers the request: wait for the readers to get to it.
    assert wait_for(lambda: any("started tunnel" in str(log.msg) for log in ngrok_process.logs))


def test_atexit_registration_follows_the_agent(pyngrok_config: pyngrok.PyngrokConfig) -> None:
    import atexit

    with mock.patch("atexit.register", wraps=atexit.register) as register:
        ngrok_process = submodule("process").get_process(pyngrok_config)
    register.assert_called_once_with(ngrok_process._stop_at_exit)
    with mock.patch("atexit.unregister", wraps=atexit.unregister) as unregister:
        pyngrok.kill(pyngrok_config)
    unregister.assert_called_once_with(ngrok_process._stop_at_exit)  # a stopped agent holds no exit hook


def test_patched_installer_urlopen_fails_the_download(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    installer = submodule("installer")
    monkeypatch.setattr(pyngrok, "_RETRY_BACKOFF_SECONDS", 0.0)
    ngrok_path = str(tmp_path / "bin" / "ngrok")
    failing = pytest.raises(pyngrok.PyngrokNgrokInstallError, match="no network")
    with mock.patch("pyngrok.installer.urlopen", side_effect=OSError("no network")) as urlopen, failing:
        installer.install_ngrok(ngrok_path, retries=2, quiet=True)
    assert urlopen.call_count == 3 and not os.path.exists(ngrok_path)
    refused = mock.MagicMock()
    refused.getcode.return_value = 500
    failing = pytest.raises(pyngrok.PyngrokNgrokInstallError, match="HTTP 500")
    with mock.patch("pyngrok.installer.urlopen", return_value=refused), failing:
        installer.install_ngrok(ngrok_path, quiet=True)
    assert not os.path.exists(ngrok_path)


def test_download_file_fetches_to_a_temporary_file() -> None:
    from installer_servers import ArchiveServer, Route

    installer = submodule("installer")
    with pytest.raises(pyngrok.PyngrokSecurityError):
        installer._download_file(f"file:{__file__}", retries=10)
    server = ArchiveServer()
    try:
        server.routes["/ngrok-v3-stable-linux-amd64.tgz"] = Route(body=b"archive bytes")
        path = installer._download_file(server.url("/ngrok-v3-stable-linux-amd64.tgz"), allow_http=True, quiet=True)
    finally:
        server.close()
    try:
        with open(path, "rb") as downloaded:
            assert downloaded.read() == b"archive bytes"
        assert path.endswith("ngrok-v3-stable-linux-amd64.tgz")
    finally:
        os.unlink(path)


def test_api_request_puts_params_before_the_fragment() -> None:
    import http.server
    import threading

    requested: List[str] = []

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", "12")
            self.end_headers()
            self.wfile.write(b'{"ok": true}')

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api?limit=2#frag"
        answer = submodule("ngrok").api_request(url, params={"tunnel_name": "demo"})
    finally:
        server.shutdown()
        server.server_close()
    assert answer == {"ok": True} and requested == ["/api?limit=2&tunnel_name=demo"]


def test_patched_ngrok_urlopen_carries_requests_to_other_hosts() -> None:
    """Mocked: example.test is not reachable from here (no internet); the mock stands in for the remote host."""
    with mock.patch("pyngrok.ngrok.urlopen") as urlopen:
        urlopen.return_value.read.return_value = b'{"answer": 42}'
        urlopen.return_value.getcode.return_value = 200
        answer = submodule("ngrok").api_request("https://example.test/api?limit=2#frag", params={"a": "b"})
    assert answer == {"answer": 42}
    assert urlopen.call_args[0][0].full_url == "https://example.test/api?limit=2&a=b#frag"


@pytest.mark.parametrize(
    "system, expected",
    [("Darwin", ("Library", "Application Support", "ngrok")), ("Windows 10", ("AppData", "Local", "ngrok"))],
)
def test_default_ngrok_dir_asks_platform_system(
    monkeypatch: pytest.MonkeyPatch, system: str, expected: Tuple[str, ...]
) -> None:
    import platform

    monkeypatch.setattr(platform, "system", lambda: system)
    assert submodule("installer").get_default_ngrok_dir() == os.path.join(os.path.expanduser("~"), *expected)


def test_main_returns_the_exit_code(
    fake_ngrok_path: str, tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ngrok = submodule("ngrok")
    monkeypatch.setattr(pyngrok, "_default_pyngrok_config", None)
    monkeypatch.setenv("PYNGROK_NGROK_PATH", fake_ngrok_path)
    monkeypatch.setattr("pyngrok.conf.DEFAULT_NGROK_CONFIG_PATH", str(tmp_path / "ngrok.yml"))
    monkeypatch.setattr(sys, "argv", ["ngrok", "version"])
    assert ngrok.main() == 0
    assert "pyngrok version" in capsys.readouterr().out
    monkeypatch.setattr(sys, "argv", ["ngrok", "no-such-command"])
    assert ngrok.main() != 0


# --- The upstream tier's lists and the README -----------------------------------------------------------------


def upstream_tier_lists() -> Dict[str, List[str]]:
    """The test ids in tests/upstream_conftest.py's NEEDS_CLOUD and DEVIATIONS (read, not imported: importing
    it starts the loopback CDN)."""
    import ast

    with open(os.path.join(REPO_ROOT, "tests", "upstream_conftest.py"), encoding="utf-8") as source:
        tree = ast.parse(source.read())
    lists: Dict[str, List[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and isinstance(node.value, ast.Dict):
            lists[node.target.id] = [ast.literal_eval(key) for key in node.value.keys if key is not None]
    return lists


def test_readme_names_every_deviation_and_deselected_upstream_test() -> None:
    lists = upstream_tier_lists()
    with open(os.path.join(REPO_ROOT, "README.rst"), encoding="utf-8") as readme_file:
        readme = readme_file.read()
    missing = [test_id for ids in lists.values() for test_id in ids if f"{test_id.rsplit('::', 1)[1]}``" not in readme]
    assert missing == []
    assert f"{len(lists['DEVIATIONS'])} are our deliberate" in readme
    assert f"{len(lists['NEEDS_CLOUD'])} are deselected" in readme
