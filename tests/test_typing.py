"""The typed package form: ``python -m pyngrok vendor DIR`` and the wheel install ``pyngrok.py`` as a package
with ``py.typed`` and a stub per upstream submodule, so mypy and pyright see the real types.

The checker runs (mypy --strict and pyright on a typed user program, for the installed wheel and for a
vendored copy) are slow and fetch the pinned tools from PyPI and npm into .cache/ (never committed); they run
with PYNGROK_PACKAGING_TESTS set, as `make gates` does.
"""

from __future__ import annotations

import ast
import glob
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from typing import Any, Dict, List, Tuple

import pytest

import pyngrok
from helpers import REPO_ROOT

SUBMODULES = ("agent", "aio", "conf", "exception", "installer", "log", "ngrok", "process")
PACKAGE_FILES = {
    "__init__.py",
    "__main__.py",
    "py.typed",
    *(f"{name}{ext}" for name in SUBMODULES for ext in (".pyi", ".py")),
}
SOURCE = os.path.join(REPO_ROOT, "pyngrok.py")

MYPY_VERSION = "2.4.1"
# The build backend that pyproject.toml asks for, installed beside mypy to build our wheel without isolation.
BUILD_PACKAGES = ("setuptools>=77", "wheel")
PYRIGHT_VERSION = "1.1.414"
TOOLS_DIR = os.path.join(REPO_ROOT, ".cache", "typing-tools")

slow = pytest.mark.skipif(not os.environ.get("PYNGROK_PACKAGING_TESTS"), reason="slow: run by `make gates`")


def vendor(directory: str) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(
        [sys.executable, SOURCE, "vendor", directory], capture_output=True, text=True, timeout=60, cwd=REPO_ROOT
    )


@pytest.fixture(scope="module")
def vendored(tmp_path_factory: pytest.TempPathFactory) -> Tuple[Any, str]:
    """One ``vendor`` run for the tests that only read what it wrote: (the directory it wrote into, its stdout)."""
    directory = tmp_path_factory.mktemp("vendored")
    result = vendor(str(directory))
    assert result.returncode == 0, result.stderr
    return directory, result.stdout


def stub_bindings(stub: str) -> Dict[str, Tuple[str, str]]:
    """What a stub binds each exported name to: ("name", X) for a re-export of ``X`` from ``__init__.py``,
    ("async def", "") for a declared coroutine function."""
    bindings: Dict[str, Tuple[str, str]] = {}
    for node in ast.parse(stub).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            bindings.update({alias.asname: ("name", alias.name) for alias in node.names if alias.asname})
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Name):
            bindings.update({target.id: ("name", node.value.id) for target in node.targets})  # type: ignore[attr-defined]
        elif isinstance(node, ast.AsyncFunctionDef):
            bindings[node.name] = ("async def", "")
    return bindings


def test_vendor_writes_the_one_file_with_marker_and_stubs(vendored: Tuple[Any, str]) -> None:
    directory, stdout = vendored
    package = directory / "pyngrok"
    assert str(package) in stdout
    assert set(os.listdir(package)) == PACKAGE_FILES
    with open(SOURCE, "rb") as source:
        assert (package / "__init__.py").read_bytes() == source.read()
    assert (package / "py.typed").read_bytes() == b""
    for name in SUBMODULES:  # the import system never reaches them: importing pyngrok made the submodules
        shim = (package / f"{name}.py").read_text(encoding="utf-8")
        assert [node.__class__ for node in ast.parse(shim).body] == [ast.Expr, ast.Raise]


@pytest.mark.parametrize("name", SUBMODULES)
def test_each_stub_binds_every_submodule_name_to_the_same_object(vendored: Tuple[Any, str], name: str) -> None:
    submodule = getattr(pyngrok, name)
    bindings = stub_bindings((vendored[0] / "pyngrok" / f"{name}.pyi").read_text(encoding="utf-8"))
    assert set(submodule.__all__) <= set(bindings)
    for exported, (kind, source_name) in bindings.items():
        value = getattr(submodule, exported)
        if kind == "name":
            assert getattr(pyngrok, source_name) is value, f"{name}.{exported} is not pyngrok.{source_name}"
        else:
            assert inspect.iscoroutinefunction(value), f"{name}.{exported} is declared async"


def test_names_that_differ_from_the_parents_are_bound_to_their_own_objects(vendored: Tuple[Any, str]) -> None:
    package = vendored[0] / "pyngrok"
    process_stub = stub_bindings((package / "process.pyi").read_text(encoding="utf-8"))
    source_of_set_auth_token = getattr(pyngrok, process_stub["set_auth_token"][1])
    assert source_of_set_auth_token is pyngrok.process.set_auth_token
    assert source_of_set_auth_token is not pyngrok.ngrok.set_auth_token
    aio_stub = (package / "aio.pyi").read_text(encoding="utf-8").splitlines()
    # aio.connect is defined in the source (it is also an async context manager), so the stub binds it.
    assert "connect = _aio_connect" in aio_stub and "from . import _aio_connect" in aio_stub
    assert pyngrok.aio.connect is pyngrok._aio_connect
    get_tunnels = [line for line in aio_stub if line.startswith("async def get_tunnels(")]
    assert get_tunnels and get_tunnels[0].endswith("-> List[NgrokTunnel]: ...")
    assert "from . import NgrokTunnel" in aio_stub


def test_names_upstreams_module_imports_are_there_but_not_re_exported(vendored: Tuple[Any, str]) -> None:
    ngrok_stub = (vendored[0] / "pyngrok" / "ngrok.pyi").read_text(encoding="utf-8").splitlines()
    # upstream's ngrok.py imports these: reachable as ngrok.conf, ngrok.PyngrokConfig, but mypy --strict and
    # pyright treat them as not exported, as they treat upstream's module.
    assert "PyngrokConfig" not in pyngrok.ngrok.__all__ and pyngrok.ngrok.PyngrokConfig is pyngrok.PyngrokConfig
    for line in ("from . import PyngrokConfig", "from . import conf", "from . import process"):
        assert line in ngrok_stub
    assert not [line for line in ngrok_stub if line.startswith("from . import PyngrokConfig as")]


def test_the_vendored_package_imports_and_runs(vendored: Tuple[Any, str], tmp_path: Any, fake_ngrok_path: str) -> None:
    directory = vendored[0]
    # No __pycache__ in the shared copy: the other tests read its file list.
    env = dict(os.environ, PYTHONPATH=str(directory), PYNGROK_NGROK_PATH=fake_ngrok_path, PYTHONDONTWRITEBYTECODE="1")
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    code = (
        "import pyngrok\n"
        "from pyngrok import aio, conf, ngrok, process\n"
        "from pyngrok.conf import PyngrokConfig\n"
        "assert process.set_auth_token is pyngrok._process_set_auth_token\n"
        "print(pyngrok.__file__, PyngrokConfig is conf.PyngrokConfig)\n"
    )
    imported = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60
    )
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == [str(directory / "pyngrok" / "__init__.py"), "True"]
    version = subprocess.run(
        [sys.executable, "-m", "pyngrok", "version"],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert version.returncode == 0, version.stderr
    assert "ngrok version 3.30.0" in version.stdout and f"pyngrok version {pyngrok.__version__}" in version.stdout


def test_vendoring_again_replaces_the_package_in_one_step(vendored: Tuple[Any, str], tmp_path: Any) -> None:
    shutil.copytree(str(vendored[0] / "pyngrok"), str(tmp_path / "pyngrok"))  # what a first vendor run wrote
    stale = tmp_path / "pyngrok" / "stale.pyi"
    stale.write_text("x: int\n", encoding="utf-8")
    assert vendor(str(tmp_path)).returncode == 0
    assert set(os.listdir(tmp_path / "pyngrok")) == PACKAGE_FILES
    assert os.listdir(tmp_path) == ["pyngrok"]


def test_vendor_refuses_to_replace_a_directory_it_did_not_write(tmp_path: Any) -> None:
    foreign = tmp_path / "pyngrok"
    foreign.mkdir()
    (foreign / "__init__.py").write_text("mine = True\n", encoding="utf-8")
    result = vendor(str(tmp_path))
    assert result.returncode == 1
    assert str(foreign) in result.stderr and "not a package written by 'pyngrok vendor'" in result.stderr
    assert os.listdir(foreign) == ["__init__.py"] and sorted(os.listdir(tmp_path)) == ["pyngrok"]


def test_vendor_without_a_directory_is_a_usage_error(tmp_path: Any) -> None:
    missing = subprocess.run(
        [sys.executable, SOURCE, "vendor"], capture_output=True, text=True, timeout=60, cwd=str(tmp_path)
    )
    assert missing.returncode == 2 and "DIR" in missing.stderr
    assert os.listdir(tmp_path) == []


# --- the type checkers, on a typed program that uses the README's imports ---------------------------------

# Each reveal_type line carries what mypy and pyright must print for it: the real type, never Any/Unknown.
USER_PROGRAM = textwrap.dedent(
    '''\
    """A typed program using pyngrok the README's way."""

    import asyncio
    from typing import List, Optional

    from pyngrok import agent, aio, conf, exception, installer, log, ngrok, process
    from pyngrok.conf import PyngrokConfig


    def open_tunnel(port: int) -> Optional[str]:
        config: PyngrokConfig = conf.get_default()
        tunnel = ngrok.connect(str(port), pyngrok_config=config)
        reveal_type(tunnel)  # NgrokTunnel
        reveal_type(tunnel.public_url)  # str | None
        process.set_auth_token(config, "token")
        ngrok.set_auth_token("token", pyngrok_config=config)
        reveal_type(process.get_process(config))  # NgrokProcess
        reveal_type(agent.get_requests())  # list[CapturedRequest]
        installer.install_ngrok(conf.DEFAULT_NGROK_PATH)
        reveal_type(log.NgrokLog("lvl=info msg=x"))  # NgrokLog
        return tunnel.public_url


    async def open_async() -> List[str]:
        tunnel = await aio.connect("8000")
        reveal_type(tunnel)  # NgrokTunnel
        async with aio.connect("8001") as scoped:
            reveal_type(scoped)  # NgrokTunnel
        return [t.public_url or "" for t in await aio.get_tunnels()]


    try:
        open_tunnel(8000)
        asyncio.run(open_async())
    except exception.PyngrokError as error:
        print(error)
    '''
)


# Misspelled names must be errors, not Any: the checkers see the real namespaces, nothing that answers every name.
MISSPELLED_PROGRAM = "from pyngrok import conect\nfrom pyngrok import ngrok\n\nngrok.conect('80')\n"


def expected_reveals() -> Dict[int, str]:
    return {
        number: line.rsplit("# ", 1)[1]
        for number, line in enumerate(USER_PROGRAM.splitlines(), 1)
        if "reveal_type(" in line
    }


def plain_type(text: str) -> str:
    """A revealed type without module prefixes, in one spelling: ``pyngrok.NgrokTunnel`` -> ``NgrokTunnel``."""
    return re.sub(r"\b[a-z_]+\.", "", text).replace("List[", "list[")


def run_tool(command: List[str], cwd: str, env: Dict[str, str]) -> "subprocess.CompletedProcess[str]":
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def typing_tools() -> Dict[str, str]:
    """A venv with the pinned mypy (and setuptools, wheel to build ours), and the pinned pyright from npm."""
    venv = os.path.join(TOOLS_DIR, f"venv-mypy-{MYPY_VERSION}-setuptools-77")
    python = os.path.join(venv, "bin", "python")
    mypy = os.path.join(venv, "bin", "mypy")
    if not os.path.exists(mypy):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True, timeout=300)
        packages = [f"mypy=={MYPY_VERSION}", *BUILD_PACKAGES]
        subprocess.run([python, "-m", "pip", "install", "-q", *packages], check=True, timeout=600)
    npm_prefix = os.path.join(TOOLS_DIR, f"pyright-{PYRIGHT_VERSION}")
    pyright = os.path.join(npm_prefix, "node_modules", ".bin", "pyright")
    if not os.path.exists(pyright):
        command = ["npm", "install", "--no-save", "--no-audit", "--no-fund", "--prefix", npm_prefix]
        subprocess.run([*command, f"pyright@{PYRIGHT_VERSION}"], check=True, timeout=600)
    return {"python": python, "mypy": mypy, "pyright": pyright}


def check_with_mypy(tools: Dict[str, str], project: str, env: Dict[str, str], python: str) -> None:
    result = run_tool(
        [tools["mypy"], "--strict", "--no-incremental", "--python-executable", python, "program.py"], project, env
    )
    assert result.returncode == 0 and "Success: no issues found" in result.stdout, result.stdout + result.stderr
    revealed = {
        int(match.group(1)): plain_type(match.group(2))
        for match in re.finditer(r'^program\.py:(\d+): note: Revealed type is "(.*)"$', result.stdout, re.MULTILINE)
    }
    assert revealed == expected_reveals()
    misspelled = run_tool(
        [tools["mypy"], "--strict", "--no-incremental", "--python-executable", python, "misspelled.py"], project, env
    )
    assert re.findall(r"^misspelled\.py:(\d+): error", misspelled.stdout, re.MULTILINE) == ["1", "4"], misspelled.stdout


def check_with_pyright(tools: Dict[str, str], project: str, env: Dict[str, str], python: str) -> None:
    result = run_tool([tools["pyright"], "--outputjson", "--pythonpath", python, "program.py"], project, env)
    report = json.loads(result.stdout)
    diagnostics = report["generalDiagnostics"]
    problems = [d for d in diagnostics if d["severity"] != "information"]  # no "could not be resolved from source"
    assert result.returncode == 0 and not problems, json.dumps(problems, indent=1)
    revealed = {
        d["range"]["start"]["line"] + 1: plain_type(d["message"].rsplit(' is "', 1)[1][:-1])
        for d in diagnostics
        if d["severity"] == "information" and d["message"].startswith("Type of")
    }
    assert revealed == expected_reveals()
    misspelled = run_tool([tools["pyright"], "--outputjson", "--pythonpath", python, "misspelled.py"], project, env)
    lines = [
        d["range"]["start"]["line"] + 1
        for d in json.loads(misspelled.stdout)["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    assert lines == [1, 4], misspelled.stdout


def write_program(project: str) -> None:
    os.makedirs(project, exist_ok=True)
    for name, text in (("program.py", USER_PROGRAM), ("misspelled.py", MISSPELLED_PROGRAM)):
        with open(os.path.join(project, name), "w", encoding="utf-8") as program:
            program.write(text)


@slow
def test_checkers_see_real_types_with_the_wheel_installed(tmp_path: Any, typing_tools: Dict[str, str]) -> None:
    dist = tmp_path / "dist"
    build = run_tool(
        [typing_tools["python"], "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), REPO_ROOT],
        str(tmp_path),
        dict(os.environ),
    )
    assert build.returncode == 0, build.stdout + build.stderr
    wheel = glob.glob(str(dist / "*.whl"))[0]
    with zipfile.ZipFile(wheel) as archive:
        files = {name.split("/", 1)[1] for name in archive.namelist() if name.startswith("pyngrok/")}
        assert not [name for name in archive.namelist() if "/" not in name]  # no top-level pyngrok.py
        with open(SOURCE, "rb") as source:
            assert archive.read("pyngrok/__init__.py") == source.read()
    assert files == PACKAGE_FILES

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    install = run_tool([python, "-m", "pip", "install", "-q", "--no-index", wheel], str(tmp_path), dict(os.environ))
    assert install.returncode == 0, install.stderr

    project = str(tmp_path / "project")
    write_program(project)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("MYPYPATH", None)
    check_with_mypy(typing_tools, project, env, python)
    check_with_pyright(typing_tools, project, env, python)


@slow
def test_checkers_see_real_types_in_a_vendored_copy(tmp_path: Any, typing_tools: Dict[str, str]) -> None:
    project = str(tmp_path / "project")
    write_program(project)
    assert vendor(os.path.join(project, "vendored")).returncode == 0
    with open(os.path.join(project, "pyrightconfig.json"), "w", encoding="utf-8") as config:
        json.dump({"extraPaths": ["vendored"]}, config)
    env = dict(os.environ, MYPYPATH=os.path.join(project, "vendored"))
    env.pop("PYTHONPATH", None)
    # The interpreter the checkers consult has no pyngrok installed: only the vendored copy can satisfy them.
    bare_python = typing_tools["python"]
    check_with_mypy(typing_tools, project, env, bare_python)
    check_with_pyright(typing_tools, project, env, bare_python)


@slow
@pytest.mark.parametrize("python_version", ["3.8", "3.13"])
def test_pyright_finds_nothing_in_the_file_itself(
    tmp_path: Any, typing_tools: Dict[str, str], python_version: str
) -> None:
    """A user who runs pyright over their tree, with a vendored copy of the file in it, sees no error or warning
    from our file, on the oldest and the newest supported Python."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(SOURCE, str(project / "pyngrok.py"))
    command = [typing_tools["pyright"], "--outputjson", "--pythonversion", python_version, "pyngrok.py"]
    result = run_tool(command, str(project), dict(os.environ))
    report = json.loads(result.stdout)
    problems = [d for d in report["generalDiagnostics"] if d["severity"] in ("error", "warning")]
    assert problems == [] and report["summary"]["filesAnalyzed"] == 1, json.dumps(problems, indent=1)
