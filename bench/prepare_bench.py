#!/usr/bin/env python3
"""Benchmark 01_prepare on a synthetic trn.json.gz of the real size (2,248,619 rows).

    python bench/prepare_bench.py                 # full size; the input is generated once into bench/out/
    python bench/prepare_bench.py --rows 200000   # a quicker look

Prints rows/s, the peak RSS of the prepare process (children included) and the wall and CPU seconds
of each step (from the run's meta.json). Target on 2 cores: the whole file in <= 30 s with peak RSS
<= 1 GB. CPU seconds (this process and its workers) say more than wall time on a shared machine.
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from synthetic import write_records  # bench/synthetic.py, beside this script


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_248_619)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    source = args.out / f"trn-{args.rows}.json.gz"
    if not source.exists():
        print(f"generating {source} ({args.rows:,} rows) ...", flush=True)
        started = time.perf_counter()
        write_records(source.with_suffix(".tmp.gz"), args.rows, seed=1, unique_titles=True)
        source.with_suffix(".tmp.gz").rename(source)
        print(f"  generated in {time.perf_counter() - started:.0f}s, {source.stat().st_size / 1e6:.0f} MB")

    processed = args.out / "processed"
    command = [sys.executable, str(ROOT / "scripts" / "01_prepare.py"), "--input", str(source), "--out", str(processed)]
    if args.workers:
        command += ["--workers", str(args.workers)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    # ru_maxrss of children is the largest single child (the main prepare process or one worker), in KiB.
    print(f"\nprepare: {args.rows:,} rows in {seconds:.1f}s = {args.rows / seconds:,.0f} rows/s; "
          f"CPU {usage.ru_utime + usage.ru_stime:.1f}s (user {usage.ru_utime:.1f}, system {usage.ru_stime:.1f}); "
          f"peak RSS {usage.ru_maxrss / 1024:.0f} MB (largest process)")
    stats = json.loads((processed / "meta.json").read_text())["stats"]
    print(f"{'step':44s} {'wall s':>7s} {'CPU s':>7s} {'of which main':>14s}")
    for step, figures in sorted(stats.get("timings", {}).items()):
        cpu, main = (f"{figures[key]:7.1f}" if key in figures else "      -" for key in ("cpu", "cpu_main"))
        print(f"{step:44s} {figures['wall']:7.1f} {cpu} {main:>14s}")
    print("peak RSS MB:", ", ".join(f"{who} {mb}" for who, mb in stats.get("peak_rss_mb", {}).items()))


if __name__ == "__main__":
    main()
