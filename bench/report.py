"""Turn one run's raw files (cells.tsv, rss.tsv, smoke.tsv, meta.txt) into the Markdown tables.

Usage: python bench/report.py bench/results/run-<id>   (writes report.md there and prints it)
Per workload: every target's cells, the gateway's ratios to its peers (Portkey, LiteLLM) and
the issue's targets, each shown met or not met. Overhead = target p50 (p99) - direct p50 (p99)
in the same cell of the same run; ratios compare targets of the same run only. Runs from before
workloads existed (four-column cells.tsv) read as the `tiny` workload.
"""

import sys
from pathlib import Path

TARGET_NAMES = {
    "direct": "direct to the mock (nginx)",
    "tollgate": "Tollgate (uvicorn)",
    "tollgate_lean": "Tollgate, /v1 without middleware (experiment)",
    "tollgate_nometrics": "Tollgate, metrics recording off",
    "tollgate_granian": "Tollgate (granian)",
    "tollgate_base": "Tollgate, the base checkout (A/B)",
    "portkey": "Portkey gateway (Node, 1 process)",
    "litellm": "LiteLLM proxy",
}
GATEWAYS = ("tollgate", "tollgate_base", "tollgate_lean", "tollgate_granian")
PEER_NAMES = {"portkey": "Portkey", "litellm": "LiteLLM"}
WORKLOAD_ORDER = ("tiny", "rag", "conversation", "stream500")
# Issue 16's targets.
RSS_LIMIT_MB = 150
TIMES_PORTKEY = 3.0
TIMES_LITELLM = 10.0
C1_SHARE_OF_PORTKEY = 0.5
THROUGHPUT_CONCURRENCY = (16, 64)
P99_CONCURRENCY = 64


def parse_result(line: str) -> dict:
    fields = dict(part.split("=", 1) for part in line.split()[1:] if "=" in part)
    out: dict = {"label": fields.get("label", "")}
    for key in ("requests", "non2xx", "connect_err", "read_err", "write_err", "timeout_err"):
        out[key] = int(fields.get(key, 0))
    for key in ("rps", "p50_ms", "p90_ms", "p99_ms", "max_ms"):
        out[key] = float(fields.get(key, "nan"))
    if out["requests"] == 0:  # nothing completed in the cell: wrk's 0 ms latencies mean nothing
        for key in ("p50_ms", "p90_ms", "p99_ms", "max_ms"):
            out[key] = float("nan")
    rss = fields.get("rss_worker_kib", "-")
    out["rss_mib"] = int(rss) / 1024 if rss.isdigit() and int(rss) > 0 else float("nan")
    out["load1"] = float(fields.get("load1", "nan"))
    # CPU time of the target's processes over the cell and until they were idle again, per
    # answered request: what the load on a shared machine distorts least (run.sh, `cpu_ms`).
    cpu = fields.get("cpu_ms", "")
    out["cpu_ms_per_request"] = (
        float(cpu) / out["requests"]
        if cpu.replace(".", "", 1).isdigit() and out["requests"]
        else float("nan")
    )
    return out


def read_cells(path: Path) -> dict:
    """(target, workload, mode, concurrency) -> parsed result."""
    cells = {}
    for row in path.read_text().splitlines():
        parts = row.split("\t")
        if len(parts) >= 4 and parts[3].startswith("BENCH_RESULT"):
            parts = [parts[0], "tiny", *parts[1:]]
        if len(parts) < 5 or not parts[4].startswith("BENCH_RESULT"):
            continue
        target, workload, mode, conc = parts[0], parts[1], parts[2], int(parts[3])
        cells[(target, workload, mode, conc)] = parse_result(parts[4])
    return cells


def read_smoke(path: Path) -> dict:
    """(target, workload, mode) -> "ok" or the error the target answered before the cells."""
    smoke = {}
    if path.exists():
        for row in path.read_text().splitlines():
            parts = row.split("\t")
            if len(parts) == 3:
                parts = [parts[0], "tiny", *parts[1:]]
            if len(parts) >= 4:
                smoke[(parts[0], parts[1], parts[2])] = "\t".join(parts[3:])
    return smoke


def read_rss(path: Path) -> dict:
    """target -> list of (pid, peak KiB, command) for every process of that server."""
    rss: dict = {}
    if path.exists():
        for row in path.read_text().splitlines():
            target, pid, hwm, cmd = [*row.split("\t"), ""][:4]
            rss.setdefault(target, []).append((int(pid), int(hwm), cmd))
    return rss


def is_worker(target: str, cmd: str) -> bool:
    """The request-serving processes: uvicorn/LiteLLM workers are multiprocessing children;
    Portkey serves from its one Node process."""
    if target == "portkey":
        return True
    return "multiprocessing.spawn" in cmd or "multiprocessing-fork" in cmd


def fmt(value: float, digits: int = 2) -> str:
    return "-" if value != value else f"{value:,.{digits}f}"


def over_text(value: float | None) -> str:
    return "-" if value is None or value != value else f"{value:+.2f} ms"


def errors_of(cell: dict) -> int:
    return sum(cell[k] for k in ("non2xx", "connect_err", "read_err", "write_err", "timeout_err"))


def over_direct(cells: dict, key: tuple, field: str) -> float | None:
    """A target's latency figure minus direct's in the same cell, or None without both."""
    cell, direct = cells.get(key), cells.get(("direct", *key[1:]))
    if cell is None or direct is None:
        return None
    return cell[field] - direct[field]


def peer_checks(gateway: str, workload: str, cells: dict, modes: list[str]) -> list[tuple]:
    """Issue 16's per-workload targets for one gateway: (target, measured, met or None)."""
    checks = []
    for mode in modes:
        for conc in THROUGHPUT_CONCURRENCY:
            tg = cells.get((gateway, workload, mode, conc))
            for peer, times in (("portkey", TIMES_PORTKEY), ("litellm", TIMES_LITELLM)):
                other = cells.get((peer, workload, mode, conc))
                name = f"throughput {mode} c={conc} >= {times:g}x {PEER_NAMES[peer]}"
                if tg is None or other is None:
                    checks.append((name, "not measured", None))
                    continue
                errors = errors_of(tg)
                if other["requests"] == 0:  # the peer completed nothing in the whole cell
                    shown = f"{PEER_NAMES[peer]} completed no request"
                    checks.append((name, shown, tg["requests"] > 0 and not errors))
                    continue
                ratio = tg["rps"] / other["rps"]
                shown = f"{ratio:.1f}x" + (f", {errors:,} errors" if errors else "")
                checks.append((name, shown, ratio >= times and not errors))
    for mode in modes:
        mine = over_direct(cells, (gateway, workload, mode, 1), "p50_ms")
        theirs = over_direct(cells, ("portkey", workload, mode, 1), "p50_ms")
        name = f"c=1 p50 over direct ({mode}) <= half of Portkey's"
        if mine is None or theirs is None:
            checks.append((name, "not measured", None))
        else:
            limit = theirs * C1_SHARE_OF_PORTKEY
            checks.append((name, f"{mine:+.2f} ms vs {limit:+.2f} ms", mine <= limit))
    for mode in modes:
        tg = cells.get((gateway, workload, mode, P99_CONCURRENCY))
        pk = cells.get(("portkey", workload, mode, P99_CONCURRENCY))
        name = f"p99 {mode} c={P99_CONCURRENCY} <= Portkey's"
        if tg is None or pk is None:
            checks.append((name, "not measured", None))
        else:
            errors = errors_of(tg)
            shown = f"{fmt(tg['p99_ms'])} vs {fmt(pk['p99_ms'])} ms"
            shown += f", {errors:,} errors" if errors else ""
            checks.append((name, shown, tg["p99_ms"] <= pk["p99_ms"] and not errors))
    return checks


def rss_check(gateway: str, rss: dict) -> tuple | None:
    workers = [p for p in rss.get(gateway, []) if is_worker(gateway, p[2])]
    if not workers:
        return None
    peak = max(hwm for _, hwm, _ in workers) / 1024
    name = f"RSS per worker under load <= {RSS_LIMIT_MB} MB"
    return (name, f"{peak:.0f} MiB", peak * 1.048576 <= RSS_LIMIT_MB)


def met_word(ok: bool | None) -> str:
    return "not measured" if ok is None else ("met" if ok else "NOT MET")


def cell_table(cells: dict, workload: str, modes: list[str], targets: list[str]) -> list[str]:
    out = [
        "| target | mode | c | req/s | p50 ms | p99 ms | p50 over direct | p99 over direct "
        "| errors | peak RSS/worker MiB | CPU ms/request |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    concs = sorted({k[3] for k in cells if k[1] == workload})
    for mode in modes:
        for conc in concs:
            for target in targets:
                cell = cells.get((target, workload, mode, conc))
                if cell is None:
                    continue
                over50 = over99 = "-"
                if target != "direct" and ("direct", workload, mode, conc) in cells:
                    over50 = over_text(over_direct(cells, (target, workload, mode, conc), "p50_ms"))
                    over99 = over_text(over_direct(cells, (target, workload, mode, conc), "p99_ms"))
                out.append(
                    f"| {TARGET_NAMES.get(target, target)} | {mode} | {conc} "
                    f"| {fmt(cell['rps'], 0)} | {fmt(cell['p50_ms'])} | {fmt(cell['p99_ms'])} "
                    f"| {over50} | {over99} | {errors_of(cell)} | {fmt(cell['rss_mib'], 0)} "
                    f"| {fmt(cell['cpu_ms_per_request'], 3)} |"
                )
    return [*out, ""]


def ratio_table(cells: dict, workload: str, modes: list[str], gateway: str) -> list[str]:
    """The gateway's throughput next to its peers', cell by cell."""
    concs = sorted({k[3] for k in cells if k[1] == workload})
    rows = []
    for mode in modes:
        for conc in concs:
            tg = cells.get((gateway, workload, mode, conc))
            if tg is None:
                continue
            shown = []
            for peer in ("portkey", "litellm"):
                other = cells.get((peer, workload, mode, conc))
                ok = other is not None and other["rps"] > 0
                shown.append(
                    (fmt(other["rps"], 0) if other else "-", f"{tg['rps'] / other['rps']:.1f}x")
                    if ok
                    else ("-", "-")
                )
            rows.append(
                f"| {mode} | {conc} | {fmt(tg['rps'], 0)} | {shown[0][0]} | {shown[1][0]} "
                f"| {shown[0][1]} | {shown[1][1]} |"
            )
    if not rows:
        return []
    name = TARGET_NAMES[gateway]
    return [
        f"| mode | c | {name} req/s | Portkey req/s | LiteLLM req/s | vs Portkey | vs LiteLLM |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
    ]


def workload_section(run: dict, workload: str) -> tuple[list[str], list[tuple]]:
    """One workload's tables, and its (gateway, target, measured, met) checks."""
    cells, smoke = run["cells"], run["smoke"]
    modes = [m for m in ("plain", "stream") if any(k[1:3] == (workload, m) for k in cells)]
    targets = [t for t in TARGET_NAMES if any(k[:2] == (t, workload) for k in cells)]
    size = run["meta"].get(f"workload_{workload}", "")
    out = [f"### Workload `{workload}`" + (f" ({size})" if size else ""), ""]
    out += cell_table(cells, workload, modes, targets)
    skipped = [(k, v) for k, v in smoke.items() if k[1] == workload and v != "ok"]
    if skipped:
        out += ["Not measured (the target answered an error before the cells):", ""]
        out += [f"- {TARGET_NAMES.get(t, t)}, {m}: `{v}`" for (t, _, m), v in skipped]
        out.append("")
    checks = []
    for gateway in GATEWAYS:
        if not any(k[:2] == (gateway, workload) for k in cells):
            continue
        out += ratio_table(cells, workload, modes, gateway)
        mine = peer_checks(gateway, workload, cells, modes)
        out += [f"| {TARGET_NAMES[gateway]}: issue 16 target | measured | |", "|---|---:|---|"]
        out += [f"| {name} | {value} | {met_word(ok)} |" for name, value, ok in mine]
        out.append("")
        checks += [(gateway, name, value, ok) for name, value, ok in mine]
    return out, checks


def process_table(rss: dict) -> list[str]:
    out = [
        "| server | worker processes | peak RSS per worker (VmHWM) | all processes |",
        "|---|---:|---|---:|",
    ]
    for target, procs in rss.items():
        workers = [p for p in procs if is_worker(target, p[2])]
        per_worker = ", ".join(f"{hwm / 1024:.0f}" for _, hwm, _ in workers) or "-"
        total = sum(hwm for _, hwm, _ in procs) / 1024
        out.append(
            f"| {TARGET_NAMES.get(target, target)} | {len(workers)} | {per_worker} MiB "
            f"| {len(procs)} processes, {total:.0f} MiB |"
        )
    return [*out, ""]


def read_run(run_dir: Path) -> dict:
    meta_lines = (run_dir / "meta.txt").read_text().splitlines()
    meta = dict(line.split("=", 1) for line in meta_lines if "=" in line)
    for line in meta_lines:  # "workload=rag body_bytes=30354 message_chars=30145"
        if line.startswith("workload="):
            name, *pairs = line.removeprefix("workload=").split()
            sizes = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
            meta[f"workload_{name}"] = (
                f"body {int(sizes.get('body_bytes', 0)):,} bytes, "
                f"{int(sizes.get('message_chars', 0)):,} characters of message text"
            )
    return {
        "meta_lines": meta_lines,
        "meta": meta,
        "cells": read_cells(run_dir / "cells.tsv"),
        "rss": read_rss(run_dir / "rss.tsv"),
        "smoke": read_smoke(run_dir / "smoke.tsv"),
    }


def build(run_dir: Path) -> str:
    run = read_run(run_dir)
    cells, rss = run["cells"], run["rss"]
    out = [f"## Benchmark run {run['meta'].get('run_id', run_dir.name)}", ""]
    out += ["```", *run["meta_lines"], "```", ""]
    loads = [c["load1"] for c in cells.values() if c["load1"] == c["load1"]]
    if loads:
        out += [f"Load average (1 min) after each cell: {min(loads):.2f} to {max(loads):.2f}.", ""]
    present = {k[1] for k in cells}
    workloads = [w for w in WORKLOAD_ORDER if w in present] + sorted(present - {*WORKLOAD_ORDER})
    checks = []
    for workload in workloads:
        lines, found = workload_section(run, workload)
        out += lines
        checks += [(workload, *check) for check in found]
    if rss:
        out += process_table(rss)
    for gateway in GATEWAYS:
        check = rss_check(gateway, rss)
        if check:
            checks.append(("all", gateway, *check))
            out += [f"{TARGET_NAMES[gateway]}: {check[0]}: {check[1]}, {met_word(check[2])}.", ""]
    if checks:
        out += [
            "| gateway | workload | targets met | not met | not measured |",
            "|---|---|---:|---:|---:|",
        ]
        for gateway in GATEWAYS:
            for workload in [*workloads, "all"]:
                mine = [c[4] for c in checks if c[0] == workload and c[1] == gateway]
                if mine:
                    out.append(
                        f"| {TARGET_NAMES[gateway]} | {workload} | {mine.count(True)} "
                        f"| {mine.count(False)} | {mine.count(None)} |"
                    )
        out.append("")
    return "\n".join(out)


def main() -> None:
    run_dir = Path(sys.argv[1])
    report = build(run_dir)
    (run_dir / "report.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
