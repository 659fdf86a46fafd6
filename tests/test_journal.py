"""The journal of ``send_many``: what is recorded, and what a resumed run sends.

Every test runs against a real HTTP server on 127.0.0.1 that counts what it
accepts per receiver, on the SDK's own transport and on httpx's own.
"""

# ruff: noqa: ASYNC240 - small files in tmp_path, read and written on purpose

from __future__ import annotations

import collections
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from _loopback import Reply, loopback

from decisiontelecom_async import (
    CampaignAborted,
    InvalidParameterError,
    JournalError,
    JournalMismatchError,
    JournalState,
    RetryPolicy,
    SendOutcome,
    SmsClient,
    SmsMessage,
    SqliteJournal,
    TransportError,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async._viber_client import viber_digest

pytestmark = pytest.mark.network

NO_RETRIES = RetryPolicy(max_retries=0)
REFUSED = {"name": "Invalid Parameter: text", "message": "bad", "code": 1, "status": 400}
BALANCE_EMPTY = {"name": "Payment Required", "message": "empty", "code": 3, "status": 402}


def make_messages(count: int, *, text: str = "text") -> list[ViberMessage]:
    return [ViberMessage("Shop", f"{380500000000 + i}", f"{text} {i}") for i in range(count)]


def receiver_of(body: bytes) -> int:
    return int(json.loads(body)["destination_addr"]) - 380500000000


class Service:
    """The loopback's plan: accepts each send and counts acceptances per receiver.

    ``refuse``, ``drop`` and ``stop_at`` pick receivers answered 400, dropped
    after the body was read (the answer lost), or answered 402.
    """

    def __init__(self) -> None:
        self.accepted: collections.Counter[int] = collections.Counter()
        self.ids: dict[int, int] = {}
        self.refuse: set[int] = set()
        self.drop: set[int] = set()
        self.stop_at: int | None = None
        self._next = 1000

    def plan(self, _number: int, _path: str) -> Reply:
        return Reply(body=self.answer)

    def answer(self, body: bytes) -> object:
        receiver = receiver_of(body)
        if receiver in self.refuse:
            return REFUSED
        if self.stop_at is not None and receiver >= self.stop_at:
            return BALANCE_EMPTY
        self._next += 1
        self.accepted[receiver] += 1
        self.ids[receiver] = self._next
        return {"message_id": self._next}


@pytest.fixture(params=["own", "httpx"])
async def make_client(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., ViberClient]]:
    borrowed: list[httpx.AsyncClient] = []

    def build(base_url: str, **options: object) -> ViberClient:
        if request.param == "httpx":
            borrowed.append(httpx.AsyncClient())
            options["http_client"] = borrowed[-1]
        options.setdefault("retry_policy", NO_RETRIES)
        return ViberClient("journal-key", base_url=base_url, **options)  # type: ignore[arg-type]

    yield build
    for http in borrowed:
        await http.aclose()


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "campaign.journal"


async def run(
    client: ViberClient, messages: object, journal: SqliteJournal, **options: object
) -> list[SendOutcome[ViberMessage]]:
    return [o async for o in client.send_many(messages, journal=journal, **options)]  # type: ignore[arg-type]


async def states(path: Path) -> dict[int, JournalState]:
    return {record.index: record.state async for record in SqliteJournal(path).records()}


async def test_a_resumed_run_sends_nothing_accepted_and_returns_the_ids(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    async with loopback(service.plan) as server, make_client(server.base_url) as client:
        first = await run(client, iter(make_messages(40)), SqliteJournal(journal_path))
        assert server.requests == 40
        again = await run(client, iter(make_messages(40)), SqliteJournal(journal_path))
        assert server.requests == 40  # nothing sent twice
    assert sorted(o.index for o in again) == list(range(40))
    assert all(o.resumed and o.ok and o.attempts == 0 for o in again)
    assert {o.index: o.message_id for o in again} == {o.index: o.message_id for o in first}
    assert not any(o.resumed for o in first)
    assert set(service.accepted.values()) == {1}
    assert set((await states(journal_path)).values()) == {JournalState.SENT}


async def test_a_run_cut_short_resumes_with_the_rest_only(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    async with loopback(service.plan) as server, make_client(server.base_url) as client:
        journal = SqliteJournal(journal_path)
        taken = 0
        async for _ in client.send_many(make_messages(100), journal=journal, concurrency=4):
            taken += 1
            if taken == 30:
                break
        sent_first = server.requests
        outcomes = await run(client, make_messages(100), SqliteJournal(journal_path))
    assert sorted(o.index for o in outcomes) == list(range(100))
    assert all(count == 1 for count in service.accepted.values())
    unknown = {o.index for o in outcomes if o.resumed and not o.ok}
    assert len(unknown) <= 4  # cut off in flight: not sent again
    assert all(isinstance(o.error, TransportError) for o in outcomes if o.index in unknown)
    assert set(range(100)) - unknown <= set(service.accepted)
    resumed = [o for o in outcomes if o.resumed]
    assert len(resumed) >= 30
    assert all(o.message_id == service.ids[o.index] for o in outcomes if o.ok)
    assert all(o.attempts == 0 for o in resumed)
    assert server.requests >= sent_first


async def test_a_journaled_run_keeps_the_callers_stop_rule(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    service.refuse = {5}
    async with loopback(service.plan) as server, make_client(server.base_url) as client:
        outcomes = await run(
            client,
            make_messages(300),
            SqliteJournal(journal_path),
            concurrency=2,
            stop_when=lambda outcome: not outcome.ok,
        )
        assert server.requests < 300  # the refusal of receiver 5 stopped it
    assert sorted(o.index for o in outcomes) == list(range(300))
    aborted = [o for o in outcomes if isinstance(o.error, CampaignAborted)]
    assert aborted
    assert len(aborted) + len(service.accepted) + 1 == 300
    recorded = await states(journal_path)
    assert all(recorded.get(o.index) is not JournalState.SENT for o in aborted)


async def test_an_input_that_differs_is_refused_naming_the_position_before_any_send(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    async with loopback(service.plan) as server, make_client(server.base_url) as client:
        journal = SqliteJournal(journal_path)
        await run(client, make_messages(50)[:30], journal)
        changed = make_messages(50)
        changed[17] = ViberMessage("Shop", f"{380500000000 + 17}", "edited text")
        with pytest.raises(JournalMismatchError) as caught:
            await run(client, changed, journal)
        assert caught.value.position == 17
        assert "position 17" in str(caught.value)
        assert isinstance(caught.value, ValueError)
        assert server.requests == 30  # not even the 20 new ones left


async def test_an_input_shorter_than_the_journal_is_refused_before_any_send(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    service.refuse = {3}  # a refused input is sent again on resume: it must wait for the check
    async with loopback(service.plan) as server, make_client(server.base_url) as client:
        journal = SqliteJournal(journal_path)
        await run(client, make_messages(20), journal)
        with pytest.raises(JournalMismatchError) as caught:
            await run(client, make_messages(12), journal)
        assert caught.value.position == 12
        assert server.requests == 20


async def test_a_lost_answer_is_unknown_and_not_resent_unless_asked(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    lost = {5, 9}

    bodies_seen: list[int] = []

    async def lossy(number: int, path: str) -> Reply:
        return Reply(body=lose_some)

    def lose_some(body: bytes) -> object:
        receiver = receiver_of(body)
        bodies_seen.append(receiver)
        answer = service.answer(body)
        if receiver in lost and bodies_seen.count(receiver) == 1:
            return b"{"  # accepted, but the answer is unreadable
        return answer

    async with loopback(lossy) as server, make_client(server.base_url) as client:
        first = await run(client, make_messages(12), SqliteJournal(journal_path))
        unknown = {o.index for o in first if not o.ok}
        assert unknown == lost
        assert (await states(journal_path))[5] is JournalState.UNKNOWN
        again = await run(client, make_messages(12), SqliteJournal(journal_path))
        assert server.requests == 12
        for outcome in again:
            if outcome.index in lost:
                assert outcome.resumed
                assert isinstance(outcome.error, TransportError)
                assert outcome.error.outcome_unknown
            else:
                assert outcome.ok
                assert outcome.resumed
        resent = await run(
            client, make_messages(12), SqliteJournal(journal_path), resend_unknown=True
        )
        assert server.requests == 14
        assert {o.index for o in resent if not o.resumed} == lost
    assert all(o.ok for o in resent)
    assert service.accepted[5] == 2  # what resend_unknown risks, and why it is opt-in


async def test_refused_and_aborted_inputs_are_sent_on_resume(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    service.refuse = {2}
    service.stop_at = 10
    async with loopback(service.plan) as server, make_client(server.base_url) as client:
        first = await run(client, make_messages(30), SqliteJournal(journal_path), concurrency=2)
        by_index = {o.index: o for o in first}
        assert isinstance(by_index[2].error, InvalidParameterError)
        assert any(isinstance(o.error, CampaignAborted) for o in first)
        recorded = await states(journal_path)
        assert recorded[2] is JournalState.FAILED
        assert max(recorded) < 15  # inputs stopped before a claim leave no record
        service.refuse = set()
        service.stop_at = None
        again = await run(client, make_messages(30), SqliteJournal(journal_path))
    assert all(o.ok for o in again)
    assert len(service.accepted) == 30
    assert set(service.accepted.values()) == {1}
    assert {o.index for o in again if not o.resumed} == set(range(30)) - set(range(10)) | {2}


async def test_records_give_every_final_state_for_a_results_file(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    service.refuse = {1}
    async with loopback(service.plan) as server, make_client(server.base_url) as client:
        await run(client, make_messages(4), SqliteJournal(journal_path))
    async with SqliteJournal(journal_path) as journal:
        records = [record async for record in journal.records()]
    assert [r.index for r in records] == [0, 1, 2, 3]
    assert records[1].state is JournalState.FAILED
    assert records[1].error is not None
    assert records[1].error.startswith("InvalidParameterError")
    assert records[0].state is JournalState.SENT
    assert records[0].message_id == service.ids[0]
    assert records[0].attempts == 1


async def test_a_second_opener_is_refused_clearly(journal_path: Path) -> None:
    async with SqliteJournal(journal_path):
        # (in this process the second opener waits a few seconds first)
        with pytest.raises(JournalError, match="in use by another process"):
            await SqliteJournal(journal_path).open()
    async with SqliteJournal(journal_path):
        pass  # free again once the first let go


@pytest.mark.parametrize(
    "content", [b"this is not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 4000]
)
async def test_a_damaged_journal_is_refused_before_any_send(
    journal_path: Path, content: bytes
) -> None:
    journal_path.write_bytes(content)
    service = Service()
    async with loopback(service.plan) as server, ViberClient("k", base_url=server.base_url) as c:
        with pytest.raises(JournalError, match="journal"):
            await run(c, make_messages(5), SqliteJournal(journal_path))
        assert server.requests == 0


async def test_another_sqlite_file_is_refused_before_any_send(journal_path: Path) -> None:
    with sqlite3.connect(journal_path) as other:
        other.execute("CREATE TABLE people (name TEXT)")
    service = Service()
    async with loopback(service.plan) as server, ViberClient("k", base_url=server.base_url) as c:
        with pytest.raises(JournalError, match="not a decisiontelecom journal"):
            await run(c, make_messages(5), SqliteJournal(journal_path))
        assert server.requests == 0


async def test_a_journal_damaged_inside_is_refused(journal_path: Path) -> None:
    async with SqliteJournal(journal_path):
        pass
    raw = sqlite3.connect(journal_path)
    raw.executemany(
        "INSERT INTO inputs (idx, digest, state) VALUES (?, ?, 'sent')",
        [
            (
                i,
                b"y" * 16,
            )
            for i in range(5000)
        ],
    )
    raw.commit()
    raw.close()  # the last connection: its WAL goes into the file
    data = bytearray(journal_path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, page):
        data[offset + 8 : offset + 200] = b"\x07" * 192  # scribble over b-tree pages
    journal_path.write_bytes(bytes(data))
    service = Service()
    async with loopback(service.plan) as server, ViberClient("k", base_url=server.base_url) as c:
        with pytest.raises(JournalError, match="damaged"):
            await run(c, make_messages(5), SqliteJournal(journal_path))
        assert server.requests == 0


async def test_create_false_refuses_a_missing_journal(journal_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal"):
        await SqliteJournal(journal_path, create=False).open()
    assert not journal_path.exists()


async def test_a_journal_deleted_during_the_run_stops_it(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    claims_before_delete = 20

    def answer(body: bytes) -> object:
        if receiver_of(body) == claims_before_delete:
            journal_path.unlink()
        return service.answer(body)

    async with (
        loopback(lambda n, p: Reply(body=answer)) as server,
        make_client(server.base_url) as client,
    ):
        outcomes: list[SendOutcome[ViberMessage]] = []

        async def collect() -> None:
            journal = SqliteJournal(journal_path)
            run = client.send_many(make_messages(200), journal=journal, concurrency=1)
            async for outcome in run:
                outcomes.append(outcome)  # noqa: PERF401 - kept up to the error

        with pytest.raises(JournalError, match="deleted"):
            await collect()
        assert server.requests <= claims_before_delete + 2
    stopped = [o for o in outcomes if isinstance(o.error, CampaignAborted)]
    assert stopped
    assert isinstance(stopped[0].error.cause, JournalError)  # type: ignore[union-attr]


async def test_one_run_at_a_time_on_a_journal(journal_path: Path) -> None:
    service = Service()
    async with loopback(service.plan) as server, ViberClient("k", base_url=server.base_url) as c:
        journal = SqliteJournal(journal_path)
        first = c.send_many(make_messages(100), journal=journal)
        await anext(first)
        with pytest.raises(JournalError, match="one run at a time"):
            await run(c, make_messages(100), journal)
        await first.aclose()


async def test_bad_journal_arguments_are_refused_at_the_call(journal_path: Path) -> None:
    async with ViberClient("k") as client:
        with pytest.raises(TypeError, match="journal must be a Journal"):
            client.send_many([], journal=str(journal_path))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="resend_unknown must be a bool"):
            client.send_many([], journal=SqliteJournal(journal_path), resend_unknown=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="synchronous"):
        SqliteJournal(journal_path, synchronous="OFF")  # type: ignore[arg-type]


async def test_the_sms_client_keeps_a_journal_too(journal_path: Path) -> None:
    accepted: collections.Counter[str] = collections.Counter()

    def plan(number: int, path: str) -> Reply:
        phone = parse_qs(urlsplit(path).query)["phone"][0]
        accepted[phone] += 1
        return Reply(body=["msgid", str(5000 + number)])

    inputs = [(f"{380500000000 + i}", "Shop", f"sale {i}") for i in range(10)]
    async with (
        loopback(plan) as server,
        SmsClient("login", "secret-pw", base_url=server.base_url) as sms,
    ):
        first = [o async for o in sms.send_many(inputs, journal=SqliteJournal(journal_path))]
        again = [o async for o in sms.send_many(inputs, journal=SqliteJournal(journal_path))]
        assert server.requests == 10
        edited = [*inputs[:4], SmsMessage(inputs[4][0], "Shop", "other"), *inputs[5:]]
        with pytest.raises(JournalMismatchError) as caught:
            [o async for o in sms.send_many(edited, journal=SqliteJournal(journal_path))]
        assert caught.value.position == 4
    assert all(o.ok for o in first)
    assert all(o.resumed for o in again)
    assert set(accepted.values()) == {1}
    assert b"secret-pw" not in journal_path.read_bytes()


def test_the_wire_digest_ignores_nothing_that_is_sent() -> None:
    base = ViberMessage("Shop", "380500000001", "hello")
    assert viber_digest(base) == viber_digest(ViberMessage("Shop", "380500000001", "hello"))
    assert viber_digest(base) != viber_digest(ViberMessage("Shop", "380500000001", "hello!"))
    assert viber_digest(base) != viber_digest(
        ViberMessage("Shop", "380500000001", "hello", validity_period=3600)
    )


async def test_each_claim_is_on_disk_before_its_request_arrives(
    make_client: Callable[..., ViberClient], journal_path: Path
) -> None:
    service = Service()
    missing: list[int] = []

    def answer(body: bytes) -> object:
        receiver = receiver_of(body)
        with sqlite3.connect(f"file:{journal_path}?mode=ro", uri=True) as raw:
            row = raw.execute("SELECT state FROM inputs WHERE idx = ?", (receiver,)).fetchone()
        if row != ("claimed",):
            missing.append(receiver)
        return service.answer(body)

    async with (
        loopback(lambda n, p: Reply(body=answer)) as server,
        make_client(server.base_url) as client,
    ):
        outcomes = await run(client, make_messages(60), SqliteJournal(journal_path), concurrency=6)
    assert all(o.ok for o in outcomes)
    assert missing == []
    assert set((await states(journal_path)).values()) == {JournalState.SENT}
