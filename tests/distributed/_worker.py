"""A campaign worker in its own process, for the shared-limit tests.

``python _worker.py REDIS_URL BASE_URL JOURNAL FIRST COUNT STEP CONCURRENCY RATE [UNTIL]``
sends Viber messages to receivers ``380500000000 + i`` for ``i`` in
``range(FIRST, COUNT, STEP)`` through a :class:`RedisRateLimit` of ``RATE``
requests a second, or ``auto`` (the default key: every worker uses the same
access key), with a :class:`SqliteJournal` at ``JOURNAL`` unless it is ``-``.
With ``UNTIL`` ``-``, it prints ``ready`` once imported, reads a
``time.time()`` from its stdin and stops taking inputs at that moment.

It prints one JSON line at the end: how many were sent, resumed and failed
(by error type), and the message of the error that stopped the run. The
exit code is 0 when every input was sent, 3 when the run was stopped by a
:class:`SharedLimitError`, 1 otherwise.
"""

from __future__ import annotations

import asyncio
import collections
import json
import sys
import time
from collections.abc import Iterator

from decisiontelecom_async import (
    CampaignAborted,
    RetryPolicy,
    SqliteJournal,
    ViberClient,
    ViberMessage,
)
from decisiontelecom_async.distributed import RedisRateLimit, SharedLimitError

RETRIES = RetryPolicy(max_retries=5, initial_wait=0.05, max_wait=0.5, max_retry_after=10.0)


async def work(argv: list[str]) -> int:
    redis_url, base_url, journal_path = argv[:3]
    first, count, step, concurrency = (int(a) for a in argv[3:7])
    limit = RedisRateLimit(redis_url, rate="auto" if argv[7] == "auto" else float(argv[7]))
    until = None
    if len(argv) > 8:
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        until = float(sys.stdin.readline())

    def inputs() -> Iterator[ViberMessage]:
        for i in range(first, count, step):
            if until is not None and time.time() >= until:
                return
            yield ViberMessage("Shop", f"{380500000000 + i}", f"text {i}")

    messages = inputs()
    journal = None if journal_path == "-" else SqliteJournal(journal_path)
    errors: collections.Counter[str] = collections.Counter()
    sent = resumed = 0
    stopped_by = None
    async with ViberClient(
        "shared-account-key",
        base_url=base_url,
        rate_limit=limit,
        max_concurrency=concurrency,
        retry_policy=RETRIES,
    ) as client:
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
    line = {
        "sent": sent,
        "resumed": resumed,
        "errors": dict(errors),
        "stopped_by": stopped_by,
        "rate": limit.rate,
    }
    sys.stdout.write(json.dumps(line) + "\n")
    if stopped_by is not None:
        return 3
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(work(sys.argv[1:])))
