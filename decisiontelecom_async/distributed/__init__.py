"""Limits shared beyond one process: extra ``distributed``.

``pip install "decisiontelecom-async[distributed]"`` brings redis-py, whose
asyncio client :class:`RedisRateLimit` uses.

:class:`RedisRateLimit` is passed as ``rate_limit=`` to a :class:`ViberClient`
or :class:`SmsClient`, and holds ``rate`` requests a second across every
client, process and machine that uses the same Redis and key::

    limit = RedisRateLimit("redis://127.0.0.1:6379/0", rate=200.0)
    async with ViberClient(access_key, rate_limit=limit) as client:
        ...

``rate="auto"`` learns the service's limit once for all of them.
"""

from __future__ import annotations

from decisiontelecom_async._errors import SharedLimitError
from decisiontelecom_async.distributed._redis_limit import RedisRateLimit

__all__ = ["RedisRateLimit", "SharedLimitError"]
