"""The distributed tests' real servers: the fixtures of :mod:`_servers`."""

from _servers import (
    postgres_dsn,
    postgres_server,
    postgres_session,
    redis_server,
    redis_session,
)

__all__ = ["postgres_dsn", "postgres_server", "postgres_session", "redis_server", "redis_session"]
