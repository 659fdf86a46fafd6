"""The PostgreSQL journal's schema and statements, and how its DSN may be shown.

Kept apart from :mod:`._postgres_journal` (which runs them) so the SQL reads
in one place. The table names are constants: nothing a caller gives is ever
put into a statement except as a parameter.
"""

from __future__ import annotations

import contextlib
import urllib.parse

__all__ = [
    "DIGESTS",
    "EXPIRE",
    "LOAD",
    "MARK",
    "RELEASE",
    "RENEW",
    "SCHEMA",
    "SCHEMA_LOCK",
    "SETTLE",
    "TAKE",
    "password_of",
    "shown_dsn",
]

SCHEMA_LOCK = 0x44544A32  # one advisory lock: two workers creating the tables at once
SCHEMA = """
CREATE TABLE IF NOT EXISTS decisiontelecom_campaigns (
    campaign text PRIMARY KEY,
    run integer NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS decisiontelecom_journal (
    campaign text NOT NULL,
    idx bigint NOT NULL,
    digest bytea NOT NULL,
    payload text,
    state text NOT NULL DEFAULT 'pending',
    owner text,
    lease_until timestamptz,
    marked boolean NOT NULL DEFAULT false,
    message_id bigint,
    attempts integer NOT NULL DEFAULT 0,
    error text,
    PRIMARY KEY (campaign, idx)
);
CREATE INDEX IF NOT EXISTS decisiontelecom_journal_open ON decisiontelecom_journal (campaign, idx)
    WHERE state IN ('pending', 'not_sent', 'claimed');
"""
TAKE = """
WITH picked AS (
    SELECT idx FROM decisiontelecom_journal
    WHERE campaign = $1 AND (
        state IN ('pending', 'not_sent')
        OR (state = 'claimed' AND NOT marked AND lease_until < now()))
    ORDER BY idx LIMIT $2
    FOR UPDATE SKIP LOCKED)
UPDATE decisiontelecom_journal AS j
SET state = 'claimed', owner = $3, marked = false,
    lease_until = now() + make_interval(secs => $4)
FROM picked WHERE j.campaign = $1 AND j.idx = picked.idx
RETURNING j.idx, j.digest, j.payload
"""
MARK = """
UPDATE decisiontelecom_journal SET marked = true
WHERE campaign = $1 AND idx = ANY($2::bigint[]) AND owner = $3 AND state = 'claimed'
RETURNING idx
"""
SETTLE = """
UPDATE decisiontelecom_journal AS j
SET state = u.state, message_id = u.message_id, attempts = u.attempts, error = u.error,
    marked = false, lease_until = NULL
FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::integer[], $6::text[])
    AS u(idx, state, message_id, attempts, error)
WHERE j.campaign = $1 AND j.idx = u.idx AND j.owner = $7
"""
RENEW = """
UPDATE decisiontelecom_journal SET lease_until = now() + make_interval(secs => $3)
WHERE campaign = $1 AND owner = $2 AND state = 'claimed'
"""
EXPIRE = """
UPDATE decisiontelecom_journal
SET state = 'unknown', marked = false,
    error = 'the worker that was sending it stopped renewing its lease'
WHERE campaign = $1 AND state = 'claimed' AND marked AND lease_until < now()
"""
RELEASE = """
UPDATE decisiontelecom_journal SET state = 'pending', owner = NULL, lease_until = NULL
WHERE campaign = $1 AND owner = $2 AND state = 'claimed' AND NOT marked
"""
LOAD = """
INSERT INTO decisiontelecom_journal (campaign, idx, digest, payload)
SELECT $1, u.idx, u.digest, u.payload
FROM unnest($2::bigint[], $3::bytea[], $4::text[]) AS u(idx, digest, payload)
ON CONFLICT (campaign, idx) DO NOTHING
"""
DIGESTS = """
SELECT idx, digest FROM decisiontelecom_journal WHERE campaign = $1 AND idx = ANY($2::bigint[])
"""


def shown_dsn(dsn: str) -> str:
    """``dsn`` as it may be shown: a URL without its password, or nothing of a keyword DSN."""
    try:
        parts = urllib.parse.urlsplit(dsn)
    except ValueError:
        return "PostgreSQL"
    if parts.scheme not in {"postgres", "postgresql"}:
        return "PostgreSQL"
    host = parts.hostname or ""
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    user = f"{parts.username}@" if parts.username else ""
    return f"PostgreSQL at {parts.scheme}://{user}{host}{port}{parts.path}"


def password_of(dsn: str) -> str | None:
    with contextlib.suppress(ValueError):
        parts = urllib.parse.urlsplit(dsn)
        if parts.password:
            return urllib.parse.unquote(parts.password)
    for word in dsn.split():
        key, _, value = word.partition("=")
        if key == "password" and value:
            return value.strip("'")
    return None
