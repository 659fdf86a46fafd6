"""The metrics: request durations, retries by cause, 429s, messages by outcome, the gauges."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from _loopback import Reply, loopback
from _otel import Exported, exported
from opentelemetry.sdk.metrics.export import HistogramDataPoint

from decisiontelecom_async import SqliteJournal, ViberClient, ViberMessage

pytestmark = pytest.mark.network

LIMITED = {"name": "Too Many Requests", "message": "slow down", "code": 0, "status": 429}
BUSY = {"name": "Internal Server Error", "message": "busy", "code": 2, "status": 500}


def key(**attributes: Any) -> frozenset[tuple[str, Any]]:
    return frozenset({k.replace("__", "."): v for k, v in attributes.items()}.items())


def messages(count: int) -> list[ViberMessage]:
    return [ViberMessage("Shop", f"38050{i:07d}", f"code {i}") for i in range(count)]


async def no_wait(_: float) -> None:
    pass


async def test_retries_429s_and_durations_are_counted_by_cause_and_status(otel: Exported) -> None:
    def plan(number: int, _: str) -> Reply:
        if number == 0:
            return Reply(429, LIMITED, headers={"Retry-After": "1"})
        if number == 1:
            return Reply(500, BUSY)
        return Reply(body={"message_id": 9})

    async with loopback(plan) as server, ViberClient("k", base_url=server.base_url) as client:
        client._sleep = no_wait
        assert await client.send(messages(1)[0]) == 9
    port = httpx.URL(server.base_url).port
    found = otel.metrics()
    endpoint = {"decisiontelecom__client": "ViberClient", "decisiontelecom__endpoint": "send-viber"}
    assert found["decisiontelecom.retries"] == {
        key(**endpoint, decisiontelecom__retry_cause="rate_limited"): 1,
        key(**endpoint, decisiontelecom__retry_cause="server_error"): 1,
    }
    assert found["decisiontelecom.rate_limited"] == {key(**endpoint): 1}
    request = {
        **endpoint,
        "http__request__method": "POST",
        "server__address": "127.0.0.1",
        "server__port": port,
        "url__template": "/v1/api/send-viber",
    }
    assert found["http.client.request.duration"] == {
        key(**request, http__response__status_code=429, error__type="429"): 1,
        key(**request, http__response__status_code=500, error__type="500"): 1,
        key(**request, http__response__status_code=200): 1,
    }
    assert found["decisiontelecom.messages"] == {
        key(
            decisiontelecom__client="ViberClient",
            decisiontelecom__outcome="sent",
            decisiontelecom__resumed=False,
        ): 1
    }
    (metric,) = [
        m
        for r in otel.reader.get_metrics_data().resource_metrics
        for s in r.scope_metrics
        for m in s.metrics
        if m.name == "http.client.request.duration"
    ]
    assert metric.unit == "s"
    point = metric.data.data_points[0]
    assert isinstance(point, HistogramDataPoint)
    assert list(point.explicit_bounds)[:3] == [0.005, 0.01, 0.025]  # the conventions' advice


async def test_the_gauges_show_requests_in_flight_and_the_rate_in_force(otel: Exported) -> None:
    release = asyncio.Event()

    async def plan(_: int, __: str) -> Reply:
        await release.wait()
        return Reply(body={"message_id": 1})

    async with (
        loopback(plan) as server,
        ViberClient("k", base_url=server.base_url, rate_limit=50.0) as client,
    ):
        sends = [asyncio.create_task(client.send(m)) for m in messages(2)]
        for _ in range(500):
            if server.in_flight == 2:
                break
            await asyncio.sleep(0.01)
        assert server.in_flight == 2
        during = otel.metrics()
        release.set()
        await asyncio.gather(*sends)
        after = otel.metrics()
    port = httpx.URL(server.base_url).port
    where = key(
        decisiontelecom__client="ViberClient", server__address="127.0.0.1", server__port=port
    )
    assert during["http.client.active_requests"] == {where: 2}
    assert after["http.client.active_requests"] == {where: 0}
    rate = key(decisiontelecom__client="ViberClient", server__address="127.0.0.1")
    assert during["decisiontelecom.rate_limit"] == {rate: 50.0}


async def test_resumed_outcomes_count_once_more_marked_resumed(
    otel: Exported, tmp_path: Path
) -> None:
    ids = iter(range(100, 200))
    async with (
        loopback(lambda *_: Reply(body={"message_id": next(ids)})) as server,
        ViberClient("k", base_url=server.base_url) as client,
    ):
        for _ in range(2):
            journal = SqliteJournal(tmp_path / "run.journal")
            outcomes = [o async for o in client.send_many(messages(3), journal=journal)]
            assert all(o.ok for o in outcomes)
    assert server.requests == 3  # the second run sent nothing
    assert otel.metrics()["decisiontelecom.messages"] == {
        key(
            decisiontelecom__client="ViberClient",
            decisiontelecom__outcome="sent",
            decisiontelecom__resumed=False,
        ): 3,
        key(
            decisiontelecom__client="ViberClient",
            decisiontelecom__outcome="sent",
            decisiontelecom__resumed=True,
        ): 3,
    }
    first, second = [s for s in otel.spans() if s.name == "ViberClient.send_many"]
    assert dict(first.attributes)["decisiontelecom.messages.resumed"] == 0
    assert dict(second.attributes)["decisiontelecom.messages.resumed"] == 3
    assert dict(second.attributes)["decisiontelecom.messages.sent"] == 3
    # Resumed outcomes made no request: no message span, no request span of their own.
    assert len([s for s in otel.spans() if s.name == "ViberClient.send"]) == 3


async def test_a_provider_set_after_the_client_was_made_is_used() -> None:
    async with (
        loopback(lambda *_: Reply(body={"message_id": 3})) as server,
        ViberClient("k", base_url=server.base_url) as client,
    ):
        await client.send(messages(1)[0])  # nothing configured yet: nothing recorded
        with exported() as otel:
            await client.send(messages(1)[0])
            assert [s.name for s in otel.spans()] == [
                "POST /v1/api/send-viber",
                "ViberClient.send",
            ]
            assert sum(otel.metrics()["decisiontelecom.messages"].values()) == 1
