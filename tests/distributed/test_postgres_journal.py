"""PostgresJournal in one process: loading, mismatches, campaigns, secrets, two workers.

Against the session's real PostgreSQL (``conftest.py``), each test with a
database of its own, and a real loopback service that counts what it
accepts per receiver.
"""

from __future__ import annotations

import ast
import asyncio
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("asyncpg", reason="needs the distributed extra (asyncpg)")

from _loopback import Reply
from _servers import PostgresServer

from decisiontelecom_async import JournalError, JournalMismatchError, ViberClient, ViberMessage
from decisiontelecom_async.distributed import PostgresJournal
from distributed._counting import CountingService

if TYPE_CHECKING:
    from decisiontelecom_async import SendOutcome

pytestmark = pytest.mark.network


def messages(count: int, *, text: str = "text") -> list[ViberMessage]:
    return [ViberMessage("Shop", f"{380500000000 + i}", f"{text} {i}") for i in range(count)]


async def run(
    base_url: str, journal: PostgresJournal, items: object, concurrency: int = 5
) -> list[SendOutcome[ViberMessage]]:
    async with ViberClient("key", base_url=base_url, max_concurrency=concurrency) as client:
        return [o async for o in client.send_many(items, journal=journal)]  # type: ignore[arg-type]


async def test_two_workers_in_one_process_send_each_input_once(postgres_dsn: str) -> None:
    service = CountingService()
    count = 200
    async with service.serve() as server:
        first, second = await asyncio.gather(
            run(server.base_url, PostgresJournal(postgres_dsn, campaign="c"), messages(count)),
            run(server.base_url, PostgresJournal(postgres_dsn, campaign="c"), messages(count)),
        )
    assert len(service.receivers) == count
    assert set(service.receivers.values()) == {1}
    for outcomes in (first, second):
        # One outcome per input handed to this worker, every one accepted.
        assert sorted(o.index for o in outcomes) == list(range(count))
        assert all(o.ok for o in outcomes)
    sent_here = [sum(not o.resumed for o in outcomes) for outcomes in (first, second)]
    assert sum(sent_here) == count
    # Every outcome either worker yields carries the id the service gave.
    ids = {o.index: o.message_id for o in first}
    assert ids == {o.index: o.message_id for o in second}


async def test_loading_twice_adds_nothing_and_a_rerun_sends_nothing(postgres_dsn: str) -> None:
    service = CountingService()
    async with service.serve() as server:
        first = await run(
            server.base_url, PostgresJournal(postgres_dsn, campaign="c"), messages(30)
        )
        again = await run(
            server.base_url, PostgresJournal(postgres_dsn, campaign="c"), messages(30)
        )
    assert all(o.ok and not o.resumed for o in first)
    assert all(o.ok and o.resumed and o.attempts == 0 for o in again)
    assert {o.index: o.message_id for o in again} == {o.index: o.message_id for o in first}
    assert sum(service.receivers.values()) == 30
    journal = PostgresJournal(postgres_dsn, campaign="c")
    async with journal:
        assert await journal.extent() == 30
        assert await journal.counts() == {"sent": 30}


async def test_a_different_input_is_refused_naming_its_position(postgres_dsn: str) -> None:
    service = CountingService()
    changed = messages(20)
    changed[7] = ViberMessage("Shop", "380500000007", "something else")
    async with service.serve() as server:
        await run(server.base_url, PostgresJournal(postgres_dsn, campaign="c"), messages(20))
        before = sum(service.receivers.values())
        with pytest.raises(JournalMismatchError) as caught:
            await run(server.base_url, PostgresJournal(postgres_dsn, campaign="c"), changed)
        assert caught.value.position == 7
        with pytest.raises(JournalMismatchError) as short:
            await run(server.base_url, PostgresJournal(postgres_dsn, campaign="c"), messages(15))
        assert short.value.position == 15
    assert sum(service.receivers.values()) == before == 20


async def test_two_campaigns_in_one_database_are_independent(postgres_dsn: str) -> None:
    service = CountingService()
    async with service.serve() as server:
        spring = await run(
            server.base_url, PostgresJournal(postgres_dsn, campaign="spring"), messages(10)
        )
        autumn = await run(
            server.base_url,
            PostgresJournal(postgres_dsn, campaign="autumn"),
            messages(12, text="autumn"),
        )
    assert all(o.ok and not o.resumed for o in spring + autumn)
    assert len(spring) == 10
    assert len(autumn) == 12
    assert sum(service.receivers.values()) == 22


async def test_a_worker_without_the_input_sends_what_was_loaded(postgres_dsn: str) -> None:
    service = CountingService()
    loaded = messages(25)
    journal = PostgresJournal(postgres_dsn, campaign="c")
    async with journal, service.serve() as server:
        # Load only: a run stopped before sending anything.
        async with ViberClient("key", base_url=server.base_url) as client:
            outcomes = client.send_many(loaded, journal=journal)
            outcomes.stop()
            stopped = [o async for o in outcomes]
        assert not service.receivers
        assert await journal.extent() == 25
        assert all(not o.ok for o in stopped)
        worker = await run(
            server.base_url,
            PostgresJournal(postgres_dsn, campaign="c"),
            PostgresJournal(postgres_dsn, campaign="c").inputs(),
        )
    assert sorted(o.index for o in worker) == list(range(25))
    assert [o.message for o in sorted(worker, key=lambda o: o.index)] == loaded
    assert all(o.ok and not o.resumed for o in worker)
    assert len(service.receivers) == 25


async def test_failures_wait_for_the_next_run(postgres_dsn: str) -> None:
    # The service refuses request 3 (400): failed in this run, sent again by the next.
    service = CountingService()
    count = 10
    async with service.serve() as server:
        refusing = server.plan

        def plan(number: int, path: str) -> object:
            if number == 3:
                return Reply(400, {"name": "Bad", "message": "invalid", "code": 2, "status": 400})
            return refusing(number, path)

        server.plan = plan
        first = await run(
            server.base_url,
            PostgresJournal(postgres_dsn, campaign="c"),
            messages(count),
            concurrency=1,
        )
        second = await run(
            server.base_url,
            PostgresJournal(postgres_dsn, campaign="c"),
            messages(count),
            concurrency=1,
        )
    failed = [o for o in first if not o.ok]
    assert len(failed) == 1
    (retried,) = [o for o in second if not o.resumed]
    assert retried.index == failed[0].index
    assert retried.ok
    assert len(service.receivers) == count


async def test_the_password_is_never_shown(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(postgres_server, PostgresServer)
    secret = "s3cret-Pa55"
    dsn = postgres_server.dsn("postgres", password=secret).replace(
        f":{postgres_server.port}/", ":1/"
    )
    journal = PostgresJournal(dsn, campaign="c", timeout=2)
    assert secret not in repr(journal)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(JournalError) as caught:
        await journal.open()
    text = f"{caught.value} {caught.value!r}"
    assert "PostgreSQL at postgresql://postgres@127.0.0.1:1/postgres" in text
    assert secret not in text
    assert secret not in caplog.text


async def test_the_docs_example_runs_against_a_real_postgres(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/distributed.md's journal example, as written but for the database's DSN.
    page = (Path(__file__).parents[2] / "docs" / "distributed.md").read_text(encoding="utf-8")
    name = re.escape("postgres-journal")
    match = re.search(rf"^% example: {name}\n```python\n(.*?)^```$", page, re.MULTILINE | re.DOTALL)
    assert match is not None
    source = match.group(1).replace("postgresql://127.0.0.1/campaigns", postgres_dsn)
    assert postgres_dsn in source
    service = CountingService()
    async with service.serve() as server:
        monkeypatch.setenv("DECISIONTELECOM_BASE_URL", server.base_url)
        namespace: dict[str, object] = {"access_key": "docs-example-key", "messages": messages(20)}
        code = compile(source, "docs/distributed.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
        result = eval(code, namespace)  # noqa: S307 - our own docs
        if result is not None:
            await result
    assert len(service.receivers) == 20
