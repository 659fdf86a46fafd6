"""The one entry point for checks: ``nox`` runs tests, lint, typecheck, docs and build.

The tests run twice: ``tests`` with every extra (under coverage), and
``tests_core`` with what ``pip install decisiontelecom-async`` gives a user;
tests of an extra skip there, with the reason.

``nox -s bench`` runs the benchmarks (not part of the default run).
"""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "tests_core", "lint", "typecheck", "docs", "build"]
nox.options.reuse_existing_virtualenvs = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
PYTHON = "3.11"


def install_groups(session: nox.Session, *groups: str, extras: str = "") -> None:
    """Install the package (with ``extras``) and the named dependency groups."""
    requirements = nox.project.dependency_groups(PYPROJECT, *groups)
    session.install("-e", f".{extras}", *requirements)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Run the test suite under coverage, the loopback-server tests included."""
    install_groups(session, "tests", "tests-otel", extras="[all]")
    session.run("coverage", "run", "-m", "pytest", *session.posargs)
    session.run("coverage", "report", "--fail-under=85")


@nox.session(python=PYTHON)
def tests_core(session: nox.Session) -> None:
    """Run the test suite on the core install: no extra (no aiohttp, click, rich)."""
    install_groups(session, "tests")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """Ruff lint and format check."""
    install_groups(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    install_groups(session, "typing", extras="[all]")
    session.run("mypy", "decisiontelecom_async")


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the docs; any warning fails the build."""
    install_groups(session, "docs", extras="[all]")
    session.run("sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html")


# What a wheel must hold beside the modules: the typing marker and the licence.
WHEEL_MUST_HOLD = ("decisiontelecom_async/py.typed", "licenses/LICENSE")


@nox.session(python=PYTHON)
def build(session: nox.Session) -> None:
    """Build the sdist and the wheel into dist/ and check them as PyPI would."""
    install_groups(session, "build")
    dist = Path("dist")
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    built = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *built)
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    missing = [
        needed for needed in WHEEL_MUST_HOLD if not any(name.endswith(needed) for name in names)
    ]
    if missing:
        session.error(f"{wheel.name} lacks {missing}")
    if any(name.startswith("tests/") for name in names):
        session.error(f"{wheel.name} holds the tests")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run the benchmarks in bench/ and print their figures."""
    install_groups(session, "bench", extras="[all]")
    session.run("python", "bench/run.py", *session.posargs)
