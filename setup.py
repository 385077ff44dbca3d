"""Packaging for pyngrok, single-file edition: one module, no dependencies."""

import re

from setuptools import setup

with open("pyngrok.py", encoding="utf-8") as source:
    version = re.search(r'^__version__ = "([^"]+)"', source.read(), re.MULTILINE).group(1)

with open("README.rst", encoding="utf-8") as readme:
    long_description = readme.read()

setup(
    name="pyngrok",
    version=version,
    description="A single-file, standard-library-only drop-in replacement for pyngrok, a Python wrapper for ngrok",
    long_description=long_description,
    long_description_content_type="text/x-rst",
    license="MIT",
    py_modules=["pyngrok"],
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
