#!/usr/bin/env python3
"""Benchmark 01_prepare on a synthetic trn.json.gz of the real size (2,248,619 rows).

    python bench/prepare_bench.py                 # full size; the input is generated once into bench/out/
    python bench/prepare_bench.py --rows 200000   # a quicker look

Prints rows/s and the peak RSS of the prepare process (children included). Target on 2 cores:
the whole file in <= 60 s with peak RSS <= 1 GB.
"""
import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from productqa.synthetic import write_records  # noqa: E402


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

    command = [sys.executable, str(ROOT / "scripts" / "01_prepare.py"), "--input", str(source),
               "--out", str(args.out / "processed")]
    if args.workers:
        command += ["--workers", str(args.workers)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    seconds = time.perf_counter() - started
    # ru_maxrss of children is the largest single child (the main prepare process or one worker), in KiB.
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\nprepare: {args.rows:,} rows in {seconds:.1f}s = {args.rows / seconds:,.0f} rows/s; "
          f"peak RSS {peak_mb:.0f} MB (largest process)")


if __name__ == "__main__":
    main()
