"""Sphinx configuration: Markdown pages (MyST) plus autodoc from docstrings."""

from __future__ import annotations

import decisiontelecom_async

project = "decisiontelecom-async"
author = "decisiontelecom-async contributors"
copyright = "2026, decisiontelecom-async contributors"
release = decisiontelecom_async.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"decisiontelecom-async {release}"
