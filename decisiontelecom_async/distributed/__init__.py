"""Limits and journals shared beyond one process: extra ``distributed``.

``pip install "decisiontelecom-async[distributed]"`` brings redis-py, whose
asyncio client :class:`RedisRateLimit` uses, and asyncpg, which
:class:`PostgresJournal` uses.

:class:`RedisRateLimit` is passed as ``rate_limit=`` to a :class:`ViberClient`
or :class:`SmsClient`, and holds ``rate`` requests a second across every
client, process and machine that uses the same Redis and key;
:class:`PostgresJournal` is passed as ``journal=`` to ``send_many`` by any
number of workers of one campaign::

    limit = RedisRateLimit("redis://127.0.0.1:6379/0", rate=200.0)
    async with ViberClient(access_key, rate_limit=limit) as client:
        journal = PostgresJournal("postgresql://127.0.0.1/campaigns", campaign="spring-sale")
        async for outcome in client.send_many(messages, journal=journal):
            ...

:class:`PostgresJournal` is imported on first use, so a missing asyncpg
only matters to code that uses it.

``rate="auto"`` learns the service's limit once for all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from decisiontelecom_async._errors import SharedLimitError
from decisiontelecom_async.distributed._redis_limit import RedisRateLimit

if TYPE_CHECKING:
    from decisiontelecom_async.distributed._postgres_journal import PostgresJournal

__all__ = ["PostgresJournal", "RedisRateLimit", "SharedLimitError"]


def __getattr__(name: str) -> object:
    if name == "PostgresJournal":
        from decisiontelecom_async.distributed._postgres_journal import (  # noqa: PLC0415
            PostgresJournal,
        )

        return PostgresJournal
    msg = f"module {__name__!r} has no attribute {name!r}"
    raise AttributeError(msg)
