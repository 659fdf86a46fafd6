"""The API reference shows only public names, as a user can import them."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path
from types import ModuleType

import pytest

import decisiontelecom_async
from decisiontelecom_async import callbacks, sandbox

CONF = Path(__file__).parent.parent / "docs" / "conf.py"


def load_conf() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_conf", CONF)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def documented_classes() -> list[type]:
    found: list[type] = []
    for module in (decisiontelecom_async, sandbox, callbacks):
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value):
                found.append(value)
    return found


def is_public(base: object) -> bool:
    origin = getattr(base, "__origin__", base)
    if not getattr(origin, "__module__", "").startswith("decisiontelecom_async"):
        return True
    return any(
        getattr(module, origin.__name__, None) is origin
        for module in (decisiontelecom_async, sandbox, callbacks)
    )


@pytest.mark.parametrize("cls", documented_classes(), ids=lambda cls: cls.__name__)
def test_no_private_base_is_shown(cls: type) -> None:
    conf = load_conf()
    bases = list(getattr(cls, "__orig_bases__", None) or cls.__bases__)
    conf.public_bases(None, cls.__name__, cls, None, bases)
    assert bases, "Sphinx would print an empty 'Bases:' line"
    assert all(is_public(base) for base in bases), bases


def test_the_hook_is_connected() -> None:
    conf = load_conf()
    connected: list[tuple[str, object]] = []

    class App:
        def connect(self, event: str, handler: object) -> None:
            connected.append((event, handler))

    conf.setup(App())
    assert ("autodoc-process-bases", conf.public_bases) in connected


def test_viber_client_shows_object_as_its_base() -> None:
    conf = load_conf()
    bases = list(decisiontelecom_async.ViberClient.__orig_bases__)  # type: ignore[attr-defined]
    conf.public_bases(None, "ViberClient", decisiontelecom_async.ViberClient, None, bases)
    assert bases == [object]
