"""The shell examples in the README and the docs run as written, or say why not.

Every ```bash, ```console, ```shell and ```sh block of README.md and
``docs/*.md`` is read command by command (``$ `` starts a command in a
console block, ``\\`` continues it, ``&&`` chains commands); the lines after
a console command are what it prints. Each command is one of:

* **run** (``decisiontelecom ...``, ``python FILE.py``, ``sqlite3 ...``): in
  ``bash``, in the page's own empty directory, as written, with the
  ``decisiontelecom`` entry point of the installed package on ``PATH``. The
  service is stood in for by ``decisiontelecom sandbox`` on a free port,
  started by the test: ``127.0.0.1:8080`` anywhere in a page is that port,
  ``DECISIONTELECOM_BASE_URL`` points at it unless the page exports its
  own, and an exported key shown as ``...`` (yours) is the sandbox's. The
  files a command reads (``customers.csv``, a journal) are made by the test
  as the page describes them, and ``decisiontelecom status`` gets the ids of
  messages the test sent instead of the page's. ``decisiontelecom sandbox``
  itself runs in the background, on port 0, until the test presses Ctrl+C.
  The terminal is 200 columns wide.
* **distributed** (a ``run`` command naming a URL of :data:`DISTRIBUTED`):
  run the same way, with the page's PostgreSQL and Redis URLs mapped, by
  that small explicit table, to a real PostgreSQL and a real
  ``redis-server`` on 127.0.0.1 started by the test (``tests/_servers.py``,
  as the distributed tests use): the URL is the only word changed, so
  ``postgresql://db/campaigns`` becomes a fresh database of the test's
  PostgreSQL, ``redis://10.0.0.5:6379/0`` the test's Redis. Without the
  ``distributed`` extra (the ``tests_core`` session) or, outside CI, without
  the server binaries, only these commands are left out and the page's test
  ends skipped saying so, after the rest ran; in CI (``CI=true``) a missing
  binary fails.
* **export NAME=VALUE**: the rest of the page runs with it; a base URL must
  be where the sandbox serves, a key the sandbox's (or ``...``).
* **set-up** (``python3 -m venv``, ``pip install``, ``git clone``, ``cd``,
  ``nox``): checked, not run, since they need a fresh venv or the network:
  the extras an install names exist in pyproject (and the README's comments
  name what they bring), the clone is this project's repository, ``nox``
  lists the sessions the README describes. The README's demo line runs as
  ``decisiontelecom demo --messages 200``.

Output shown must match what the command prints, line by line in order:
figures may differ (digits are compared as "a number"; a bar's length as "a
bar"; the README's "prints e.g." also lets the status differ), except the
figures that are the same in every run (:data:`EXACT`), which must be equal.
A command exits with 0 unless :data:`EXIT_CODES` says why not. A block right
after ``<!-- not run: REASON -->`` is not run, and there are few of those.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import attrs
import pytest
from _servers import (
    PostgresServer,
    RedisServer,
    missing,
    missing_postgres,
    postgres_bin,
    postgres_session,
    redis_session,
)
from test_docs_examples import PYPROJECT, ROOT, blocks, clean_environment, readme_quickstart

pytestmark = pytest.mark.network

SHELL = {"bash", "console", "shell", "sh"}
NOT_RUN = re.compile(r"^<!-- not run: (.+) -->$")
OUTPUT_OF_ABOVE = "<!-- output of the command above -->"
BIN = Path(sys.executable).parent
SANDBOX_PORT = "127.0.0.1:8080"
SETUP = ("python3 -m venv", "pip install", "git clone", "cd", "nox")

# Figures that do not change from run to run: a shown table row whose label
# is here must be printed exactly (the demo's counts for its seed, a
# campaign's counts for its file).
EXACT = {
    "messages",
    "sent",
    "delivered on Viber",
    "delivered by SMS fallback",
    "failed",
    "undelivered, no fallback",
    "undelivered, SMS undeliverable",
    "rejected, no fallback",
    "rejected, SMS undeliverable",
    "rows",
    "invalid row",
    "results",
}
# The documented URL -> the server of the test's that stands in for it.
DISTRIBUTED = {
    "postgresql://db/campaigns": "postgres",
    "redis://10.0.0.5:6379/0": "redis",
}
# The fixtures of those servers, used through request.getfixturevalue.
__all__ = ["postgres_session", "redis_session"]

# (page, command) -> exit code, where the page shows a run that is not all well.
EXIT_CODES = {
    # The campaign's file has two broken rows (the page's summary: failed 2).
    ("docs/cli.md", "decisiontelecom campaign customers.csv"): 1,
    # A journal with unknown rows (the query's output shows them): not all sent.
    ("docs/durable.md", "decisiontelecom campaign spring-sale.csv"): 1,
    # The same two broken rows are never loaded into the PostgreSQL campaign.
    (
        "docs/cli.md",
        (
            "decisiontelecom campaign customers.csv --journal postgresql://db/campaigns "
            "--campaign spring"
        ),
    ): 1,
    # Results files with those two rows `invalid`: not every row is `sent`.
    (
        "docs/cli.md",
        (
            "decisiontelecom results --journal postgresql://db/campaigns --campaign spring "
            "--output spring.results.csv"
        ),
    ): 1,
    (
        "docs/cli.md",
        (
            "decisiontelecom results --journal customers.journal --file customers.csv "
            "--output customers.results.csv"
        ),
    ): 1,
}


@attrs.frozen
class Command:
    """One command of a shell block, and the lines shown as its output."""

    text: str
    page: str
    line: int
    output: tuple[str, ...] = ()
    not_run: str | None = None

    @property
    def kind(self) -> str:
        if self.text.startswith("export "):
            return "export"
        words = self.text.split()
        program = Path(words[0]).name
        if program in {"decisiontelecom", "sqlite3"}:
            return "run"
        if program == "python" and words[1:2] and words[1].endswith(".py"):
            return "run"
        if any(f"{program} {' '.join(words[1:])}".startswith(s) for s in SETUP):
            return "setup"
        return "unknown"


def split_chain(text: str) -> list[str]:
    """``a && b`` as ``[a, b]`` (each re-quoted as written); a comment dropped."""
    parts: list[list[str]] = [[]]
    for word in shlex.split(text, comments=True):
        if word == "&&":
            parts.append([])
        else:
            parts[-1].append(word)
    return [shlex.join(words) for words in parts if words]


def command_lines(language: str, body: str, first: int) -> list[tuple[int, str, list[str]]]:
    """(line number, command with its continuations joined, the lines it printed)."""
    found: list[tuple[int, str, list[str]]] = []
    pending = ""
    for offset, raw in enumerate(body.splitlines()):
        if language == "console" and not pending and not raw.startswith("$ "):
            if found:
                found[-1][2].append(raw)
            continue
        text = raw.removeprefix("$ ") if not pending else raw.strip()
        if text.endswith("\\"):
            pending += text[:-1].rstrip() + " "
            continue
        if (pending + text).strip():
            found.append((first + offset, pending + text, []))
        pending = ""
    return found


def shell_commands(page: str) -> list[Command]:
    """Every command of every shell block of ``page``, in order."""
    found: list[Command] = []
    for language, line, body, before in blocks((ROOT / page).read_text(encoding="utf-8")):
        if language == "text" and before == OUTPUT_OF_ABOVE:
            assert found, f"{page}:{line}: output of no command"
            found[-1] = attrs.evolve(found[-1], output=tuple(body.splitlines()))
            continue
        if language not in SHELL:
            continue
        reason = match.group(1) if (match := NOT_RUN.match(before)) else None
        for at, text, output in command_lines(language, body, line):
            found.extend(
                Command(part, page, at, tuple(output), reason) for part in split_chain(text)
            )
            comment = text.partition("  #")[2].strip()
            if comment and language != "console":
                # "# prints e.g. ..." is the output a bash block shows.
                found[-1] = attrs.evolve(found[-1], output=(comment,))
    return found


PAGES = ["README.md", *sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))]
COMMANDS = {page: commands for page in PAGES if (commands := shell_commands(page))}


# -- comparing output ----------------------------------------------------------------


def shape(line: str, *, loose_status: bool = False) -> str:
    """``line`` with its figures as ``N``, its bars of any length, its spacing collapsed."""
    line = re.sub(r"\d+", "N", line)
    if loose_status:
        line = re.sub(r"\b(PENDING|SENT|DELIVERED|True|False)\b", "S", line)
    line = re.sub(r"([─━═])\1+", r"\1", line)
    return " ".join(line.split())


def label(line: str) -> str:
    """A table row's first cell, or ''."""
    cells = line.strip().strip("│").split("│")
    return cells[0].strip() if len(cells) > 1 else ""


def assert_prints(shown: tuple[str, ...], printed: str, where: str) -> None:
    """Each shown line, in order, is printed (see the module docstring)."""
    loose = bool(shown) and shown[0].startswith("prints e.g.")
    if loose:
        shown = (shown[0].removeprefix("prints e.g.").strip().strip('"'),)
    lines = printed.splitlines()
    at = 0
    for want in shown:
        if not want.strip():
            continue
        exact = label(want) in EXACT
        while at < len(lines) and (
            " ".join(lines[at].split()) != " ".join(want.split())
            if exact
            else shape(lines[at], loose_status=loose) != shape(want, loose_status=loose)
        ):
            at += 1
        assert at < len(lines), f"{where}: the page shows {want!r}; it printed:\n{printed}"
        at += 1


# -- the sandbox and the page's files ------------------------------------------------


def environment() -> dict[str, str]:
    env = clean_environment()
    env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", "")])
    env["COLUMNS"] = "200"
    return env


@contextlib.contextmanager
def background(command: str, cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """``command`` in bash, in its own process group; stopped (SIGINT) on the way out."""
    process = subprocess.Popen(  # noqa: S603 - bash running our own docs' command
        ["bash", "-c", "exec " + command],  # noqa: S607 - bash from PATH
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def first_lines(process: subprocess.Popen[str], count: int) -> list[str]:
    """The first ``count`` lines ``process`` prints (it fails if it exits first)."""
    assert process.stdout is not None
    seen: list[str] = []
    while len(seen) < count:
        line = process.stdout.readline()
        assert line, "it exited: " + "".join(seen)
        seen.append(line.rstrip("\n"))
    return seen


@attrs.define
class PageRun:
    """What a page's commands share: a directory, an environment, the sandbox."""

    page: str
    cwd: Path
    env: dict[str, str]
    base_url: str
    port: str
    sent: list[str] = attrs.Factory(list)
    # Documented URL -> the real server's URL (see DISTRIBUTED).
    urls: dict[str, str] = attrs.Factory(dict)

    def bash(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - bash running our own docs' command
            ["bash", "-c", command],  # noqa: S607 - bash from PATH
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )

    def expect(self, command: Command, text: str) -> None:
        where = f"{command.page}:{command.line}"
        done = self.bash(text)
        code = EXIT_CODES.get((command.page, command.text), 0)
        assert done.returncode == code, f"{where}: {text}\n{done.stdout}{done.stderr}"
        assert "Traceback" not in done.stdout + done.stderr, where
        assert_prints(command.output, done.stdout + done.stderr, where)


@contextlib.contextmanager
def page_sandbox(options: list[str], cwd: Path) -> Iterator[str]:
    """``decisiontelecom sandbox --port 0 OPTIONS``; yields its Viber base URL."""
    command = shlex.join(["decisiontelecom", "sandbox", "--port", "0", *options])
    with background(command, cwd, environment()) as process:
        (line, *_) = first_lines(process, 3)
        found = re.search(r"http://127\.0\.0\.1:\d+/v1/api", line)
        assert found, line
        yield found.group()


def customers_csv(cwd: Path) -> None:
    """cli.md's campaign file: 1,002 rows, semicolon-delimited, two of them broken."""
    rows = ["receiver;text;sender;sms_text"]
    for index in range(1002):
        receiver = "not-a-number" if index in {10, 500} else f"38063{1_000_000 + index:07d}"
        rows.append(f"{receiver};Your order #{index} has shipped.;Custom Company;Order shipped")
    (cwd / "customers.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def parts_csv(cwd: Path) -> None:
    """cli.md's ``--shared-limit`` files: part1.csv and part2.csv, 100 good rows each."""
    for part in (1, 2):
        rows = ["receiver;text;sender;sms_text"]
        for index in range(100):
            receiver = f"38067{part * 1_000_000 + index:07d}"
            rows.append(f"{receiver};Spring sale: 20% off.;Custom Company;Spring sale")
        (cwd / f"part{part}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def cli_files(run: PageRun) -> None:
    customers_csv(run.cwd)
    parts_csv(run.cwd)


def spring_sale_journal(run: PageRun) -> None:
    """durable.md's journal: a campaign's, some of its sends in doubt (dropped answers)."""
    rows = ["receiver,text,sender"]
    rows += [f"38063{1_000_000 + i:07d},Spring sale: 20% off.,Custom Company" for i in range(100)]
    (run.cwd / "spring-sale.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    campaign = "decisiontelecom campaign spring-sale.csv"
    keyed = attrs.evolve(run, env=run.env | {"DECISIONTELECOM_ACCESS_KEY": "sandbox-key"})
    keyed.expect(Command(campaign, run.page, 0), campaign)
    assert (run.cwd / "spring-sale.journal").exists()


# Per page: the sandbox the test serves it (the options the page's figures
# came from), and the files made before its commands run.
SANDBOX_OPTIONS = {
    # "A real run ... against decisiontelecom sandbox --rate-limit 300
    # --server-errors 0.01"; seed 7 at half undelivered makes the status
    # example's three messages undelivered, undelivered and delivered.
    "docs/cli.md": "--rate-limit 300 --server-errors 0.01 --undelivered 0.5 --seed 7",
    "docs/durable.md": "--drop 0.1",
}
PREPARE: dict[str, Callable[[PageRun], None]] = {
    "docs/cli.md": cli_files,
    "docs/durable.md": spring_sale_journal,
}


# -- what each kind of command does ----------------------------------------------------


def do_export(run: PageRun, command: Command) -> None:
    name, _, value = command.text.removeprefix("export ").partition("=")
    if name == "DECISIONTELECOM_BASE_URL":
        assert value.startswith(f"http://{SANDBOX_PORT}/"), command
        value = value.replace(SANDBOX_PORT, f"127.0.0.1:{run.port}")
        assert value == run.base_url, f"{command}: the sandbox serves {run.base_url}"
    elif name == "DECISIONTELECOM_ACCESS_KEY":
        assert value in {"...", "sandbox-key"}, command
        value = "sandbox-key"
    else:
        pytest.fail(f"{command.page}:{command.line}: exports {name}, which no test knows")
    run.env[name] = value


def do_status(run: PageRun, command: Command) -> None:
    shown_ids = re.findall(r"\d{6,}", command.text)
    # Messages sent here, with an SMS fallback, stand in for the page's ids.
    for _ in shown_ids:
        done = run.bash(
            'decisiontelecom send --sender "Custom Company" --to 380636111112 '
            '--text "Your order has shipped." --sms-text "Your order has shipped."'
        )
        assert done.returncode == 0, done.stderr
        run.sent.append(done.stdout.strip())
    text = command.text
    for shown, real in zip(shown_ids, run.sent[-len(shown_ids) :], strict=True):
        text = text.replace(shown, real)
    # The page shows final statuses: an SMS fallback takes about 2 s.
    for _ in range(60):
        done = run.bash(text)
        if done.stdout.count(" yes") == len(shown_ids):
            break
        time.sleep(0.5)
    run.expect(command, text)


def do_sandbox(run: PageRun, command: Command) -> None:
    assert f"--port {SANDBOX_PORT.rpartition(':')[2]}" in command.text, command
    text = command.text.replace(f"--port {SANDBOX_PORT.rpartition(':')[2]}", "--port 0")
    with background(text, run.cwd, run.env) as process:
        printed = first_lines(process, len(command.output))
        port = re.search(r"127\.0\.0\.1:(\d+)", printed[0])
        assert port, printed
        served = f"127.0.0.1:{port.group(1)}"
        shown = [line.replace(SANDBOX_PORT, served) for line in command.output]
        assert printed == shown, f"{command.page}:{command.line}"
        process.send_signal(signal.SIGINT)
        assert process.stdout is not None
        rest = process.stdout.read()
        # "then prints `sandbox stopped` and exits with 0"
        assert process.wait(timeout=30) == 0
    assert "sandbox stopped" in rest


def do_run(run: PageRun, command: Command) -> None:
    words = shlex.split(command.text)
    program = Path(words[0]).name
    if program == "decisiontelecom" and words[1:2] == ["sandbox"]:
        do_sandbox(run, command)
        return
    if program == "decisiontelecom" and words[1:2] == ["status"]:
        do_status(run, command)
        return
    text = shlex.join([program, *words[1:]])
    for documented, real in run.urls.items():
        text = text.replace(documented, real)
    if command.page == "README.md" and words[1:] == ["demo"]:
        text += " --messages 200"  # the README's one-line set-up: the command, shorter
    if program == "python":
        # The README's quickstart, saved as the file the command names.
        (source,) = [example.source for example in readme_quickstart()]
        (run.cwd / words[1]).write_text(source, encoding="utf-8")
    run.expect(command, text)


def servers_needed(command: Command) -> set[str]:
    """The kinds of server (``postgres``, ``redis``) ``command``'s URLs stand for."""
    return {kind for url, kind in DISTRIBUTED.items() if url in command.text}


def distributed_urls(page: str, request: pytest.FixtureRequest) -> tuple[dict[str, str], str]:
    """Documented URL -> real URL for the servers ``page`` needs; why any are left out.

    A server is left out without the ``distributed`` extra, or (outside CI)
    without its binaries; a command needing one left out is not run.
    """
    needed = set().union(*(servers_needed(c) for c in COMMANDS[page] if c.not_run is None))
    if not needed:
        return {}, ""
    if not all(importlib.util.find_spec(module) for module in ("redis", "asyncpg")):
        return {}, "the distributed extra (redis, asyncpg) is not installed"
    urls: dict[str, str] = {}
    reasons: list[str] = []
    for documented, kind in DISTRIBUTED.items():
        if kind not in needed:
            continue
        try:
            if kind == "redis":
                if shutil.which("redis-server") is None:
                    missing("redis-server is not installed")
                redis: RedisServer = request.getfixturevalue("redis_session")
                urls[documented] = redis.url
            else:
                bindir = postgres_bin()
                if bindir is None or not (bindir / "initdb").exists():
                    missing_postgres("PostgreSQL's server binaries are not installed")
                postgres: PostgresServer = request.getfixturevalue("postgres_session")
                urls[documented] = postgres.new_database()
        except pytest.skip.Exception as skipped:
            reasons.append(str(skipped))
    return urls, "; ".join(reasons)


def run_page(page: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    commands = [command for command in COMMANDS[page] if command.not_run is None]
    urls, left_out = distributed_urls(page, request)
    not_run = [c for c in commands if servers_needed(c) - {DISTRIBUTED[u] for u in urls}]
    commands = [c for c in commands if c not in not_run]
    with page_sandbox(shlex.split(SANDBOX_OPTIONS.get(page, "")), tmp_path) as base_url:
        env = environment() | {"DECISIONTELECOM_BASE_URL": base_url}
        port = base_url.split(":")[2].split("/")[0]
        run = PageRun(page, tmp_path, env, base_url, port, urls=urls)
        if page in PREPARE:
            PREPARE[page](run)
        for command in commands:
            if command.kind == "export":
                do_export(run, command)
            elif command.kind == "run":
                do_run(run, command)
    if not_run:
        pytest.skip(f"ran all but the {len(not_run)} command(s) needing servers: {left_out}")


RUN_PAGES = [
    page
    for page, commands in COMMANDS.items()
    if any(c.kind in {"run", "export"} and c.not_run is None for c in commands)
]


@pytest.mark.parametrize("page", RUN_PAGES)
def test_shell_examples_run_as_written(
    page: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    pytest.importorskip("click", reason="the pages' commands need the cli extra")
    pytest.importorskip("rich", reason="the pages' commands need the cli extra")
    run_page(page, tmp_path, request)


# -- set-up commands, checked rather than run ------------------------------------------


def check_setup(command: Command) -> None:
    words = shlex.split(command.text)
    program = Path(words[0]).name
    where = f"{command.page}:{command.line}: {command.text}"
    extras = set(PYPROJECT["optional-dependencies"])
    if program == "pip":
        assert words[1] == "install", where
        for target in (w for w in words[2:] if not w.startswith("-")):
            name, _, rest = target.partition("[")
            named = set(rest.rstrip("]").split(",")) - {""}
            if name == "nox":
                assert named == {"uv"}, where
                continue
            assert name in {".", "./decisiontelecom-async", "decisiontelecom-async"}, where
            assert named <= extras, f"{where}: no extra {named - extras} in pyproject"
    elif program == "git":
        repository = PYPROJECT["urls"]["Documentation"].split("/tree/")[0]
        assert words[1:] == ["clone", repository], where
    elif program == "cd":
        assert words[1:] == ["decisiontelecom-async"], where
    elif program == "nox":
        assert words[1:] == [], where
    else:
        assert words[:3] == ["python3", "-m", "venv"], where


def test_set_up_commands_name_what_exists() -> None:
    setups = [c for commands in COMMANDS.values() for c in commands if c.kind == "setup"]
    assert len(setups) >= 8  # the README's and the quickstart's installs
    for command in setups:
        check_setup(command)


def test_nox_has_the_sessions_the_readme_describes() -> None:
    nox = BIN / "nox"
    if not nox.exists():
        pytest.skip("nox is not installed here (the dev group has it)")
    done = subprocess.run(  # noqa: S603 - the installed nox, listing only
        [str(nox), "--list", "--no-color"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = set(re.findall(r"^\* (\w+)", done.stdout, flags=re.MULTILINE))
    # "tests with every extra and with none, lint, typecheck, docs, and the sdist + wheel build"
    assert {"tests", "tests_core", "lint", "typecheck", "docs", "build"} <= listed, done.stdout


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[^A-Za-z0-9_.-]", r, maxsplit=1)[0].lower() for r in requirements}


def test_the_readme_says_what_each_install_brings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    comments = dict(re.findall(r'^pip install ("?\.\S*)\s+# (.+)$', readme, flags=re.MULTILINE))
    core = comments["."].removeprefix("the client:").replace(",", " ").split()
    assert set(core) == requirement_names(PYPROJECT["dependencies"])
    (everything,) = PYPROJECT["optional-dependencies"]["all"]
    in_all = set(everything.partition("[")[2].rstrip("]").split(","))
    named = set(re.findall(r"\w+", comments['".[all]"']))
    assert in_all <= named, f"the [all] line names {named}, pyproject has {in_all}"


# -- the blocks not run ----------------------------------------------------------------


def test_every_shell_command_is_run_or_checked() -> None:
    unknown = [
        f"{c.page}:{c.line}: {c.text}"
        for commands in COMMANDS.values()
        for c in commands
        if c.kind == "unknown" and c.not_run is None
    ]
    assert not unknown
    # The pages this covers: every shell block of them is seen.
    assert {"README.md", "docs/cli.md", "docs/quickstart.md", "docs/durable.md"} <= set(COMMANDS)


def test_few_blocks_are_not_run_and_each_says_why() -> None:
    not_run = {
        (c.page, c.line): c.not_run
        for commands in COMMANDS.values()
        for c in commands
        if c.not_run is not None
    }
    assert len(not_run) <= 2, not_run
    assert all(len(reason.split()) >= 4 for reason in not_run.values()), not_run


def test_console_blocks_are_read_as_commands_and_output() -> None:
    assert split_chain('a -q ".[all]" && b demo  # comment') == ["a -q '.[all]'", "b demo"]
    cli = COMMANDS["docs/cli.md"]
    send = next(c for c in cli if c.text.startswith("decisiontelecom send"))
    assert send.text.endswith("--sms-text 'Your order has shipped.'") or send.text.endswith(
        '--sms-text "Your order has shipped."'
    )
    assert len(send.output) == 1
    assert shape("│ rows │ 1002 │") != shape("│ rows │ 1,002 │")
    assert shape("  sending ━━━━ 10/10 0:00:03") == shape("sending ━━ 7/7 0:00:13")
