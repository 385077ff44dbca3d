"""Build hooks for pyngrok, single-file edition. The metadata is in pyproject.toml."""

import importlib.util
import os
import sys

import setuptools
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildTypedPackage(build_py):
    """Build ``pyngrok.py`` as the typed package form that ``python -m pyngrok vendor`` writes: the one file as
    ``pyngrok/__init__.py``, ``py.typed`` and a ``.pyi`` stub per upstream submodule, so mypy and pyright see
    ``pyngrok.ngrok``, ``pyngrok.conf``, ... with real types. The repository keeps the one source file."""

    def run(self) -> None:
        source = _load_source_module()
        self.mkpath(self.build_lib)
        stale_module = os.path.join(self.build_lib, "pyngrok.py")  # left by a build before the package form
        if os.path.exists(stale_module):
            os.remove(stale_module)
        source._write_package_form(self.build_lib)

    def get_outputs(self, include_bytecode: bool = True) -> list:
        package = os.path.join(self.build_lib, "pyngrok")
        return [os.path.join(package, name) for name in sorted(os.listdir(package))] if os.path.isdir(package) else []


def _load_source_module():
    """``pyngrok.py`` from this source tree (not an installed pyngrok), under a name of its own."""
    name = "_pyngrok_source_for_build"
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, "pyngrok.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _licence_metadata():
    """The licence as the running setuptools can state it.

    setuptools 77 and later take an SPDX expression (PEP 639) and deprecate the old free-text field; the last
    setuptools that runs on Python 3.8 knows only the free-text field. pyproject.toml marks ``license`` as
    dynamic, so it is set here, once for each.
    """
    major = int(setuptools.__version__.split(".", 1)[0])
    if major >= 77:
        return {"license_expression": "MIT", "license_files": ["LICENSE"]}
    return {"license": "MIT", "license_files": ["LICENSE"]}


setuptools.setup(cmdclass={"build_py": BuildTypedPackage}, **_licence_metadata())
