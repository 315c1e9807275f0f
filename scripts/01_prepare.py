#!/usr/bin/env python3
"""Stage 1: clean the AmazonTitles-1.3MM catalog into a catalog of sources and grounded conversations.

    python scripts/01_prepare.py                                   # the bundled sample
    python scripts/01_prepare.py --input ~/data/LF-Amazon-1.3M/trn.json.gz --max-records 50000
    python scripts/01_prepare.py --input ~/Downloads/LF-Amazon-1.3M.raw.zip   # its trn.json.gz, not unzipped
    python scripts/01_prepare.py --k 4 --absent-share 0.1 --closed-book-share 0.3

Writes data/processed/{train,val,test}.jsonl (ShareGPT rows: grounded, absent or closed_book),
catalog.sqlite (every distinct product: the sources the chat retrieves), stats.json and meta.json.
"""
from productqa import stage_args
from productqa.errors import cli


def parse_args(argv=None) -> stage_args.PrepareArgs:
    """The flags, generated from PrepareArgs (productqa/stage_args.py), where each is declared once."""
    return stage_args.parse(stage_args.PrepareArgs, argv, description=__doc__)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.prepare import prepare

    # meta.json is written by prepare(), with the outputs it describes (they are replaced together)
    stats = prepare(args.input, args.out, args, meta=True)
    dropped = ", ".join(f"{k} {v}" for k, v in stats["dropped"].items()) or "none"
    kinds = ", ".join(f"{k} {v:,}" for k, v in stats["kinds"].items())
    source = f" from {stats['zip_member']}" if "zip_member" in stats else ""
    print(f"read {stats['read']:,} records{source}, kept {stats['kept']:,} in the catalog; dropped: {dropped}\n"
          f"questions: train {stats['splits']['train']:,} / val {stats['splits']['val']:,} / "
          f"test {stats['splits']['test']:,} ({kinds}); {stats['seconds']}s -> {args.out}")


if __name__ == "__main__":
    main()
