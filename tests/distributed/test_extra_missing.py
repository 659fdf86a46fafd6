"""Without the ``distributed`` extra: the core works, the subpackage says what to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

HIDE_REDIS = textwrap.dedent(
    """
    import importlib.abc
    import sys


    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] == "redis":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, Hide())
    import decisiontelecom_async

    decisiontelecom_async.ViberClient("key", rate_limit=10)
    try:
        import decisiontelecom_async.distributed
    except ImportError as exc:
        print(exc)
    """
)


def test_the_subpackage_names_the_extra_to_install() -> None:
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", HIDE_REDIS], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'pip install "decisiontelecom-async[distributed]"' in done.stdout, done


HIDE_ASYNCPG = textwrap.dedent(
    """
    import importlib.abc
    import sys


    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] == "asyncpg":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, Hide())
    from decisiontelecom_async.distributed import RedisRateLimit

    RedisRateLimit("redis://127.0.0.1:1/0", rate=1.0)
    try:
        from decisiontelecom_async.distributed import PostgresJournal
    except ImportError as exc:
        print(exc)
    """
)


def test_postgres_journal_without_asyncpg_names_the_extra() -> None:
    # redis present, asyncpg absent: the core-only session has neither.
    pytest.importorskip("redis", reason="the distributed extra is not installed")
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", HIDE_ASYNCPG], capture_output=True, text=True, timeout=60, check=True
    )
    assert 'PostgresJournal needs asyncpg: pip install "decisiontelecom-async[distributed]"' in (
        done.stdout
    ), done
