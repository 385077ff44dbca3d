"""How the single file behaves among other people's code: vendoring, logging, the README, packaging."""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from typing import Any, Dict, List
from unittest import mock

import pytest

from helpers import REPO_ROOT, LocalSite, free_port

# The head of a child program: ``keep_records()`` sends every log record to the list it returns. It imports
# ``logging`` only when called, for the programs that check when ``logging`` is first imported.
KEEP_RECORDS = textwrap.dedent(
    """
    def keep_records():
        import logging
        records = []
        class Keep(logging.Handler):
            def emit(self, record):
                records.append(record)
        logging.getLogger().addHandler(Keep())
        logging.getLogger().setLevel(logging.DEBUG)
        return records
    """
)


def run_python(code: str, cwd: str, env: Dict[str, str], timeout: float = 90) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def v3_config(path: str, extra: str = "") -> str:
    with open(path, "w", encoding="utf-8") as config:
        config.write(f'version: "3"\nagent:\n  web_addr: 127.0.0.1:{free_port()}\n{extra}')
    return path


def test_two_vendored_copies_run_side_by_side(tmp_path: Any, fake_ngrok_path: str, local_site: LocalSite) -> None:
    """Two packages vendor the file under different names; both open tunnels in one interpreter."""
    for package, folder in (("a", "_vendor"), ("b", "vendored")):
        vendor = tmp_path / package / folder
        vendor.mkdir(parents=True)
        (tmp_path / package / "__init__.py").write_text("")
        (vendor / "__init__.py").write_text("")
        shutil.copy(os.path.join(REPO_ROOT, "pyngrok.py"), str(vendor))
    config_a = v3_config(str(tmp_path / "a.yml"))
    config_b = v3_config(str(tmp_path / "b.yml"))
    code = textwrap.dedent(
        f"""
        import sys, urllib.request
        from a._vendor.pyngrok import ngrok as ngrok_a, conf as conf_a, process as process_a
        from b.vendored.pyngrok import ngrok as ngrok_b, conf as conf_b, process as process_b
        assert "pyngrok" not in sys.modules and conf_a is not conf_b
        conf_a.set_default(conf_a.PyngrokConfig(ngrok_path={fake_ngrok_path!r}, config_path={config_a!r}))
        conf_b.set_default(conf_b.PyngrokConfig(ngrok_path={fake_ngrok_path!r}, config_path={config_b!r}))
        assert conf_a.get_default() is not conf_b.get_default()
        tunnel_a = ngrok_a.connect("{local_site.port}")
        tunnel_b = ngrok_b.connect("{local_site.port}")
        for tunnel in (tunnel_a, tunnel_b):
            assert urllib.request.urlopen(tunnel.public_url, timeout=5).read().decode() == {local_site.page!r}
        agent_a = process_a.get_process(conf_a.get_default())
        agent_b = process_b.get_process(conf_b.get_default())
        assert agent_a.proc.pid != agent_b.proc.pid and agent_a.api_url != agent_b.api_url
        assert [t.public_url for t in ngrok_a.get_tunnels()] == [tunnel_a.public_url]
        assert [t.public_url for t in ngrok_b.get_tunnels()] == [tunnel_b.public_url]
        ngrok_a.kill()
        assert process_b.is_process_running({fake_ngrok_path!r})
        assert not process_a.is_process_running({fake_ngrok_path!r})
        ngrok_b.kill()
        print("ok")
        """
    )
    result = run_python(code, str(tmp_path), dict(os.environ, PYTHONPATH=str(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_logging_follows_the_ecosystem(tmp_path: Any, fake_ngrok_path: str) -> None:
    """Loggers named pyngrok.*, no handlers added, agent lines under a child logger, nothing on stdout."""
    config = v3_config(str(tmp_path / "ngrok.yml"))
    code = KEEP_RECORDS + textwrap.dedent(
        f"""
        import logging, sys
        records = keep_records()
        import pyngrok
        config = pyngrok.PyngrokConfig(ngrok_path={fake_ngrok_path!r}, config_path={config!r})
        tunnel = pyngrok.connect("8000", pyngrok_config=config)
        pyngrok.disconnect(tunnel.public_url, pyngrok_config=config)
        pyngrok.get_version(config)
        pyngrok.kill(config)
        names = {{record.name for record in records}}
        library = [name for name in logging.root.manager.loggerDict if name.startswith("pyngrok")]
        handlers = [name for name in library if logging.getLogger(name).handlers]
        sys.stderr.write(repr(sorted(names)) + "\\n" + repr(handlers) + "\\n")
        """
    )
    result = run_python(code, str(tmp_path), dict(os.environ, PYTHONPATH=REPO_ROOT))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # library calls print nothing
    names_line, handlers_line = result.stderr.strip().splitlines()[-2:]
    names = eval(names_line)  # the child wrote a repr of a list of logger names
    assert all(name.startswith("pyngrok") for name in names)
    assert "pyngrok.process.ngrok" in names and "pyngrok.ngrok" in names
    assert handlers_line == "[]"


def readme_python_blocks() -> List[str]:
    with open(os.path.join(REPO_ROOT, "README.rst"), encoding="utf-8") as readme:
        text = readme.read()
    blocks = re.findall(r"\.\. code-block:: python\n\n((?:(?:    .*)?\n)+)", text)
    return [textwrap.dedent(block) for block in blocks]


def test_readme_examples_run_against_the_fake_agent(tmp_path: Any, fake_ngrok_path: str) -> None:
    blocks = readme_python_blocks()
    assert blocks, "README.rst has no python examples"
    site = LocalSite(str(tmp_path))
    config_home = tmp_path / "xdg"
    (config_home / "ngrok").mkdir(parents=True)
    v3_config(
        str(config_home / "ngrok" / "ngrok.yml"),
        f"endpoints:\n  - name: from-config\n    upstream:\n      url: {site.port}\n",
    )
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, PYNGROK_NGROK_PATH=fake_ngrok_path, XDG_CONFIG_HOME=str(config_home))
    try:
        for block in blocks:
            result = run_python(block, str(tmp_path), env)
            assert result.returncode == 0, f"README example failed:\n{block}\n{result.stderr}"
            assert "http://127.0.0.1:" in result.stdout
    finally:
        site.close()


def test_readme_renders_without_warnings() -> None:
    docutils_core = pytest.importorskip("docutils.core", reason="docutils is a gate tool; `make gates` installs it")
    with open(os.path.join(REPO_ROOT, "README.rst"), encoding="utf-8") as readme:
        source = readme.read()
    docutils_core.publish_string(source, writer_name="html", settings_overrides={"halt_level": 2, "report_level": 2})


def git_tracked_files() -> List[str]:
    """The repository's files, when this is a git checkout with git at hand (not in an unpacked sdist)."""
    if shutil.which("git") is None or not os.path.isdir(os.path.join(REPO_ROOT, ".git")):
        return []
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return [name for name in listed.stdout.split("\0") if name and os.path.exists(os.path.join(REPO_ROOT, name))]


def build_sdist(dist: Any) -> str:
    build = subprocess.run(
        [sys.executable, "setup.py", "-q", "sdist", "-d", str(dist)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    return glob.glob(str(dist / "pyngrok[-_]single[-_]file-*.tar.gz"))[0]


@pytest.mark.skipif(not os.environ.get("PYNGROK_PACKAGING_TESTS"), reason="slow: run by `make gates`")
def test_wheel_and_sdist_build_and_install_offline(tmp_path: Any, fake_ngrok_path: str) -> None:
    import pyngrok

    dist = tmp_path / "dist"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), REPO_ROOT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    wheel = glob.glob(str(dist / f"pyngrok_single_file-{pyngrok.__edition_version__}-py3-none-any.whl"))[0]
    with zipfile.ZipFile(wheel) as archive:
        modules = [name for name in archive.namelist() if name.endswith(".py")]
        licences = [name for name in archive.namelist() if name.endswith("/LICENSE")]
        assert len(licences) == 1 and b"MIT License" in archive.read(licences[0])
        head = archive.read("pyngrok/__init__.py").decode("utf-8").splitlines()[:8]
    assert "pyngrok/__init__.py" in modules and "pyngrok.py" not in modules  # the typed package form (test_typing.py)
    assert "# Copyright (c) 2026 The pyngrok single-file edition contributors" in head  # the licence travels

    sdist_path = build_sdist(dist)
    with tarfile.open(sdist_path) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyngrok.py", "LICENSE", "pyproject.toml", "conftest.py", "test_pyngrok.py", "tests/fake_ngrok.py"} <= names
    missing = sorted(set(git_tracked_files()) - names)
    assert missing == [], f"tracked files missing from the sdist (MANIFEST.in): {missing}"
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--no-index", wheel],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert install.returncode == 0, install.stderr
    show = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "show", "-v", "pyngrok-single-file"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert show.returncode == 0, show.stderr
    shown = dict(line.split(": ", 1) for line in show.stdout.splitlines() if ": " in line)
    assert shown["Name"] == "pyngrok-single-file" and shown["Version"] == pyngrok.__edition_version__
    assert "Upstream pyngrok, https://github.com/alexdlaird/pyngrok" in show.stdout
    # pip before 24.1 does not show License-Expression (PEP 639); the installed metadata holds it either way.
    licence = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.metadata as m; print(m.metadata('pyngrok-single-file').get('License-Expression'))",
        ],
        cwd=str(tmp_path),  # not the checkout, whose .egg-info (from the sdist build) would be found first
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert licence.stdout.strip() == "MIT", licence.stderr
    env = dict(os.environ, PYNGROK_NGROK_PATH=fake_ngrok_path, XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    env.pop("PYTHONPATH", None)
    for command in (
        [str(venv / "bin" / "pyngrok"), "version"],
        [str(venv / "bin" / "ngrok"), "version"],
        [str(venv / "bin" / "python"), "-m", "pyngrok", "version"],
    ):
        result = subprocess.run(command, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "ngrok version 3.30.0" in result.stdout and "pyngrok version" in result.stdout
    metadata = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('pyngrok-single-file'))"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert metadata.stdout.strip() == pyngrok.__edition_version__, metadata.stderr


def externally_managed_python() -> str:
    """A system Python under PEP 668 (Debian's), where `pip install` outside a venv is refused; else ours."""
    for candidate in ("/usr/bin/python3",):
        if os.path.exists(candidate):
            probe = subprocess.run(
                [
                    candidate,
                    "-c",
                    "import sys, sysconfig, os, venv, ensurepip; "
                    "print(os.path.exists(os.path.join(sysconfig.get_paths()['stdlib'], 'EXTERNALLY-MANAGED')))",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            if probe.stdout.strip() == "True":
                return candidate
    return sys.executable


@pytest.mark.skipif(not os.environ.get("PYNGROK_PACKAGING_TESTS"), reason="slow: run by `make gates`")
def test_the_unpacked_sdist_tests_itself_with_make_test(tmp_path: Any) -> None:
    """`make test` in the unpacked sdist makes its own venv and passes, on a PEP 668 Python where there is one."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    with tarfile.open(build_sdist(tmp_path / "dist")) as sdist:
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        sdist.extractall(str(tmp_path / "unpacked"), **safe)
    (root,) = (tmp_path / "unpacked").iterdir()
    python = externally_managed_python()
    # A fresh shell's environment: no settings of ours, and none of the `make` that may be running this test.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTHONPATH", "PYNGROK_", "MAKE", "MFLAGS"))
    }
    result = subprocess.run(
        ["make", "test", f"PYTHON={python}", "PYTEST_ARGS=-q -p no:cacheprovider"],
        cwd=str(root),
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert os.path.exists(root / ".venv" / "bin" / "python")
    summaries = [line for line in result.stdout.splitlines() if re.search(r"\d+ passed.* in [\d.]+s", line)]
    assert len(summaries) == 1, result.stdout[-4000:]
    assert "failed" not in summaries[0] and "error" not in summaries[0], summaries[0]


def public_callables() -> Dict[str, Any]:
    """Every public function and class of the facades, by its dotted upstream name."""
    import inspect

    import pyngrok

    found: Dict[str, Any] = {}
    for facade_name, exports in pyngrok._FACADES.items():
        facade = getattr(pyngrok, facade_name)
        for name in exports:
            value = getattr(facade, name)
            if inspect.isfunction(value) or inspect.isclass(value):
                found[f"{facade_name}.{name}"] = value
    return found


def test_every_public_function_documents_params_return_and_raises() -> None:
    import ast
    import inspect

    problems: List[str] = []
    for dotted, value in sorted(public_callables().items()):
        doc = inspect.getdoc(value) or ""
        if not doc:
            problems.append(f"{dotted}: no docstring")
            continue
        target = value.__init__ if inspect.isclass(value) else value
        if inspect.isclass(value) and (target is object.__init__ or not inspect.isfunction(target)):
            continue
        if getattr(target, "__wrapped__", None) is not None:
            continue  # aio wrappers carry their twin's docstring
        for parameter in list(inspect.signature(target).parameters.values())[1 if inspect.isclass(value) else 0 :]:
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            if f":param {parameter.name}:" not in doc:
                problems.append(f"{dotted}: parameter {parameter.name} undocumented")
        if inspect.isfunction(value):
            source = textwrap.dedent(inspect.getsource(value))
            tree = ast.parse(source).body[0]
            returns = [node for node in ast.walk(tree) if isinstance(node, ast.Return) and node.value is not None]
            if returns and ":return:" not in doc:
                problems.append(f"{dotted}: return undocumented")
            if any(isinstance(node, ast.Raise) for node in ast.walk(tree)) and ":raises" not in doc:
                problems.append(f"{dotted}: raises undocumented")
    assert problems == []


HEAVY_MODULES = (
    "argparse",
    "asyncio",
    "hashlib",
    "hmac",
    "http.client",
    "json",
    "logging",
    "platform",
    "re",
    "ssl",
    "subprocess",
    "tarfile",
    "tempfile",
    "threading",
    "typing",
    "urllib.request",
    "uuid",
    "zipfile",
)


def test_import_leaves_the_heavy_modules_and_the_regular_expressions_for_first_use() -> None:
    """``import pyngrok`` imports none of the HTTP, process, TLS, archive or JSON modules, nor ``typing``, and
    compiles no regular expression (a spy on the ``re`` module's compile step counts those asked for by the file's
    own code); using them works, and the first YAML load and log line compile what they need."""
    code = textwrap.dedent(
        f"""
        import re, sys  # imported here for the spy; pyngrok itself would not import it
        compiled = []
        real_compile = re._compile
        def spy(pattern, flags):
            frame = sys._getframe(1)
            while frame is not None:
                if frame.f_code.co_filename.endswith("pyngrok.py"):
                    compiled.append(pattern)
                    break
                frame = frame.f_back
            return real_compile(pattern, flags)
        re._compile = spy
        before = set(sys.modules)
        import pyngrok
        early = sorted(set(sys.modules) - before & set({HEAVY_MODULES!r}))
        assert early == [], early
        assert compiled == [], compiled
        import threading  # the locks made at import are those threading makes
        assert type(pyngrok.config_file_lock) is type(threading.RLock()), pyngrok.config_file_lock
        assert type(pyngrok._supervisors_lock) is type(threading.Lock()), pyngrok._supervisors_lock
        assert pyngrok._yaml_load("a: [1, 2.5, on]") == {{"a": [1, 2.5, True]}}
        assert pyngrok._yaml_dump({{"b": "x: y"}}) == 'b: "x: y"\\n'
        log = pyngrok.NgrokLog('t=2024-01-01T00:00:00Z lvl=eror msg="a \\\\"b\\\\"" err=x')
        assert (log.lvl, log.msg, log.err) == ("ERROR", 'a "b"', "x"), vars(log)
        assert compiled, "the first YAML load and log line compile their patterns through the spy"
        assert pyngrok.urllib.parse.quote("a b") == "a%20b" and "urllib.parse" in sys.modules
        assert pyngrok.http.client.HTTPConnection is sys.modules["http.client"].HTTPConnection
        assert pyngrok.json.loads("[1]") == [1]
        print("ok")
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_logging_is_imported_by_the_first_log_call(tmp_path: Any, fake_ngrok_path: str) -> None:
    """Upstream's ``from pyngrok import ngrok`` and ``from pyngrok.conf import PyngrokConfig``, and the other
    submodules, import no more than ``import pyngrok`` does: no ``logging``, nor any other heavy module; their
    loggers are stand-ins until the first log call (here an agent's start). From then on the records reach the
    program's handlers under upstream's logger names, the agent's own lines too, and the loggers the program
    reads, in the submodules too, are ``logging.Logger`` objects."""
    config = v3_config(str(tmp_path / "ngrok.yml"))
    code = KEEP_RECORDS + textwrap.dedent(
        f"""
        import sys
        def heavy():
            return sorted(set(sys.modules) & set({HEAVY_MODULES!r}))
        from pyngrok import ngrok
        assert heavy() == [], ("from pyngrok import ngrok", heavy())
        from pyngrok.conf import PyngrokConfig
        from pyngrok import agent, aio, conf, exception, installer, log, process
        assert heavy() == [], ("the other submodules", heavy())
        import pyngrok
        submodules = (agent, aio, conf, exception, installer, log, ngrok, process)
        def stand_ins():
            return [f"{{module.__name__}}.{{name}}" for module in (pyngrok, *submodules)
                    for name, value in vars(module).items() if type(value) is pyngrok._LazyLogger]
        assert len(stand_ins()) == 11, stand_ins()  # pyngrok's 6, and ngrok's, process's 2, installer's, agent's
        config = PyngrokConfig(ngrok_path={fake_ngrok_path!r}, config_path={config!r})
        ngrok.get_ngrok_process(config)
        assert "logging" in sys.modules, "not imported by the agent's start"
        assert stand_ins() == [], stand_ins()
        import logging
        records = keep_records()
        assert type(pyngrok.logger) is logging.Logger and pyngrok.logger.name == "pyngrok"
        assert type(ngrok.logger) is logging.Logger
        assert ngrok.logger is logging.getLogger("pyngrok.ngrok") is pyngrok._api_logger
        assert process.ngrok_logger is logging.getLogger("pyngrok.process.ngrok") is pyngrok._agent_logger
        assert process.logger is logging.getLogger("pyngrok.process") is pyngrok._process_logger
        assert installer.logger is logging.getLogger("pyngrok.installer") is pyngrok._installer_logger
        assert agent.logger is logging.getLogger("pyngrok.agent") is pyngrok._inspection_logger
        tunnel = ngrok.connect("8000", pyngrok_config=config)
        ngrok.kill(config)  # the agent's last lines are read before it returns
        for record in records:
            print(record.name, record.levelname, record.getMessage())
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("pyngrok.ngrok INFO Opening tunnel named: http-8000-") for line in lines), lines
    assert any(line.startswith("pyngrok.process INFO Killing ngrok process: ") for line in lines), lines
    agent_lines = [line for line in lines if line.startswith("pyngrok.process.ngrok INFO t=")]
    assert any('msg="started tunnel"' in line for line in agent_lines), lines


def test_logger_stand_in_reads_and_writes_go_to_the_real_logger() -> None:
    import logging

    import pyngrok

    stand_in = pyngrok._LazyLogger("pyngrok.test-stand-in")
    real = logging.getLogger("pyngrok.test-stand-in")
    stand_in.setLevel(logging.ERROR)
    stand_in.propagate = False
    assert (real.level, real.propagate) == (logging.ERROR, False)
    assert stand_in.isEnabledFor(logging.ERROR) and not stand_in.isEnabledFor(logging.WARNING)
    with mock.patch.object(stand_in, "error") as error:  # patches the real logger, and undoes it
        real.error("through the real logger")
    error.assert_called_once_with("through the real logger")
    assert "error" not in vars(real)
    assert repr(stand_in) == "<logger 'pyngrok.test-stand-in', created by pyngrok on first use>"
    assert all(type(getattr(pyngrok, name)) is logging.Logger for name in ("logger", "_agent_logger"))


def test_patching_a_submodule_logger_round_trips_before_and_after_the_first_log_call() -> None:
    """``mock.patch``, ``patch.object`` and ``monkeypatch`` of ``ngrok.logger`` (and of its methods and level) reach
    the library's code while they last and leave it logging to the real logger after, whether the loggers were
    still stand-ins when the patch began or not (see the program's docstring for the cases)."""
    program = os.path.join(REPO_ROOT, "tests", "logger_patch_program.py")
    env = dict(os.environ, PYTHONPATH=REPO_ROOT)
    result = subprocess.run(
        [sys.executable, program], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stdout.strip()) == (0, "ok"), result.stdout + result.stderr


def test_locks_come_from_threading_once_it_is_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    """So a monkey-patched ``threading`` (gevent's makes its locks greenlet-aware) makes the library's locks."""
    import threading

    import pyngrok

    made: List[Any] = []

    def recording(factory: Any) -> Any:
        def make() -> Any:
            made.append(factory())
            return made[-1]

        return make

    monkeypatch.setattr(threading, "RLock", recording(threading.RLock))
    monkeypatch.setattr(threading, "Lock", recording(threading.Lock))
    rlock, lock = pyngrok._new_rlock(), pyngrok._new_lock()
    assert made == [rlock, lock] and made[0] is rlock and made[1] is lock


def test_lazy_module_reads_and_writes_go_to_the_real_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import pyngrok

    marker = object()
    monkeypatch.setattr(pyngrok.subprocess, "pyngrok_test_marker", marker, raising=False)
    assert subprocess.pyngrok_test_marker is marker  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert not hasattr(subprocess, "pyngrok_test_marker")
    assert "Popen" in dir(pyngrok.subprocess)
    assert repr(pyngrok.subprocess) == "<module 'subprocess', imported by pyngrok on first use>"
    with pytest.raises(AttributeError, match="no attribute 'no_such_submodule'"):
        pyngrok.urllib.no_such_submodule  # noqa: B018 - the attribute access is the test
    with pytest.raises(AttributeError):
        pyngrok.json.no_such_name  # noqa: B018


def test_module_all_is_the_public_api() -> None:
    """``pyngrok.__all__`` (what pydoc documents) holds the upstream API and none of the imported names."""
    import pyngrok

    assert len(pyngrok.__all__) == len(set(pyngrok.__all__)) and all(hasattr(pyngrok, n) for n in pyngrok.__all__)
    # The list is written out (so that pyright can read it); it holds exactly the names the facades export.
    exported = {target for exports in pyngrok._FACADES.values() for target in exports.values()}
    public = {name for name in exported if not name.startswith("_")}
    assert set(pyngrok.__all__) == public | {"MAX_NGROK_BINARY_SIZE", "MAX_NGROK_DOWNLOAD_SIZE"}
    assert {"connect", "PyngrokConfig", "NgrokTunnel", "PyngrokError", "DEFAULT_NGROK_PATH"} <= set(pyngrok.__all__)
    assert not {"os", "re", "json", "subprocess", "Dict", "Optional", "TYPE_CHECKING", "logger"} & set(pyngrok.__all__)
