"""The benchmark's own arithmetic: the report's overhead, ratios and target checks, and the
nginx mock's body quoting. Run: .venv/bin/pytest bench/tests -q (no database, no servers)."""

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BENCH))

import render_nginx  # noqa: E402
import report  # noqa: E402


def result(label: str, rps: float, p50: float, p99: float, non2xx: int = 0) -> str:
    return (
        f"BENCH_RESULT label={label} requests={int(rps * 10)} rps={rps} p50_ms={p50} "
        f"p90_ms={p99} p99_ms={p99} max_ms={p99} non2xx={non2xx} connect_err=0 read_err=0 "
        "write_err=0 timeout_err=0"
    )


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    cells = [
        ("direct", "plain", 1, result("d", 20000, 0.1, 0.5)),
        ("tollgate", "plain", 1, result("t", 500, 1.6, 4.1)),
        ("litellm", "plain", 1, result("l", 70, 13.1, 20.0)),
        ("direct", "plain", 16, result("d", 120000, 0.2, 1.0)),
        ("tollgate", "plain", 16, result("t", 1000, 15.0, 30.0) + " rss_worker_kib=153600"),
        ("litellm", "plain", 16, result("l", 170, 90.0, 150.0)),
        ("direct", "stream", 16, result("d", 110000, 0.2, 1.0)),
        ("tollgate", "stream", 16, result("t", 400, 40.0, 80.0, non2xx=3)),
        ("litellm", "stream", 16, result("l", 50, 300.0, 500.0)),
    ]
    (tmp_path / "cells.tsv").write_text(
        "".join(f"{t}\t{m}\t{c}\t{line}\n" for t, m, c, line in cells)
    )
    (tmp_path / "rss.tsv").write_text(
        "tollgate\t10\t30000\tpython -m uvicorn config.asgi:application\n"
        "tollgate\t11\t120000\tpython -c from multiprocessing.spawn import spawn_main\n"
        "tollgate\t12\t160000\tpython -c from multiprocessing.spawn import spawn_main\n"
    )
    (tmp_path / "smoke.tsv").write_text(
        "direct\tplain\tok\nlitellm\tstream\tok\ntollgate_lean\tplain\tHTTP 500: boom\n"
    )
    (tmp_path / "meta.txt").write_text("run_id=R1\ncommand=make bench\n")
    return tmp_path


def row(text: str, *starts: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(starts))


def test_overhead_is_measured_against_direct_in_the_same_cell(run_dir: Path):
    text = report.build(run_dir)
    line = row(text, "| Tollgate (uvicorn) | plain | 1 |")
    assert "| +1.50 ms | +3.60 ms |" in line
    line = row(text, "| Tollgate (uvicorn) | plain | 16 |")
    assert line.endswith("| +14.80 ms | +29.00 ms | 0 | 150 |")
    assert row(text, "| Tollgate (uvicorn) | plain | 1 |").endswith("| 0 | - |")


def test_ratio_and_targets(run_dir: Path):
    text = report.build(run_dir)
    assert "5.9x" in row(text, "| Tollgate (uvicorn) | plain | 16 | 1,000 | 170 |")
    plain16 = row(text, "| Tollgate (uvicorn) | throughput plain c=16")
    assert plain16.endswith("| 5.9x | yes |")
    # 8x LiteLLM but with errors: not met.
    assert row(text, "| Tollgate (uvicorn) | throughput stream c=16").endswith("| 8.0x | NO |")
    assert row(text, "| Tollgate (uvicorn) | c=1 p50 over direct").endswith("| 1.50 ms | yes |")
    # Peak RSS is the largest worker's (156 MiB > 150 MB), not the supervisor's.
    assert row(text, "| Tollgate (uvicorn) | RSS per gateway worker").endswith("| 156 MiB | NO |")
    assert "| Tollgate (uvicorn) | 2 | 117, 156 MiB | 3 processes, 303 MiB |" in text


def test_a_target_that_failed_its_smoke_request_is_listed_with_its_error(run_dir: Path):
    text = report.build(run_dir)
    assert "- Tollgate, /v1 without middleware (experiment), plain: `HTTP 500: boom`" in text


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
