#!/usr/bin/env python3
"""Stage 1: clean the AmazonTitles-1.3MM catalog into ShareGPT conversations and a sources catalog.

    python scripts/01_prepare.py                                   # the bundled sample
    python scripts/01_prepare.py --input ~/data/LF-Amazon-1.3M/trn.json.gz --max-records 50000

Writes data/processed/{train,val,test}.jsonl, catalog.sqlite, stats.json and meta.json.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from productqa import paths  # noqa: E402
from productqa.errors import cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # input / output
    parser.add_argument("--input", type=Path, default=paths.SAMPLE_DATA, help="trn.json or trn.json.gz (JSON Lines)")
    parser.add_argument("--out", type=Path, default=paths.PROCESSED, help="output folder")
    # selection and splits
    parser.add_argument("--max-records", type=int, default=None, help="keep at most this many records")
    parser.add_argument("--val-size", type=float, default=0.05, help="fraction of records in val")
    parser.add_argument("--test-size", type=float, default=0.05, help="fraction of records in test")
    parser.add_argument("--seed", type=int, default=3407, help="seed for the choice of question phrasing")
    # cleaning
    parser.add_argument("--min-chars", type=int, default=30, help="drop descriptions shorter than this")
    parser.add_argument("--max-chars", type=int, default=700, help="cut longer descriptions at a sentence end")
    # speed
    parser.add_argument("--workers", type=int, default=None, help="cleaning processes (default: all cores)")
    return parser.parse_args(argv)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.meta import write_meta
    from productqa.prepare import prepare

    stats = prepare(args.input, args.out, max_records=args.max_records, val_size=args.val_size,
                    test_size=args.test_size, seed=args.seed, workers=args.workers,
                    min_chars=args.min_chars, max_chars=args.max_chars)
    write_meta(args.out / "meta.json", "prepare", args, stats=stats)
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items()) or "none"
    print(f"read {stats['read']:,} records, kept {stats['kept']:,} "
          f"(train {stats['splits']['train']:,} / val {stats['splits']['val']:,} / test {stats['splits']['test']:,}); "
          f"dropped: {dropped}; {stats['seconds']}s -> {args.out}")


if __name__ == "__main__":
    main()
