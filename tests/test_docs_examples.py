"""The examples in the README and the docs run as written, so they cannot rot.

Run: every ```python block of the README's ``## Quickstart`` section, and
every ```python block in ``docs/*.md`` that the line ``<!-- runnable -->``
comes right before. Blocks of one page run in order in one namespace. A
```text block right after a ``<!-- output -->`` line must equal what the
runnable block before it printed.

A block right after ``<!-- file: PATH -->`` is a file of a small project
(a ``conftest.py``, your code, a test module): the files of a page are
written to an empty directory and ``pytest`` runs there in a fresh process,
with no configuration but what the page shows; every test must pass.

The README quickstart also runs, unchanged and in a fresh interpreter,
against ``decisiontelecom sandbox`` started for the test, with only the two
variables the README says to export.

The service (Viber and SMS API) is stood in for at
``web.it-decision.com``; any other host (a sandbox on loopback, an in-process
transport) passes through. The environment holds DECISIONTELECOM_ACCESS_KEY,
DECISIONTELECOM_SMS_LOGIN and DECISIONTELECOM_SMS_PASSWORD.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import itertools
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx
import pytest

ROOT = Path(__file__).parent.parent
FENCE = re.compile(r"^```(\w*)\s*$")


@attrs.frozen
class Example:
    source: str
    line: int
    expected_output: str | None = None


def blocks(text: str) -> Iterator[tuple[str, int, str, str]]:
    """(language, first line number, body, the last non-blank line before it)."""
    lines = text.splitlines()
    index = 0
    before = ""
    while index < len(lines):
        match = FENCE.match(lines[index])
        if match is None:
            if lines[index].strip():
                before = lines[index].strip()
            index += 1
            continue
        start = index + 1
        index = start
        while index < len(lines) and lines[index].strip() != "```":
            index += 1
        yield match.group(1), start + 1, "\n".join(lines[start:index]) + "\n", before
        before = ""
        index += 1


def runnable(text: str) -> list[Example]:
    examples: list[Example] = []
    for language, line, body, before in blocks(text):
        if language == "python" and before == "<!-- runnable -->":
            examples.append(Example(body, line))
        elif language == "text" and before == "<!-- output -->" and examples:
            examples[-1] = attrs.evolve(examples[-1], expected_output=body)
    return examples


FILE_MARK = re.compile(r"^<!-- file: (\S+) -->$")


def project_files(text: str) -> dict[str, str]:
    """The blocks marked ``<!-- file: PATH -->``, by path."""
    files: dict[str, str] = {}
    for _, _, body, before in blocks(text):
        match = FILE_MARK.match(before)
        if match is not None:
            files[match.group(1)] = body
    return files


def readme_quickstart() -> list[Example]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    _, found, section = text.partition("\n## Quickstart\n")
    assert found, "README.md has a '## Quickstart' section"
    section = section.split("\n## ", 1)[0]
    offset = text[: text.index("\n## Quickstart\n")].count("\n") + 2
    return [
        Example(body, line + offset)
        for language, line, body, _ in blocks(section)
        if language == "python"
    ]


def pages() -> dict[str, list[Example]]:
    found = {"README.md#quickstart": readme_quickstart()}
    for page in sorted((ROOT / "docs").glob("*.md")):
        examples = runnable(page.read_text(encoding="utf-8"))
        if examples:
            found[f"docs/{page.name}"] = examples
    return found


PAGES = pages()


def test_pages_i_own_have_runnable_examples() -> None:
    for page in (
        "README.md#quickstart",
        "docs/quickstart.md",
        "docs/messages.md",
        "docs/errors.md",
        "docs/retries.md",
    ):
        assert PAGES.get(page), page


class StandInService:
    """The Viber and SMS APIs as the examples expect them to answer."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.ids = itertools.count(429)
        self.transport = httpx.MockTransport(self.answer)

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/v1/api/send-viber":
            assert request.headers["Authorization"].startswith("Basic ")
            return httpx.Response(200, json={"message_id": next(self.ids)})
        if path == "/v1/api/receive-viber":
            message_id = json.loads(request.content)["message_id"]
            return httpx.Response(200, json={"message_id": message_id, "status": 1})
        if path == "/ru/js/send":
            return httpx.Response(200, content=b'["msgid","31885463"]')
        if path == "/ru/js/state":
            return httpx.Response(200, content=b'["status","6"]')
        if path == "/ru/js/balance":
            return httpx.Response(200, content=b'["balance":"10.50","credit":"0","currency":"EUR"]')
        return httpx.Response(404)


@contextlib.contextmanager
def stand_in_service(monkeypatch: pytest.MonkeyPatch) -> Iterator[StandInService]:
    """Route every request for web.it-decision.com to the stand-in.

    Patched where httpx picks a transport rather than with respx, so an
    example that starts its own respx router (as the testing guide does)
    still takes precedence, whichever transport the client uses.
    """
    service = StandInService()
    original = httpx.AsyncClient._transport_for_url

    def transport_for_url(client: httpx.AsyncClient, url: httpx.URL) -> httpx.AsyncBaseTransport:
        if url.host == "web.it-decision.com":
            return service.transport
        return original(client, url)

    with monkeypatch.context() as patch:
        patch.setattr(httpx.AsyncClient, "_transport_for_url", transport_for_url)
        yield service


def run(example: Example, namespace: dict[str, object], where: str, runner: asyncio.Runner) -> str:
    code = compile(
        example.source,
        f"{where}:{example.line}",
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
    )
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        if code.co_flags & inspect.CO_COROUTINE:
            # One loop for the page, as in `python -m asyncio`: a client made
            # in one block is used in the next.
            runner.run(eval(code, namespace))  # noqa: S307 - our own docs
        else:
            exec(code, namespace)  # noqa: S102 - our own docs
    return out.getvalue()


@pytest.mark.parametrize("page", PAGES)
def test_examples_run(page: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if page == "docs/observability.md":
        # The page tells the reader to install the SDK and the `otel` extra beside it.
        pytest.importorskip("opentelemetry.sdk", reason="the example needs opentelemetry-sdk")
    monkeypatch.chdir(tmp_path)  # files an example writes (a journal) stay out of the tree
    monkeypatch.setenv("DECISIONTELECOM_ACCESS_KEY", "example-access-key")
    monkeypatch.setenv("DECISIONTELECOM_SMS_LOGIN", "example-login")
    monkeypatch.setenv("DECISIONTELECOM_SMS_PASSWORD", "example-password")
    namespace: dict[str, object] = {"__name__": "__main__"}
    with stand_in_service(monkeypatch) as service, asyncio.Runner() as runner:
        for example in PAGES[page]:
            printed = run(example, namespace, page, runner)
            if example.expected_output is not None:
                assert printed == example.expected_output, f"{page}:{example.line}"
    if page == "README.md#quickstart":
        assert [request.url.path for request in service.requests] == [
            "/v1/api/send-viber",
            "/v1/api/receive-viber",
        ]
        assert printed == "429 DELIVERED True\n"


PROJECT_PAGES = {
    f"docs/{page.name}": files
    for page in sorted((ROOT / "docs").glob("*.md"))
    if (files := project_files(page.read_text(encoding="utf-8")))
}


def test_the_pytest_guide_is_a_project() -> None:
    assert "conftest.py" in PROJECT_PAGES.get("docs/sandbox.md", {})


def clean_environment() -> dict[str, str]:
    """This process's environment without any DECISIONTELECOM_* variable."""
    return {k: v for k, v in os.environ.items() if not k.startswith("DECISIONTELECOM_")}


@pytest.mark.parametrize("page", PROJECT_PAGES)
def test_project_pages_pass_under_pytest(page: str, tmp_path: Path) -> None:
    for path, body in PROJECT_PAGES[page].items():
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    env = clean_environment()
    # The project's own code imports as it would from its root.
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    result = subprocess.run(  # noqa: S603 - our own interpreter, the page's files
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b[1-9]\d* passed\b", result.stdout), result.stdout
    assert "failed" not in result.stdout
    assert "skipped" not in result.stdout


@contextlib.contextmanager
def cli_sandbox() -> Iterator[str]:
    """``decisiontelecom sandbox --port 0`` in its own process; yields its base URL."""
    command = [sys.executable, "-c", "from decisiontelecom_async._cli import main; main()"]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and command
        [*command, "sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_environment(),
    )
    try:
        assert process.stdout is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            found = re.search(r"http://127\.0\.0\.1:\d+/v1/api", line)
            if found:
                yield found.group()
                break
            assert len(seen) < 50, "".join(seen)
        else:
            pytest.fail("the sandbox exited: " + "".join(seen))
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


@pytest.mark.network
def test_readme_quickstart_runs_unchanged_against_the_cli_sandbox() -> None:
    # `decisiontelecom sandbox` is the command line: the cli extra (core-only runs skip).
    pytest.importorskip("click", reason="the README's sandbox command needs the cli extra")
    pytest.importorskip("rich", reason="the README's sandbox command needs the cli extra")
    (source,) = [example.source for example in readme_quickstart()]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    with cli_sandbox() as base_url:
        # Exactly what the README tells the reader to export.
        exports = dict(re.findall(r"export (DECISIONTELECOM_\w+)=(\S+)", readme))
        assert set(exports) == {"DECISIONTELECOM_ACCESS_KEY", "DECISIONTELECOM_BASE_URL"}
        assert exports["DECISIONTELECOM_BASE_URL"].removeprefix("http://127.0.0.1:8080") == (
            "/v1/api"
        )
        env = clean_environment() | exports
        env["DECISIONTELECOM_BASE_URL"] = base_url  # port 0: the port it got
        result = subprocess.run(  # noqa: S603 - our own interpreter, the README's code
            [sys.executable, "-c", source],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.fullmatch(r"\d+ (PENDING|SENT|DELIVERED) (True|False)\n", result.stdout), (
        result.stdout
    )


CALLBACK_EXAMPLE = re.compile(r"^% example: (\S+)$")


def test_every_python_example_is_run() -> None:
    """No example on a page is left to rot: each one is run by some test."""
    # Pages whose examples need a real server: their own tests run them.
    example_tests = {
        "callbacks.md": (ROOT / "tests" / "callbacks" / "test_server.py",),
        "distributed.md": (
            ROOT / "tests" / "distributed" / "test_redis_limit.py",
            ROOT / "tests" / "distributed" / "test_postgres_journal.py",
        ),
        "observability.md": (ROOT / "tests" / "telemetry" / "test_recipes.py",),
    }
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = {example.source for example in readme_quickstart()}
    unrun = [
        f"README.md:{line}"
        for language, line, body, _ in blocks(readme)
        if language == "python" and body not in quickstart
    ]
    for page in sorted((ROOT / "docs").glob("*.md")):
        for language, line, _, before in blocks(page.read_text(encoding="utf-8")):
            if language != "python" or before == "<!-- runnable -->" or FILE_MARK.match(before):
                continue
            named = CALLBACK_EXAMPLE.match(before)
            tests = example_tests.get(page.name, ())
            quoted = f'"{named.group(1)}"' if named else None
            if quoted and any(quoted in test.read_text(encoding="utf-8") for test in tests):
                continue
            unrun.append(f"docs/{page.name}:{line}")
    assert not unrun


def requirement_modules(requirements: list[str]) -> set[str]:
    """The import names of ``requirements`` (``pytest-asyncio>=1`` is ``pytest_asyncio``)."""
    names = {
        re.split(r"[^A-Za-z0-9_.-]", requirement, maxsplit=1)[0] for requirement in requirements
    }
    return {name.lower().replace("-", "_") for name in names}


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# What a distribution a page names brings with it that its examples import.
BROUGHT_ALONG = {
    "fastapi": {"starlette"},
    # OpenTelemetry's distributions all fill the one `opentelemetry` namespace.
    "opentelemetry_api": {"opentelemetry"},
    "opentelemetry_sdk": {"opentelemetry"},
    "opentelemetry_exporter_otlp_proto_http": {"opentelemetry"},
    "opentelemetry_exporter_prometheus": {"opentelemetry", "prometheus_client"},
}


def installable_on(text: str) -> set[str]:
    """The modules a reader has after the installs ``text`` tells them to make."""
    extras = PYPROJECT["optional-dependencies"]
    named = set(re.findall(r"\[(\w+)\]", text)) & set(extras)
    if "all" in named:
        named |= set(re.findall(r"\[([\w,]+)\]", extras["all"][0])[0].split(","))
    modules = requirement_modules(PYPROJECT["dependencies"])
    for extra in named - {"all"}:
        modules |= requirement_modules(extras[extra])
    for command in re.findall(r"pip install ([A-Za-z][\w -]*)", text):
        modules |= requirement_modules(command.split())
    for name in list(modules):
        modules |= BROUGHT_ALONG.get(name, set())
    return modules


def imported(source: str) -> set[str]:
    tree = ast.parse(source)
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize(
    "page", ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
)
def test_examples_import_only_what_the_page_installs(page: str) -> None:
    text = (ROOT / page).read_text(encoding="utf-8")
    have = installable_on(text) | set(sys.stdlib_module_names) | {"decisiontelecom_async", "myapp"}
    missing = {
        f"{module} (line {line})"
        for language, line, body, _ in blocks(text)
        if language == "python"
        for module in imported(body) - have
    }
    assert not missing, f"{page} imports what it does not tell the reader to install"


def test_block_parsing() -> None:
    text = """\
<!-- runnable -->
```python
print(1)
```

<!-- output -->
```text
1
```
```python
not run
```
"""
    assert runnable(text) == [Example("print(1)\n", 3, "1\n")]
