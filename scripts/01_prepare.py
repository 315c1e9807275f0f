#!/usr/bin/env python3
"""Stage 1: clean the AmazonTitles-1.3MM catalog into a catalog of sources and grounded conversations.

    python scripts/01_prepare.py                                   # the bundled sample
    python scripts/01_prepare.py --input ~/data/LF-Amazon-1.3M/trn.json.gz --max-records 50000
    python scripts/01_prepare.py --input ~/Downloads/LF-Amazon-1.3M.raw.zip   # its trn.json.gz, not unzipped
    python scripts/01_prepare.py --k 4 --absent-share 0.1 --closed-book-share 0.3

Writes data/processed/{train,val,test}.jsonl (ShareGPT rows: grounded, absent or closed_book),
catalog.sqlite (every distinct product: the sources the chat retrieves), stats.json and meta.json.
"""
import argparse
from pathlib import Path

from productqa import paths
from productqa.errors import cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # input / output
    parser.add_argument("--input", type=Path, default=paths.SAMPLE_DATA,
                        help="trn.json or trn.json.gz (JSON Lines), or the zip archive that holds one")
    parser.add_argument("--out", type=Path, default=paths.PROCESSED, help="output folder")
    # selection and splits
    parser.add_argument("--max-records", type=int, default=None, help="keep at most this many records")
    parser.add_argument("--val-size", type=float, default=0.05, help="fraction of records in val")
    parser.add_argument("--test-size", type=float, default=0.05, help="fraction of records in test")
    parser.add_argument("--seed", type=int, default=3407, help="seed for question phrasing, row kinds and distractors")
    # grounded rows (RAFT)
    parser.add_argument("--k", type=int, default=3, help="catalog records shown with a grounded question")
    parser.add_argument("--absent-share", type=float, default=0.2,
                        help="share of questions whose product is left out of the records (answer: not in the catalog)")
    parser.add_argument("--closed-book-share", type=float, default=0.2,
                        help="share of questions asked with no records (what fine-tuning itself teaches)")
    parser.add_argument("--partial-share", type=float, default=0.15,
                        help="share of questions that name the product by part of its title")
    parser.add_argument("--followup-share", type=float, default=0.15,
                        help="share of questions asked as a follow-up, after an earlier one named the product")
    # cleaning
    parser.add_argument("--min-chars", type=int, default=30, help="drop descriptions shorter than this")
    parser.add_argument("--max-chars", type=int, default=400, help="cut longer descriptions at a sentence end")
    # speed
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes that clean records and write rows (default: all cores)")
    return parser.parse_args(argv)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.prepare import prepare

    # meta.json is written by prepare(), with the outputs it describes (they are replaced together)
    stats = prepare(args.input, args.out, max_records=args.max_records, val_size=args.val_size,
                    test_size=args.test_size, seed=args.seed, workers=args.workers,
                    min_chars=args.min_chars, max_chars=args.max_chars, k=args.k,
                    absent_share=args.absent_share, closed_book_share=args.closed_book_share,
                    partial_share=args.partial_share, followup_share=args.followup_share, args=args)
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items()) or "none"
    kinds = ", ".join(f"{k} {v:,}" for k, v in stats["kinds"].items())
    source = f" from {stats['zip_member']}" if "zip_member" in stats else ""
    print(f"read {stats['read']:,} records{source}, kept {stats['kept']:,} in the catalog; dropped: {dropped}\n"
          f"questions: train {stats['splits']['train']:,} / val {stats['splits']['val']:,} / "
          f"test {stats['splits']['test']:,} ({kinds}); {stats['seconds']}s -> {args.out}")


if __name__ == "__main__":
    main()
