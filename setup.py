"""Packaging for pyngrok, single-file edition: one module, no dependencies."""

import importlib.util
import os
import re
import sys

from setuptools import setup
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


with open(os.path.join(HERE, "pyngrok.py"), encoding="utf-8") as source:
    version = re.search(r'^__version__ = "([^"]+)"', source.read(), re.MULTILINE).group(1)

with open(os.path.join(HERE, "README.rst"), encoding="utf-8") as readme:
    long_description = readme.read()

setup(
    name="pyngrok",
    version=version,
    description="A single-file, standard-library-only drop-in replacement for pyngrok, a Python wrapper for ngrok",
    long_description=long_description,
    long_description_content_type="text/x-rst",
    license="MIT",
    py_modules=["pyngrok"],
    cmdclass={"build_py": BuildTypedPackage},
    python_requires=">=3.8",
    install_requires=[],
    entry_points={"console_scripts": ["pyngrok=pyngrok:main", "ngrok=pyngrok:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "License :: OSI Approved :: MIT License",
        "Operating System :: OS Independent",
    ],
)
