"""Turn one run's raw files (cells.tsv, rss.tsv, smoke.tsv, meta.txt) into the Markdown table.

Usage: python bench/report.py bench/results/run-<id>   (writes report.md there and prints it)
Overhead = target p50 (p99) - direct p50 (p99) in the same cell of the same run; ratios compare
Tollgate and LiteLLM from the same run only.
"""

import sys
from pathlib import Path

TARGET_NAMES = {
    "direct": "direct to the mock (nginx)",
    "tollgate": "Tollgate (uvicorn)",
    "tollgate_lean": "Tollgate, /v1 without middleware (experiment)",
    "litellm": "LiteLLM proxy",
}
ISSUE_RSS_LIMIT_MIB = 150
ISSUE_RATIO = 5.0
ISSUE_C1_P50_MS = 2.0
ISSUE_C1_P99_MS = 5.0


def parse_result(line: str) -> dict:
    fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
    out: dict = {"label": fields.get("label", "")}
    for key in ("requests", "non2xx", "connect_err", "read_err", "write_err", "timeout_err"):
        out[key] = int(fields.get(key, 0))
    for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms"):
        out[key] = float(fields.get(key, "nan"))
    rss = fields.get("rss_worker_kib", "-")
    out["rss_mib"] = int(rss) / 1024 if rss.isdigit() and int(rss) > 0 else float("nan")
    return out


def read_cells(path: Path) -> dict:
    cells = {}
    for row in path.read_text().splitlines():
        parts = row.split("\t")
        if len(parts) < 4 or not parts[3].startswith("BENCH_RESULT"):
            continue
        target, mode, conc = parts[0], parts[1], int(parts[2])
        cells[(target, mode, conc)] = parse_result(parts[3])
    return cells


def read_rss(path: Path) -> dict:
    """target -> list of (pid, peak KiB, command) for every process of that server."""
    rss: dict = {}
    if path.exists():
        for row in path.read_text().splitlines():
            target, pid, hwm, cmd = [*row.split("\t"), ""][:4]
            rss.setdefault(target, []).append((int(pid), int(hwm), cmd))
    return rss


def is_worker(target: str, cmd: str) -> bool:
    """The request-serving processes: uvicorn/LiteLLM workers are multiprocessing children."""
    return "multiprocessing.spawn" in cmd or "multiprocessing-fork" in cmd


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def errors_of(cell: dict) -> int:
    return sum(cell[k] for k in ("non2xx", "connect_err", "read_err", "write_err", "timeout_err"))


def issue_checks(gateway: str, cells: dict, rss: dict, modes: list[str]) -> list[tuple]:
    """The issue's targets that one run can check, for one gateway target."""
    checks = []
    for mode in modes:
        for conc in (16, 64):
            tg, ll = cells.get((gateway, mode, conc)), cells.get(("litellm", mode, conc))
            if tg and ll and ll["rps"] > 0:
                ratio = tg["rps"] / ll["rps"]
                checks.append(
                    (
                        gateway,
                        f"throughput {mode} c={conc} >= {ISSUE_RATIO:g}x LiteLLM",
                        f"{ratio:.1f}x",
                        ratio >= ISSUE_RATIO and errors_of(tg) == 0,
                    )
                )
    tg1, d1 = cells.get((gateway, "plain", 1)), cells.get(("direct", "plain", 1))
    if tg1 and d1:
        over50 = tg1["p50_ms"] - d1["p50_ms"]
        over99 = tg1["p99_ms"] - d1["p99_ms"]
        checks.append(
            (
                gateway,
                f"c=1 p50 over direct <= {ISSUE_C1_P50_MS:g} ms",
                f"{over50:.2f} ms",
                over50 <= ISSUE_C1_P50_MS,
            )
        )
        checks.append(
            (
                gateway,
                f"c=1 p99 over direct <= {ISSUE_C1_P99_MS:g} ms",
                f"{over99:.2f} ms",
                over99 <= ISSUE_C1_P99_MS,
            )
        )
    workers = [p for p in rss.get(gateway, []) if is_worker(gateway, p[2])]
    if workers:
        peak = max(hwm for _, hwm, _ in workers) / 1024
        checks.append(
            (
                gateway,
                f"RSS per gateway worker <= {ISSUE_RSS_LIMIT_MIB} MB",
                f"{peak:.0f} MiB",
                peak * 1.048576 <= ISSUE_RSS_LIMIT_MIB,
            )
        )
    return checks


def build(run_dir: Path) -> str:
    meta_lines = (run_dir / "meta.txt").read_text().splitlines()
    meta = dict(line.split("=", 1) for line in meta_lines if "=" in line)
    cells = read_cells(run_dir / "cells.tsv")
    rss = read_rss(run_dir / "rss.tsv")
    smoke = {}
    if (run_dir / "smoke.tsv").exists():
        for row in (run_dir / "smoke.tsv").read_text().splitlines():
            target, mode, status = [*row.split("\t", 2), "", ""][:3]
            smoke[(target, mode)] = status
    modes = [m for m in ("plain", "stream") if any(k[1] == m for k in cells)]
    concs = sorted({k[2] for k in cells})
    targets = [t for t in TARGET_NAMES if any(k[0] == t for k in cells) or t in rss]

    out = [f"## Benchmark run {meta.get('run_id', run_dir.name)}", ""]
    out += ["```", *meta_lines, "```", ""]
    out += [
        "| target | mode | c | req/s | p50 ms | p99 ms | p50 over direct | p99 over direct "
        "| errors | peak RSS/worker MiB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode in modes:
        for conc in concs:
            direct = cells.get(("direct", mode, conc))
            for target in targets:
                cell = cells.get((target, mode, conc))
                if cell is None:
                    continue
                over50 = over99 = "-"
                if direct is not None and target != "direct":
                    over50 = f"{cell['p50_ms'] - direct['p50_ms']:+.2f} ms"
                    over99 = f"{cell['p99_ms'] - direct['p99_ms']:+.2f} ms"
                out.append(
                    f"| {TARGET_NAMES[target]} | {mode} | {conc} | {fmt(cell['rps'], 0)} "
                    f"| {fmt(cell['p50_ms'])} | {fmt(cell['p99_ms'])} | {over50} | {over99} "
                    f"| {errors_of(cell)} | {fmt(cell['rss_mib'], 0)} |"
                )
    out.append("")

    not_measured = [(k, v) for k, v in smoke.items() if v != "ok"]
    if not_measured:
        out += ["Not measured (the target answered an error before the cells):", ""]
        out += [f"- {TARGET_NAMES.get(t, t)}, {m}: `{v}`" for (t, m), v in not_measured]
        out.append("")

    ratio_rows = []
    for gateway in ("tollgate", "tollgate_lean"):
        for mode in modes:
            for conc in concs:
                tg, ll = cells.get((gateway, mode, conc)), cells.get(("litellm", mode, conc))
                if tg and ll and ll["rps"] > 0:
                    ratio_rows.append((gateway, mode, conc, tg, ll, tg["rps"] / ll["rps"]))
    if ratio_rows:
        out += [
            "| gateway | mode | c | gateway req/s | LiteLLM req/s | gateway / LiteLLM "
            "| gateway p50 | LiteLLM p50 |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for gateway, mode, conc, tg, ll, ratio in ratio_rows:
            out.append(
                f"| {TARGET_NAMES[gateway]} | {mode} | {conc} | {fmt(tg['rps'], 0)} "
                f"| {fmt(ll['rps'], 0)} | {ratio:.1f}x | {fmt(tg['p50_ms'])} ms "
                f"| {fmt(ll['p50_ms'])} ms |"
            )
        out.append("")

    if rss:
        out += [
            "| server | worker processes | peak RSS per worker (VmHWM) | all processes |",
            "|---|---:|---|---:|",
        ]
        for target, procs in rss.items():
            workers = [p for p in procs if is_worker(target, p[2])]
            per_worker = ", ".join(f"{hwm / 1024:.0f}" for _, hwm, _ in workers) or "-"
            total = sum(hwm for _, hwm, _ in procs) / 1024
            out.append(
                f"| {TARGET_NAMES[target]} | {len(workers)} | {per_worker} MiB "
                f"| {len(procs)} processes, {total:.0f} MiB |"
            )
        out.append("")

    checks = []
    for gateway in ("tollgate", "tollgate_lean"):
        checks += issue_checks(gateway, cells, rss, modes)
    if checks:
        out += ["| gateway | issue 5 target | measured | met |", "|---|---|---:|---|"]
        out += [
            f"| {TARGET_NAMES[gateway]} | {name} | {value} | {'yes' if ok else 'NO'} |"
            for gateway, name, value, ok in checks
        ]
        out.append("")
    return "\n".join(out)


def main() -> None:
    run_dir = Path(sys.argv[1])
    report = build(run_dir)
    (run_dir / "report.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
