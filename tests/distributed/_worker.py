"""A campaign worker in its own process, for the shared-limit tests.

``python _worker.py REDIS_URL BASE_URL JOURNAL FIRST COUNT STEP CONCURRENCY RATE [UNTIL]``
sends Viber messages to receivers ``380500000000 + i`` for ``i`` in
``range(FIRST, COUNT, STEP)`` through a :class:`RedisRateLimit` of ``RATE``
requests a second, or ``auto`` (the default key: every worker uses the same
access key), with a :class:`SqliteJournal` at ``JOURNAL`` unless it is ``-``,
or a :class:`PostgresJournal` when ``JOURNAL`` is a ``postgresql://`` DSN
(campaign ``$DT_CAMPAIGN``, lease ``$DT_LEASE`` seconds); then every worker is
handed the same range and the journal shares it out. With ``UNTIL`` ``-``, it
prints ``ready`` once imported, reads a ``time.time()`` from its stdin and
stops taking inputs at that moment.

It prints one JSON line at the end: how many were sent, resumed and failed
(by error type), and the message of the error that stopped the run. The
exit code is 0 when every input was sent, 3 when the run was stopped by a
:class:`SharedLimitError`, 4 when it was stopped by a :class:`JournalError`,
1 otherwise.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sys
import time
from collections.abc import Iterator

from decisiontelecom_async import (
    CampaignAborted,
    JournalError,
    RetryPolicy,
    SqliteJournal,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async.distributed import PostgresJournal, RedisRateLimit, SharedLimitError

RETRIES = RetryPolicy(max_retries=5, initial_wait=0.05, max_wait=0.5, max_retry_after=10.0)


def open_journal(spec: str) -> SqliteJournal | PostgresJournal | None:
    if spec.startswith("postgresql://"):
        lease = float(os.environ.get("DT_LEASE", "30"))
        return PostgresJournal(spec, campaign=os.environ["DT_CAMPAIGN"], lease=lease)
    return None if spec == "-" else SqliteJournal(spec)


def _start_signal() -> float:
    """Say ``ready``, then read the moment to stop taking inputs from stdin."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    return float(sys.stdin.readline())


def _inputs(first: int, count: int, step: int, *, until: float | None) -> Iterator[ViberMessage]:
    for i in range(first, count, step):
        if until is not None and time.time() >= until:
            return
        yield ViberMessage("Shop", f"{380500000000 + i}", f"text {i}")


async def work(argv: list[str]) -> int:
    redis_url, base_url, journal_path = argv[:3]
    first, count, step, concurrency = (int(a) for a in argv[3:7])
    limit = RedisRateLimit(redis_url, rate="auto" if argv[7] == "auto" else float(argv[7]))
    messages = _inputs(first, count, step, until=_start_signal() if len(argv) > 8 else None)
    journal = open_journal(journal_path)
    errors: collections.Counter[str] = collections.Counter()
    sent = resumed = 0
    stopped_by = journal_stop = None
    async with ViberClient(
        "shared-account-key",
        base_url=base_url,
        rate_limit=limit,
        max_concurrency=concurrency,
        retry_policy=RETRIES,
    ) as client:
        try:
            async for outcome in client.send_many(messages, journal=journal):
                if outcome.ok:
                    resumed += outcome.resumed
                    sent += not outcome.resumed
                    continue
                errors[type(outcome.error).__name__] += 1
                cause = outcome.error
                if isinstance(cause, CampaignAborted):
                    cause = cause.cause
                if isinstance(cause, SharedLimitError):
                    stopped_by = cause.message_text
                if isinstance(cause, JournalError):
                    journal_stop = cause.message_text
        except JournalError as exc:
            journal_stop = exc.message_text
    line = {
        "sent": sent,
        "resumed": resumed,
        "errors": dict(errors),
        "stopped_by": stopped_by,
        "journal_stop": journal_stop,
        "rate": limit.rate,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    if stopped_by is not None:
        return 3
    if journal_stop is not None:
        return 4
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(work(sys.argv[1:])))
