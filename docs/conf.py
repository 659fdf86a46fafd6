"""Sphinx configuration: Markdown pages (MyST) plus autodoc from docstrings."""

from __future__ import annotations

import importlib
import typing

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

_PUBLIC_MODULES = (
    "decisiontelecom_async",
    "decisiontelecom_async.sandbox",
    "decisiontelecom_async.callbacks",
)


def _is_public(base: object) -> bool:
    origin = getattr(base, "__origin__", base)
    if not getattr(origin, "__module__", "").startswith("decisiontelecom_async"):
        return True
    name = getattr(origin, "__name__", "")
    return any(
        getattr(importlib.import_module(module), name, None) is origin for module in _PUBLIC_MODULES
    )


def public_bases(
    _app: object, _name: str, _obj: object, _options: object, bases: list[object]
) -> None:
    """Show no private base in the reference (``ViberClient``'s ``StatusLookups[...]``).

    A private base gives way to its nearest public ancestors (``object`` at
    the end), so every class still shows what it is.
    """
    shown: list[object] = []
    for base in bases:
        if _is_public(base):
            candidates = [base]
        else:
            origin = getattr(base, "__origin__", base)
            # typing.Generic is how a private generic base is built, not what it is.
            candidates = [
                next(a for a in origin.__mro__[1:] if _is_public(a) and a is not typing.Generic)
            ]
        shown += [candidate for candidate in candidates if candidate not in shown]
    bases[:] = shown


def setup(app: object) -> None:
    app.connect("autodoc-process-bases", public_bases)
