"""A campaign in its own process, for the journal's kill tests.

``python _journal_campaign.py JOURNAL BASE_URL COUNT CONCURRENCY [--resend-unknown]``
sends ``COUNT`` Viber messages (receiver ``380500000000 + i``, text
``text <i>``) with a :class:`SqliteJournal` at ``JOURNAL``, printing one JSON
line per outcome. SIGTERM cancels the run, as Ctrl-C does; the exit code is
then 143 (130 for Ctrl-C). A :class:`JournalError` exits 3 with its message.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Iterator

from decisiontelecom_async import JournalError, SqliteJournal, ViberClient, ViberMessage


def messages(count: int) -> Iterator[ViberMessage]:
    for i in range(count):
        yield ViberMessage("Shop", f"{380500000000 + i}", f"text {i}")


async def campaign(path: str, base_url: str, count: int, concurrency: int, resend: bool) -> None:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    journal = SqliteJournal(path)
    async with ViberClient("crash-key", base_url=base_url, max_concurrency=concurrency) as client:
        async for outcome in client.send_many(
            messages(count), journal=journal, resend_unknown=resend
        ):
            line = {
                "index": outcome.index,
                "message_id": outcome.message_id,
                "resumed": outcome.resumed,
                "error": None if outcome.error is None else type(outcome.error).__name__,
                "unknown": bool(getattr(outcome.error, "outcome_unknown", False)),
            }
            sys.stdout.write(json.dumps(line) + "\n")
            sys.stdout.flush()


def main() -> int:
    path, base_url, count, concurrency = sys.argv[1:5]
    resend = "--resend-unknown" in sys.argv[5:]
    if "--more" in sys.argv[5:]:  # the input grew since the journal was written
        count = str(int(count) + 10)
    try:
        asyncio.run(campaign(path, base_url, int(count), int(concurrency), resend))
    except asyncio.CancelledError:
        return 143
    except KeyboardInterrupt:
        return 130
    except JournalError as exc:
        sys.stderr.write(f"JournalError: {exc}\n")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
