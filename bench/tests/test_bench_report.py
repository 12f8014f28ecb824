"""The benchmark's own arithmetic: the report's overhead, peer ratios and target checks, the
workloads' bodies, and the nginx mock's quoting and routing. Run: .venv/bin/pytest bench/tests -q
(no database, no servers)."""

import json
import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

import render_nginx  # noqa: E402
import report  # noqa: E402
import workloads  # noqa: E402


def result(label: str, rps: float, p50: float, p99: float, non2xx: int = 0) -> str:
    return (
        f"BENCH_RESULT label={label} requests={int(rps * 10)} rps={rps} p50_ms={p50} "
        f"p90_ms={p99} p99_ms={p99} max_ms={p99} non2xx={non2xx} connect_err=0 read_err=0 "
        "write_err=0 timeout_err=0"
    )


CELLS = [
    ("direct", "rag", "plain", 1, result("d", 20000, 0.1, 0.5)),
    ("tollgate", "rag", "plain", 1, result("t", 500, 1.1, 4.1)),
    ("portkey", "rag", "plain", 1, result("p", 300, 2.1, 6.0)),
    ("litellm", "rag", "plain", 1, result("l", 70, 13.1, 20.0)),
    ("direct", "rag", "plain", 16, result("d", 120000, 0.2, 1.0)),
    (
        "tollgate",
        "rag",
        "plain",
        16,
        result("t", 1000, 15.0, 30.0) + " rss_worker_kib=153600 cpu_ms=25000",
    ),
    ("portkey", "rag", "plain", 16, result("p", 400, 40.0, 90.0)),
    ("litellm", "rag", "plain", 16, result("l", 90, 90.0, 150.0)),
    ("tollgate", "rag", "plain", 64, result("t", 1300, 40.0, 95.0) + " load1=3.25"),
    ("portkey", "rag", "plain", 64, result("p", 420, 150.0, 90.0)),
    ("litellm", "rag", "plain", 64, result("l", 100, 600.0, 900.0)),
    ("direct", "stream500", "stream", 16, result("d", 9000, 1.0, 3.0)),
    ("tollgate", "stream500", "stream", 16, result("t", 900, 18.0, 40.0, non2xx=3)),
    ("portkey", "stream500", "stream", 16, result("p", 200, 80.0, 200.0)),
    ("litellm", "stream500", "stream", 16, result("l", 30, 500.0, 900.0)),
]


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    (tmp_path / "cells.tsv").write_text(
        "".join(f"{t}\t{w}\t{m}\t{c}\t{line}\n" for t, w, m, c, line in CELLS)
    )
    (tmp_path / "rss.tsv").write_text(
        "tollgate\t10\t30000\tpython -m uvicorn config.asgi:application\n"
        "tollgate\t11\t120000\tpython -c from multiprocessing.spawn import spawn_main\n"
        "tollgate\t12\t160000\tpython -c from multiprocessing.spawn import spawn_main\n"
        "portkey\t20\t90000\tnode --import /x/portkey_loopback.mjs /x/.portkey/node_modules/@\n"
    )
    (tmp_path / "smoke.tsv").write_text(
        "direct\trag\tplain\tok\n"
        "portkey\tconversation\tstream\tHTTP 500: immutable\n"
        "tollgate_lean\ttiny\tplain\tHTTP 500: boom\n"
    )
    (tmp_path / "meta.txt").write_text(
        "run_id=R1\ncommand=make bench\nworkload=rag body_bytes=30354 message_chars=30145\n"
    )
    return tmp_path


def row(text: str, *starts: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(starts))


def section(text: str, workload: str) -> str:
    """The lines of one workload's section."""
    return text.split(f"### Workload `{workload}`", 1)[1].split("### Workload", 1)[0]


def test_overhead_is_measured_against_direct_in_the_same_cell(run_dir: Path):
    rag = section(report.build(run_dir), "rag")
    assert "| +1.00 ms | +3.60 ms |" in row(rag, "| Tollgate (uvicorn) | plain | 1 |")
    line = row(rag, "| Tollgate (uvicorn) | plain | 16 |")
    # CPU per answered request: 25,000 ms over the cell's 10,000 requests.
    assert line.endswith("| +14.80 ms | +29.00 ms | 0 | 150 | 2.500 |")
    assert row(rag, "| Tollgate (uvicorn) | plain | 1 |").endswith("| - |")  # not recorded
    # No direct cell at c=64: no overhead rather than a wrong one.
    assert "| - | - |" in row(rag, "| Tollgate (uvicorn) | plain | 64 |")


def test_the_workload_heading_carries_the_body_size(run_dir: Path):
    text = report.build(run_dir)
    assert "### Workload `rag` (body 30,354 bytes, 30,145 characters of message text)" in text


def test_the_load_average_range_of_the_cells_is_shown(run_dir: Path):
    cells = run_dir / "cells.tsv"
    cells.write_text(cells.read_text().replace("rss_worker_kib=153600", "load1=0.75"))
    assert "Load average (1 min) after each cell: 0.75 to 3.25." in report.build(run_dir)


def test_peer_ratios_and_the_issue_targets(run_dir: Path):
    rag = section(report.build(run_dir), "rag")
    assert row(rag, "| plain | 16 |") == "| plain | 16 | 1,000 | 400 | 90 | 2.5x | 11.1x |"
    assert row(rag, "| throughput plain c=16 >= 3x Portkey").endswith("| 2.5x | NOT MET |")
    assert row(rag, "| throughput plain c=16 >= 10x LiteLLM").endswith("| 11.1x | met |")
    assert row(rag, "| throughput plain c=64 >= 3x Portkey").endswith("| 3.1x | met |")
    # c=1: Tollgate +1.00 ms over direct, Portkey +2.00 ms: half of it is exactly the limit.
    c1 = row(rag, "| c=1 p50 over direct (plain) <= half of Portkey's")
    assert c1.endswith("| +1.00 ms vs +1.00 ms | met |")
    assert row(rag, "| p99 plain c=64 <= Portkey's").endswith("| 95.00 vs 90.00 ms | NOT MET |")


def test_errors_fail_a_target_however_fast(run_dir: Path):
    streams = section(report.build(run_dir), "stream500")
    assert row(streams, "| throughput stream c=16 >= 3x Portkey").endswith(
        "| 4.5x, 3 errors | NOT MET |"
    )
    assert row(streams, "| throughput stream c=64 >= 3x Portkey").endswith(
        "| not measured | not measured |"
    )


def test_rss_per_worker_and_portkey_as_one_process(run_dir: Path):
    text = report.build(run_dir)
    # The largest worker's peak (156 MiB > 150 MB), not the supervisor's.
    assert "Tollgate (uvicorn): RSS per worker under load <= 150 MB: 156 MiB, NOT MET." in text
    assert "| Tollgate (uvicorn) | 2 | 117, 156 MiB | 3 processes, 303 MiB |" in text
    assert "| Portkey gateway (Node, 1 process) | 1 | 88 MiB | 1 processes, 88 MiB |" in text


def test_summary_counts_met_not_met_and_not_measured(run_dir: Path):
    text = report.build(run_dir)
    # rag: 4 throughput checks, c=1 and p99: met 11.1x, 3.1x, 13.0x and c=1; not met 2.5x, p99.
    rag = row(text, "| Tollgate (uvicorn) | rag |")
    assert rag == "| Tollgate (uvicorn) | rag | 4 | 2 | 0 |"
    assert row(text, "| Tollgate (uvicorn) | all |") == "| Tollgate (uvicorn) | all | 0 | 1 | 0 |"


def test_a_peer_that_completed_nothing_shows_no_latency_and_no_ratio(run_dir: Path):
    cells = run_dir / "cells.tsv"
    cells.write_text(
        cells.read_text() + "litellm\tstream500\tstream\t64\t" + result("l", 0, 0, 0) + "\n"
    )
    cells.write_text(
        cells.read_text() + "tollgate\tstream500\tstream\t64\t" + result("t", 90, 9, 20) + "\n"
    )
    streams = section(report.build(run_dir), "stream500")
    assert row(streams, "| LiteLLM proxy | stream | 64 |").startswith(
        "| LiteLLM proxy | stream | 64 | 0 | - | - |"
    )
    assert row(streams, "| throughput stream c=64 >= 10x LiteLLM").endswith(
        "| LiteLLM completed no request | met |"
    )


def test_a_target_that_failed_its_smoke_request_is_listed_with_its_error(run_dir: Path):
    (run_dir / "cells.tsv").write_text(
        (run_dir / "cells.tsv").read_text()
        + "tollgate\tconversation\tplain\t1\t"
        + result("t", 500, 1.0, 2.0)
        + "\n"
    )
    conversation = section(report.build(run_dir), "conversation")
    assert "- Portkey gateway (Node, 1 process), stream: `HTTP 500: immutable`" in conversation


def test_runs_from_before_workloads_read_as_tiny(tmp_path: Path):
    (tmp_path / "cells.tsv").write_text(
        f"direct\tplain\t1\t{result('d', 20000, 0.1, 0.5)}\n"
        f"tollgate\tplain\t1\t{result('t', 500, 1.6, 4.1)}\n"
    )
    (tmp_path / "smoke.tsv").write_text("tollgate_lean\tplain\tHTTP 500: boom\n")
    (tmp_path / "meta.txt").write_text("run_id=OLD\n")
    tiny = section(report.build(tmp_path), "tiny")
    assert "| +1.50 ms | +3.60 ms |" in row(tiny, "| Tollgate (uvicorn) | plain | 1 |")
    assert "- Tollgate, /v1 without middleware (experiment), plain: `HTTP 500: boom`" in tiny


def test_workload_bodies(tmp_path: Path):
    """Sizes as the issue asks, the same bytes every time, and the mock's routing markers only
    where they belong."""
    stream_rule = re.compile(r'"stream"\s*:\s*true')
    rag = json.loads(workloads.body(workload="rag", mode="plain", model="auto"))
    assert len(rag["messages"][-1]["content"]) >= 30_000
    talk = json.loads(workloads.body(workload="conversation", mode="plain", model="auto"))
    assert len(talk["messages"]) == 1 + 40 + 1 and len(talk["tools"]) == 8
    assert {m["role"] for m in talk["messages"]} == {"system", "user", "assistant", "tool"}
    for name, modes in workloads.MODES.items():
        for mode in modes:
            raw = workloads.body(workload=name, mode=mode, model="gpt-4o-mini").decode()
            assert raw == workloads.body(workload=name, mode=mode, model="gpt-4o-mini").decode()
            assert bool(stream_rule.search(raw)) == (mode == "stream"), (name, mode)
            assert (workloads.STREAM500_MARKER in raw) == (name == "stream500")
    assert workloads.MODES["stream500"] == ("stream",)


def test_the_500_chunk_stream_file():
    events = (BENCH / "mock" / "stream500.sse").read_text().split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    content = [c for c in chunks if c["choices"] and "content" in c["choices"][0]["delta"]]
    assert len(content) == 501  # the role chunk, then 500 content chunks
    assert chunks[-1]["usage"]["completion_tokens"] == 500


def test_nginx_bodies_are_quoted_and_dollar_is_refused():
    assert render_nginx.quote("it's \\ ok") == "it\\'s \\\\ ok"
    with pytest.raises(SystemExit):
        render_nginx.quote('{"price": "$1"}')


def test_rendered_config_contains_the_fixed_bodies(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["render_nginx.py", "18080", str(tmp_path), "2"])
    render_nginx.main()
    conf = capsys.readouterr().out
    assert "listen 127.0.0.1:18080" in conf
    assert f"pid {tmp_path}/nginx.pid;" in conf
    assert '"object":"chat.completion"' in conf
    assert "data: [DONE]" in conf
    assert f"alias {BENCH / 'mock'}/stream500.sse;" in conf
    # The map takes the first matching rule: the 500-chunk marker before any stream.
    assert conf.index("stream500.sse;") < conf.index(" stream.sse;")
    assert "__" not in conf.replace("__init__", "")


def test_redis_trace_counts_gateway_commands_and_leaves_celery_out(
    tmp_path: Path, monkeypatch, capsys
):
    import redis_trace_summary

    monitor = tmp_path / "monitor.txt"
    monitor.write_text(
        '1.1 [10 127.0.0.1:5000] "HMGET" "tg:brk:openai" "failures" "open_until"\n'
        '1.2 [10 127.0.0.1:5000] "EVALSHA" "abc" "2" "k1" "k2"\n'
        '1.3 [10 lua] "HINCRBY" "k1" "rm" "5"\n'
        '1.4 [10 lua] "HINCRBY" "k2" "rm" "5"\n'
        '1.5 [10 127.0.0.1:6000] "BRPOP" "celery" "1"\n'
        '1.6 [10 127.0.0.1:6000] "PING"\n'
        '1.7 [10 127.0.0.1:5000] "XADD" "tollgate:usage" "*" "e" "{\\"a\\": 1}"\n'
        "garbage line\n"
    )
    monkeypatch.setattr(sys, "argv", ["redis_trace_summary.py", str(monitor), "2"])
    redis_trace_summary.main()
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("client commands per request: 1.50 ")
    assert "HMGET=0.50" in out[0] and "PING" not in out[0] and "BRPOP" not in out[0]
    assert out[1].startswith("commands inside Lua per request: 1.00  HINCRBY=1.00")
