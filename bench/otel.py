"""The telemetry's cost: client CPU per message without, with and configured.

``python bench/otel.py [--n 10000] [--repeat 3] [--concurrency 100]``

Starts the loopback server (``bench/server.py``), then runs ``send_many``
over ``--n`` messages in fresh processes, three modes interleaved
``--repeat`` times (the median of each counts):

* ``absent``: ``opentelemetry`` blocked from import (as without the ``otel``
  extra);
* ``unconfigured``: the API importable, no provider set (what a library
  user gets when some other package brought ``opentelemetry-api`` along);
* ``in-memory``: ``opentelemetry-sdk`` providers set, spans to its
  in-memory exporter (simple processor), metrics to its in-memory reader.

It prints client CPU µs per message of each and the ratio to ``absent``
(target for ``unconfigured``: within 5%), and the spans and metric points
the configured run produced.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.abc
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from run import Server  # noqa: E402 - a sibling script, found through the path above

MODES = ("absent", "unconfigured", "in-memory")
WARMUP = 300


class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, _path: object, _target: object = None) -> None:
        if name.partition(".")[0] == "opentelemetry":
            raise ModuleNotFoundError(name=name)


def _configure() -> tuple[Any, Any]:
    from opentelemetry import metrics, trace  # noqa: PLC0415
    from opentelemetry.sdk.metrics import MeterProvider  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: PLC0415
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: PLC0415
        InMemorySpanExporter,
    )

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return exporter, reader


async def child(url: str, mode: str, n: int, concurrency: int) -> dict[str, Any]:
    if mode == "absent":
        sys.meta_path.insert(0, _Block())
    exporter = reader = None
    if mode == "in-memory":
        exporter, reader = _configure()
    from decisiontelecom_async import ViberClient, ViberMessage  # noqa: PLC0415

    def messages(count: int, start: int) -> Iterator[ViberMessage]:
        for i in range(start, start + count):
            yield ViberMessage("Shop", f"380{500000000 + i}", f"Your code is {i:06d}")

    ok = 0
    async with ViberClient(
        "bench-key", base_url=f"{url}/v1/api", max_concurrency=concurrency
    ) as client:
        async for _ in client.send_many(messages(WARMUP, 0)):
            pass
        if exporter is not None:
            exporter.clear()
        started, cpu = time.perf_counter(), time.process_time()
        async for outcome in client.send_many(messages(n, WARMUP)):
            ok += outcome.ok
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] == "opentelemetry")
    spans = 0 if exporter is None else len(exporter.get_finished_spans())
    points = 0
    if reader is not None:
        data = reader.get_metrics_data()
        points = sum(
            len(metric.data.data_points)
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        )
    return {
        "mode": mode,
        "n": n,
        "ok": ok,
        "seconds": seconds,
        "cpu_us": cpu / n * 1e6,
        "otel_modules": len(loaded),
        "spans": spans,
        "metric_points": points,
    }


def run_child(server: Server, mode: str, n: int, concurrency: int) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", server.url, f"--mode={mode}", f"--n={n}"]
    command.append(f"--concurrency={concurrency}")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        msg = f"the {mode} child failed"
        raise RuntimeError(msg)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--child", metavar="URL")
    parser.add_argument("--mode", choices=MODES, default="absent")
    args = parser.parse_args()
    if args.child:
        figures = asyncio.run(child(args.child, args.mode, args.n, args.concurrency))
        sys.stdout.write(json.dumps(figures) + "\n")
        return
    runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
    server = Server()
    try:
        for _ in range(args.repeat):
            for mode in MODES:
                runs[mode].append(run_child(server, mode, args.n, args.concurrency))
    finally:
        server.close()
    cpu = {mode: statistics.median(r["cpu_us"] for r in found) for mode, found in runs.items()}
    out = [
        (
            f"telemetry benchmark: send_many of {args.n} messages, "
            f"concurrency {args.concurrency}, fast local server (median of {args.repeat})"
        ),
        "",
        f"{'mode':<14} {'CPU us/msg':>11} {'vs absent':>10} {'runs':>24} {'otel modules':>13}",
    ]
    for mode in MODES:
        samples = ", ".join(f"{r['cpu_us']:.0f}" for r in runs[mode])
        out.append(
            f"{mode:<14} {cpu[mode]:>11.1f} {cpu[mode] / cpu['absent']:>9.3f}x {samples:>24} "
            f"{runs[mode][-1]['otel_modules']:>13}"
        )
    last = runs["in-memory"][-1]
    out += [
        "",
        f"unconfigured / absent: {cpu['unconfigured'] / cpu['absent']:.3f}x (target <= 1.05)",
        (
            f"in-memory run: {last['spans']} spans ({last['spans'] / args.n:.1f} per message), "
            f"{last['metric_points']} metric points"
        ),
    ]
    sys.stdout.write("\n".join(out) + "\n")
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    (results / "otel.json").write_text(json.dumps({"runs": runs, "cpu_us": cpu}, indent=2))


if __name__ == "__main__":
    main()
