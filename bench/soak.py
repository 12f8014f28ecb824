"""Soak: mixed traffic at c=64 for --minutes (default 10) against a Tollgate this script starts
(2 uvicorn workers, a Celery worker and beat, on PostgreSQL and a private redis-server), with a
fault every minute, then checks what must hold after all of it.

Traffic (weighted): plain and streamed requests on the default config (OpenAI, falling back to
Anthropic and Gemini), cache hits (a config with a cache TTL and a few repeated prompts),
Idempotency-Key retries (half of them sent twice), requests on keys with small strict daily
budgets, and a config whose primary provider never answers (every request a fallback). Faults,
in turn, one a minute: OpenAI answers 500 for 10 s; OpenAI slow (2 s) for 10 s; the Redis
server killed and started again (no persistence: counters, holds, queue and usage stream
gone); the Celery worker SIGKILLed and a new one started.

Checks: usage events stored == requests answered (replays of an Idempotency-Key are not new
requests), after ingestion drains; no strict budget passed its limit (database truth); each
uvicorn worker's RSS grew less than 20 MB after the first minute (VmRSS from /proc); no 500.
The summary is printed and written to bench/results/soak-<UTC time>.{json,txt}.

    .venv/bin/python bench/soak.py [--minutes 10]       (or: make soak)

Uses the database `tg_soak` on --pg (dropped and made again, dropped at the end) and db 11 of
a redis-server of its own on a free port. Upstreams: the mock servers of tests/support.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.faults.stack import (  # noqa: E402
    gateway,
    seed,
    stack_env,
    start_beat,
    start_worker,
    stop_process,
)
from tests.support.mock_upstreams import MockUpstream, ServerError, Slow  # noqa: E402
from tests.support.private_services import PrivateRedis, free_port  # noqa: E402

DB = "tg_soak"
REDIS_DB = 11
RSS_LIMIT_KB = 20 * 1024
BUDGETS = ["0.002", "0.005", "0.01", "0.02", "0.05", "0.1"]  # strict daily, one key each
PROMPTS = [f"Cached question number {n}" for n in range(5)]
MIX = [("plain", 30), ("stream", 20), ("cached", 15), ("idempotent", 10), ("budget", 15)]
MIX += [("fallback", 10)]
FAULTS = ["upstream_500", "upstream_slow", "redis_restart", "worker_kill"]


def _pg(url: str, sql: str) -> None:
    with psycopg.connect(url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(sql)


def _query(url: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        return conn.execute(sql, params).fetchall()


def _spec(dead_url: str) -> dict:
    keys = [{"name": "main"}] + [
        {"name": f"budget-{n}", "budget_usd": limit} for n, limit in enumerate(BUDGETS)
    ]
    configs = [
        {"name": "cached", "primary_model": "openai/gpt-4o-mini", "cache_ttl_seconds": 3600},
        {
            "name": "fb",
            "primary_model": "deadco/m1",
            "fallback_models": ["anthropic/claude-haiku-4-5", "google/gemini-2.5-flash"],
        },
    ]
    return {"keys": keys, "configs": configs, "dead_provider_url": dead_url}


class Load:
    """The traffic: `concurrency` lanes, each sending one request after another."""

    def __init__(self, url: str, keys: dict[str, str], concurrency: int) -> None:
        self.url, self.keys, self.concurrency = url, keys, concurrency
        self.statuses: Counter = Counter()
        self.answered = 0  # responses that are a request of their own (not replays)
        self.replays = 0
        self.failures: Counter = Counter()
        self.failure_times: list[float] = []  # seconds into the run
        self.started = time.monotonic()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.stop = asyncio.Event()
        self._kinds = [k for k, weight in MIX for _ in range(weight)]
        self._idem = itertools.count()

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=self.concurrency + 8)
        async with httpx.AsyncClient(timeout=180, limits=limits) as client:
            await asyncio.gather(*(self._lane(client) for _ in range(self.concurrency)))

    async def _lane(self, client: httpx.AsyncClient) -> None:
        while not self.stop.is_set():
            kind = random.choice(self._kinds)
            key, body, headers = self._request(kind)
            await self._send(client, kind, key, body, headers)
            if kind == "idempotent" and random.random() < 0.5:
                await self._send(client, "replay", key, body, headers)

    def _request(self, kind: str) -> tuple[str, dict, dict]:
        body: dict = {"model": "auto", "messages": [{"role": "user", "content": "Say hello"}]}
        headers: dict = {}
        key = self.keys["main"]
        if kind == "stream":
            body["stream"] = True
        elif kind == "cached":
            body = {"model": "cached", "messages": [{"role": "user", "content": ""}]}
            body["messages"][0]["content"] = random.choice(PROMPTS)
            body["stream"] = random.random() < 0.3
        elif kind == "idempotent":
            headers["Idempotency-Key"] = f"soak-{os.getpid()}-{next(self._idem)}"
        elif kind == "budget":
            key = self.keys[f"budget-{random.randrange(len(BUDGETS))}"]
            body["max_tokens"] = 20
        elif kind == "fallback":
            body["model"] = "fb"
        return key, body, headers

    async def _send(self, client, kind: str, key: str, body: dict, headers: dict) -> None:
        started = time.monotonic()
        try:
            response = await client.post(
                f"{self.url}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}", **headers},
            )
        except httpx.HTTPError as exc:
            self.failures[f"{kind}: {type(exc).__name__}"] += 1
            self.failure_times.append(round(time.monotonic() - self.started, 1))
            return
        self.latency[kind].append(time.monotonic() - started)
        self.statuses[(kind, response.status_code)] += 1
        if response.headers.get("idempotent-replayed") == "true":
            self.replays += 1
        else:
            self.answered += 1


class Faults:
    """One fault a minute, in turn (module doc)."""

    def __init__(self, *, openai: MockUpstream, redis: PrivateRedis, worker, env, log_dir):
        self.openai, self.redis, self.worker = openai, redis, worker
        self.env, self.log_dir = env, log_dir
        self.done: list[dict] = []

    async def run(self, minutes: float, started: float) -> None:
        for number in itertools.count():
            at = started + 60 * (number + 1)
            if at > started + 60 * minutes - 15:
                return
            await asyncio.sleep(max(at - time.monotonic(), 0))
            kind = FAULTS[number % len(FAULTS)]
            began = time.monotonic()
            await getattr(self, kind)()
            self.done.append({"fault": kind, "at_s": round(began - started, 1)})
            print(f"[soak] {began - started:6.1f}s fault {kind}", flush=True)

    async def upstream_500(self) -> None:
        self.openai.script(*[ServerError(500)] * 200_000)
        await asyncio.sleep(10)
        self.openai.reset()

    async def upstream_slow(self) -> None:
        self.openai.script(*[Slow(delay=2.0)] * 200_000)
        await asyncio.sleep(10)
        self.openai.reset()

    async def redis_restart(self) -> None:
        await asyncio.to_thread(self.redis.restart, down_for=0.5)

    async def worker_kill(self) -> None:
        self.worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(self.worker.wait, 10)
        self.worker = start_worker(env=self.env, log_dir=self.log_dir)


def _worker_pids(master: int) -> list[int]:
    """uvicorn's worker processes: the master's children that multiprocessing spawned (not
    its resource tracker)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                if int(stat.rsplit(")", 1)[1].split()[1]) == master and b"spawn_main" in cmdline:
                    pids.append(int(entry))
    return sorted(pids)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _sample_rss(master: int, samples: list, stop: asyncio.Event, started: float) -> None:
    while not stop.is_set():
        with contextlib.suppress(OSError):
            pids = _worker_pids(master)
            samples.append((time.monotonic() - started, {p: _rss_kb(p) for p in pids}))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 5)


async def _traffic(args, url, keys, faults, master) -> tuple[Load, list]:
    load, samples = Load(url, keys, args.concurrency), []
    started = time.monotonic()
    sampler_stop = asyncio.Event()

    async def timer() -> None:
        await asyncio.sleep(args.minutes * 60)
        load.stop.set()

    async def trim_mock_records() -> None:  # the mocks record every request: keep them small
        while not load.stop.is_set():
            await asyncio.sleep(10)
            for upstream in faults.upstreams:
                upstream.requests.clear()

    sampler = asyncio.create_task(_sample_rss(master, samples, sampler_stop, started))
    await asyncio.gather(
        load.run(), timer(), faults.run(args.minutes, started), trim_mock_records()
    )
    sampler_stop.set()
    await sampler
    return load, samples


def _drain(db_url: str, expected: int, timeout: float) -> tuple[int, float]:
    """Wait for ingestion (beat every 5 s; a killed worker's batch is reclaimed after 60 s)."""
    started = time.monotonic()
    count = 0
    while time.monotonic() - started < timeout:
        count = _query(db_url, "SELECT count(*) FROM billing_usageevent")[0][0]
        if count >= expected:
            break
        time.sleep(2)
    time.sleep(6)  # one more ingestion round: a surplus would show too
    count = _query(db_url, "SELECT count(*) FROM billing_usageevent")[0][0]
    return count, time.monotonic() - started


def _budget_check(db_url: str, key_ids: dict[str, int]) -> list[dict]:
    rows = []
    for n, limit in enumerate(BUDGETS):
        [(spent, count)] = _query(
            db_url,
            "SELECT coalesce(sum(cost_usd), 0), count(*) FROM billing_usageevent "
            "WHERE api_key_id = %s AND status <> 'rejected'",
            [key_ids[f"budget-{n}"]],
        )
        rows.append(
            {"key": f"budget-{n}", "limit_usd": limit, "spent_usd": str(spent), "answers": count}
        )
        rows[-1]["ok"] = Decimal(spent) <= Decimal(limit)
    return rows


def _rss_growth(samples: list) -> dict:
    after_warmup = next((s for t, s in samples if t >= 60), samples[0][1] if samples else {})
    last = samples[-1][1] if samples else {}
    return {
        str(pid): {"after_warmup_kb": after_warmup[pid], "end_kb": last[pid]}
        for pid in after_warmup
        if pid in last
    }


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * q), len(ordered) - 1)] if ordered else 0.0


def _summary(args, load: Load, faults: Faults, samples, drained, budgets, events_by_status):
    count, drain_s = drained
    growth = _rss_growth(samples)
    statuses = Counter()
    for (_kind, status), n in load.statuses.items():
        statuses[status] += n
    checks = {
        "events_equal_answered": count == load.answered,
        "no_strict_budget_exceeded": all(row["ok"] for row in budgets),
        "rss_growth_under_20mb": bool(growth)
        and all(g["end_kb"] - g["after_warmup_kb"] < RSS_LIMIT_KB for g in growth.values()),
        "no_500": statuses.get(500, 0) == 0,
    }
    return {
        "minutes": args.minutes,
        "concurrency": args.concurrency,
        "requests_answered": load.answered,
        "idempotent_replays": load.replays,
        "usage_events": count,
        "events_by_status": events_by_status,
        "drain_seconds": round(drain_s, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "by_kind": {f"{k} {s}": n for (k, s), n in sorted(load.statuses.items())},
        "failures": dict(load.failures),
        "failure_times_s": load.failure_times,
        "rss_series_mb": {
            str(pid): [(round(t), round(rss.get(pid, 0) / 1024, 1)) for t, rss in samples[::6]]
            for pid in (samples[-1][1] if samples else {})
        },
        "latency_ms": {
            kind: {
                "p50": round(_percentile(v, 0.5) * 1000),
                "p99": round(_percentile(v, 0.99) * 1000),
            }
            for kind, v in sorted(load.latency.items())
        },
        "faults": faults.done,
        "budgets": budgets,
        "rss": growth,
        "checks": checks,
        "ok": all(checks.values()),
    }


def _text(summary: dict) -> str:
    lines = [f"soak: {summary['minutes']} min at c={summary['concurrency']}"]
    for name in ("requests_answered", "idempotent_replays", "usage_events", "drain_seconds"):
        lines.append(f"  {name}: {summary[name]}")
    lines.append(f"  statuses: {summary['statuses']}")
    lines.append(f"  failures: {summary['failures']} at {summary['failure_times_s']} s")
    for pid, series in summary["rss_series_mb"].items():
        lines.append(f"  worker {pid} RSS MB every 30 s: {[mb for _, mb in series]}")
    lines.append(f"  faults: {[f['fault'] + '@' + str(f['at_s']) for f in summary['faults']]}")
    for row in summary["budgets"]:
        lines.append(
            f"  budget {row['key']}: spent {row['spent_usd']} of {row['limit_usd']} "
            f"({row['answers']} answers) {'ok' if row['ok'] else 'EXCEEDED'}"
        )
    for pid, g in summary["rss"].items():
        growth = (g["end_kb"] - g["after_warmup_kb"]) / 1024
        lines.append(f"  worker {pid} RSS: {g['after_warmup_kb'] // 1024} MB -> +{growth:.1f} MB")
    for kind, q in summary["latency_ms"].items():
        lines.append(f"  latency {kind}: p50 {q['p50']} ms, p99 {q['p99']} ms")
    lines += [
        f"  check {name}: {'ok' if ok else 'FAILED'}" for name, ok in summary["checks"].items()
    ]
    lines.append("SOAK " + ("PASSED" if summary["ok"] else "FAILED"))
    return "\n".join(lines)


def _env(db_url: str, redis: PrivateRedis, upstreams: dict, state_dir: Path) -> dict:
    env = stack_env(
        database_url=db_url,
        redis_url=f"redis://127.0.0.1:{redis.port}/{REDIS_DB}",
        upstreams={name: u.base_url for name, u in upstreams.items()},
        state_dir=state_dir,
        settings_module="config.settings",
    )
    metrics_dir = state_dir / "prometheus"
    metrics_dir.mkdir(exist_ok=True)
    env.update(
        SECRET_KEY=secrets.token_urlsafe(50),
        TOLLGATE_ENCRYPTION_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        DEBUG="false",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        TOLLGATE_PLAIN_HTTP="true",
        TOLLGATE_ALLOW_PRIVATE_UPSTREAMS="true",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    return env


@contextlib.contextmanager
def _stack(args, work: Path):
    """Database, Redis, mock upstreams, seeded rows, worker, beat and the gateway; all stopped
    (and the database dropped) however the soak ends."""
    db_url = f"{args.pg}/{DB}"
    _pg(f"{args.pg}/postgres", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
    _pg(f"{args.pg}/postgres", f"CREATE DATABASE {DB}")
    redis = PrivateRedis(port=free_port())
    upstreams = {
        "openai": MockUpstream("openai_chat"),
        "anthropic": MockUpstream("anthropic_messages"),
        "google": MockUpstream("gemini"),
    }
    processes: list[subprocess.Popen] = []
    try:
        redis.start()
        for upstream in upstreams.values():
            upstream.start()
        env = _env(db_url, redis, upstreams, work)
        migrate = [sys.executable, "manage.py", "migrate", "--noinput", "-v0"]
        subprocess.run(migrate, cwd=ROOT, env=env, check=True)
        rows = seed(env, _spec(dead_url=f"http://127.0.0.1:{free_port()}/v1"))
        processes.append(start_beat(env=env, log_dir=work))
        worker = start_worker(env=env, log_dir=work)
        with gateway(env=env, log_dir=work, workers=args.workers) as (url, master):
            time.sleep(2)  # the master answers first; give the workers a moment
            faults = Faults(
                openai=upstreams["openai"], redis=redis, worker=worker, env=env, log_dir=work
            )
            faults.upstreams = list(upstreams.values())
            try:
                yield url, master.pid, db_url, rows, faults
            finally:
                processes.append(faults.worker)
    finally:
        for process in processes:
            stop_process(process)
        for upstream in upstreams.values():
            upstream.stop()
        redis.kill()
        with contextlib.suppress(psycopg.Error):
            _pg(f"{args.pg}/postgres", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pg", default=os.environ.get("SOAK_PG", "postgres://postgres@127.0.0.1:5432")
    )
    args = parser.parse_args()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    work = Path(tempfile.mkdtemp(prefix="tg-soak-"))
    with _stack(args, work) as (url, master, db_url, rows, faults):
        print(f"[soak] {args.minutes} min at c={args.concurrency}; logs in {work}", flush=True)
        load, samples = asyncio.run(_traffic(args, url, rows["keys"], faults, master))
        print(f"[soak] traffic done: {load.answered} answered; draining", flush=True)
        drained = _drain(db_url, load.answered, timeout=240)
        budgets = _budget_check(db_url, rows["key_ids"])
        by_status = dict(
            _query(db_url, "SELECT status, count(*) FROM billing_usageevent GROUP BY 1")
        )
        summary = _summary(args, load, faults, samples, drained, budgets, by_status)
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    text = _text(summary)
    (results / f"soak-{stamp}.json").write_text(json.dumps(summary, indent=2, default=str))
    (results / f"soak-{stamp}.txt").write_text(text + "\n")
    print(text)
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
