"""The OTLP and Prometheus recipes of docs/observability.md, run as written.

Each runs in a fresh interpreter (it sets the process's global providers),
makes a send, and the test checks what reached the far end: an OTLP
collector on loopback, or Prometheus's scrape of ``/metrics``. They need the
exporter packages the page tells the reader to install, and skip without
them (the shared test environment has the API and the SDK only).
"""

from __future__ import annotations

import http.server
import re
import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.network

PAGE = Path(__file__).parent.parent.parent / "docs" / "observability.md"

SEND = textwrap.dedent(
    """
    import asyncio

    import httpx

    import decisiontelecom_async as dt


    def answer(request):
        return httpx.Response(200, json={"message_id": 1})


    async def main():
        http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
        async with http, dt.ViberClient("recipe-key", http_client=http) as client:
            await client.send(dt.ViberMessage("Shop", "380501234567", "Hi"))


    asyncio.run(main())
    """
)


def docs_example(name: str) -> str:
    """The Python block after ``% example: <name>`` on the page."""
    pattern = rf"^% example: {re.escape(name)}\n```python\n(.*?)^```$"
    match = re.search(pattern, PAGE.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert match is not None, f"no example {name!r} on {PAGE.name}"
    return match.group(1)


def run(script: str, **env: str) -> str:
    import os  # noqa: PLC0415

    done = subprocess.run(  # noqa: S603 - this interpreter, the page's code
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    received: list[tuple[str, bytes]] = []
    handler = type("Collector", (_Collector,), {"received": received})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_the_otlp_recipe_exports_spans_and_metrics(
    collector: tuple[str, list[tuple[str, bytes]]],
) -> None:
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http", reason="the recipe's exporter")
    url, received = collector
    shutdown = "\ntracer_provider.shutdown()\nmetrics.get_meter_provider().shutdown()\n"
    run(docs_example("otlp") + SEND + shutdown, OTEL_EXPORTER_OTLP_ENDPOINT=url)
    paths = {path for path, _ in received}
    assert paths == {"/v1/traces", "/v1/metrics"}
    traces = b"".join(body for path, body in received if path == "/v1/traces")
    assert b"decisiontelecom_async" in traces
    assert b"ViberClient.send" in traces
    assert b"recipe-key" not in traces
    assert b"decisiontelecom.messages" in b"".join(body for _, body in received)


def test_the_prometheus_recipe_serves_the_counters() -> None:
    pytest.importorskip("opentelemetry.exporter.prometheus", reason="the recipe's exporter")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    recipe = docs_example("prometheus").replace("9464", str(port))
    scrape = textwrap.dedent(
        f"""
        import urllib.request

        print(urllib.request.urlopen("http://127.0.0.1:{port}/metrics", timeout=10).read().decode())
        """
    )
    scraped = run(recipe + SEND + scrape)
    assert re.search(
        r'^decisiontelecom_messages_total\{.*decisiontelecom_outcome="sent".*\} 1\.0$',
        scraped,
        re.MULTILINE,
    ), scraped
    assert "http_client_request_duration_seconds_bucket" in scraped
