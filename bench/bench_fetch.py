"""How close fetch_videos comes to the ideal time against providers with fixed latency.

    .venv/bin/python bench/bench_fetch.py --videos 10000 --latency 0.05 --concurrency 64
    .venv/bin/python bench/bench_fetch.py --tikhub-rate 5 [--no-batch] [--videos 1000]

The fake providers run in a child process (its own event loop and CPU), so the
measurement is of the client, not of a server competing with it for one loop.
Ideal time = ceil(total_calls / concurrency) * latency, where YouTube counts
one call per 50 ids: that is what a perfectly packed concurrency bound achieves.

With ``--tikhub-rate R`` (TikHub's real limit is 5 calls a second per endpoint) the
client limits each TikHub endpoint to R calls a second, and the ideal is that of the
cheapest plan's calls: per endpoint (calls - 1) / R + latency, the slowest endpoint
(or the concurrency bound, if larger) deciding. Spend is what the fake would bill
(the flat price of every call answered 200) against the cheapest plan's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing as mp
import sys
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from daemon.demo.fake_providers import FakeProviders
from daemon.fetch import FetchCounters, FetchStatus, VideoStats, fetch_videos
from daemon.fetch.plan import TikHubPrices, plan_douyin, plan_spend, plan_tiktok
from daemon.rules.links import PLATFORMS, VideoRef


def make_refs(count: int) -> list[VideoRef]:
    """``count`` videos spread round-robin over the three platforms, with valid ids."""
    refs: list[VideoRef] = []
    for i in range(count):
        platform = PLATFORMS[i % 3]
        video_id = f"v{i:010d}" if platform == "yt" else str(7_000_000_000_000_000_000 + i)
        refs.append(VideoRef(platform, video_id))
    return refs


def _serve(count: int, latency: float, conn: Connection) -> None:
    async def main() -> None:
        fake = FakeProviders(latency=latency)
        for i, ref in enumerate(make_refs(count)):
            fake.videos[ref] = VideoStats(i, i // 2, i // 3, i // 4, i // 5)
        async with fake.start() as base:
            conn.send(base)
            # Wait for the parent's "stop" without blocking the loop.
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)
            conn.send((fake.asked(), fake.tikhub_calls(), str(fake.tikhub_spend(TikHubPrices()))))

    asyncio.run(main())


async def run(args: argparse.Namespace, base: str) -> dict[str, object]:
    refs = make_refs(args.videos)
    fake = FakeProviders()  # only for its config(): same keys as the child's
    config = fake.config(
        base,
        concurrency=args.concurrency,
        tikhub_rate_per_second=args.tikhub_rate,
        youtube_rate_per_second=0.0,
        timeout_seconds=30.0,
        tikhub_batch=not args.no_batch,
    )
    counters = FetchCounters()
    statuses: Counter[str] = Counter()
    connector = aiohttp.TCPConnector(limit=args.concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        async for _ref, result in fetch_videos(session, refs, config, counters):
            statuses[result.status] += 1
        elapsed = time.perf_counter() - started
    total_calls = sum(counters.calls.values())
    ideal = math.ceil(total_calls / args.concurrency) * args.latency
    prices = TikHubPrices()
    tt_ids = [r.video_id for r in refs if r.platform == "tt"]
    dy_ids = [r.video_id for r in refs if r.platform == "dy"]
    cheapest = plan_tiktok(tt_ids, prices) + plan_douyin(dy_ids, prices)
    used = plan_tiktok(tt_ids, prices, not args.no_batch)
    used += plan_douyin(dy_ids, prices, not args.no_batch)
    if args.tikhub_rate > 0:
        per_endpoint = Counter(c.endpoint for c in used)
        slowest = max((n - 1) / args.tikhub_rate + args.latency for n in per_endpoint.values())
        ideal = max(ideal, slowest)
    return {
        "videos": args.videos,
        "latency_s": args.latency,
        "concurrency": args.concurrency,
        "elapsed_s": round(elapsed, 3),
        "ideal_s": round(ideal, 3),
        "ratio": round(elapsed / ideal, 3) if ideal else None,
        "calls": dict(counters.calls),
        "ids": dict(counters.ids),
        "retries": sum(counters.retries.values()),
        "statuses": dict(statuses),
        "ok": statuses[FetchStatus.OK] == args.videos,
        "tikhub_rate_per_endpoint": args.tikhub_rate,
        "batching": not args.no_batch,
        "plan_calls": dict(Counter(c.endpoint for c in used)),
        "cheapest_plan_spend_usd": str(plan_spend(cheapest, prices)),
        "this_plan_spend_usd": str(plan_spend(used, prices)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--tikhub-rate", type=float, default=0.0, help="TikHub calls/s per endpoint (0: none)"
    )
    parser.add_argument("--no-batch", action="store_true", help="one TikHub call per video")
    args = parser.parse_args()

    parent, child = mp.Pipe()
    server = mp.get_context("spawn").Process(
        target=_serve, args=(args.videos, args.latency, child), daemon=True
    )
    server.start()
    try:
        base = parent.recv()
        report = asyncio.run(run(args, base))
        parent.send("stop")
        asked: dict[VideoRef, int]
        asked, billed_calls, billed_usd = parent.recv()
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()
    expected = set(make_refs(args.videos))
    report["each_video_asked_exactly_once"] = set(asked) == expected and all(
        n == 1 for n in asked.values()
    )
    report["fake_calls"] = billed_calls
    report["fake_billed_usd"] = billed_usd
    report["spend_equals_cheapest_plan"] = billed_usd == report["cheapest_plan_spend_usd"]
    for key, value in report.items():
        print(f"{key:>30}: {json.dumps(value)}")
    target_met = isinstance(report["ratio"], float) and report["ratio"] <= 1.25
    print(f"{'target ratio <= 1.25':>30}: {'met' if target_met else 'MISSED'}")
    return 0 if report["ok"] and report["each_video_asked_exactly_once"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
