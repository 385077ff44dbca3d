"""Sphinx configuration for the docs of pyngrok, single-file edition (`make docs`)."""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import pyngrok  # after the path is set

project = "pyngrok, single-file edition"
author = "The pyngrok single-file edition contributors"
copyright = "2026, " + author
release = pyngrok.__edition_version__
version = pyngrok.__version__

extensions = ["sphinx.ext.autodoc"]
# The docstrings use Sphinx's field lists (:param:, :return:, :raises:); types come from the annotations.
autodoc_typehints = "description"
autodoc_member_order = "bysource"
autodoc_preserve_defaults = True
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
