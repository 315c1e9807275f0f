#!/usr/bin/env python3
"""Stage 3: the base model before fine-tuning vs after, on the held-out split, with a report.

    python scripts/03_evaluate.py                                  # runs/latest, test split
    python scripts/03_evaluate.py --limit 12 --max-new-tokens 96   # the CPU demo (a few minutes)
    python scripts/03_evaluate.py --run runs/<name> --limit 200 --batch-size 16   # on a GPU

Writes runs/<name>/eval/{metrics.json, samples.jsonl, report.md, meta.json}. The base model's answers
are cached in ~/.cache/productqa/eval-base/ (or $PRODUCTQA_CACHE), keyed by base model, data and
settings, so evaluating the next training run only generates the fine-tuned answers.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from productqa.errors import UserError, cli  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # what to evaluate
    parser.add_argument("--run", type=Path, default=None, help="training run folder (default runs/latest)")
    parser.add_argument("--data", type=Path, default=None, help="processed data folder (default: the run's)")
    parser.add_argument("--split", default="test", choices=("test", "val", "train"), help="held-out split")
    parser.add_argument("--limit", type=int, default=200, help="evaluate the first N questions of the split")
    # generation
    parser.add_argument("--max-new-tokens", type=int, default=160, help="answer length limit (tokens)")
    parser.add_argument("--batch-size", type=int, default=8, help="questions generated together")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    parser.add_argument("--no-cache", action="store_true", help="regenerate the base model's answers")
    # report
    parser.add_argument("--examples", type=int, default=5, help="side-by-side examples in report.md")
    args = parser.parse_args(argv)
    for flag in ("limit", "max_new_tokens", "batch_size"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    return args


def summary(result: dict) -> str:
    """One line per suite: n, then each headline figure base -> fine-tuned."""
    headline = {"grounded": ("right_record", "citation_accuracy", "rougeL", "stopped_fraction"),
                "absent": ("refused", "stopped_fraction"),
                "closed_book": ("rougeL", "chrf", "embedding_cosine", "stopped_fraction")}
    lines = []
    for kind, suite in result["suites"].items():
        figures = "  ".join(f"{name} {suite['base'][name]:.3f} -> {suite['finetuned'][name]:.3f}"
                            for name in headline[kind])
        lines.append(f"{kind} (n={suite['n']}): {figures}")
    base, tuned = result["base"], result["finetuned"]
    lines.append(f"all (n={result['n']}): answer perplexity {base['perplexity']:.2f} -> {tuned['perplexity']:.2f}  "
                 f"stopped {base['stopped_fraction']:.0%} -> {tuned['stopped_fraction']:.0%}  "
                 f"tokens/s {base['tokens_per_second']:.1f} / {tuned['tokens_per_second']:.1f}")
    return "\n".join(lines)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.evaluate import Settings, evaluate
    from productqa.meta import jsonable
    from productqa.runs import resolve_run

    run_dir = resolve_run(args.run)
    settings = Settings(split=args.split, limit=args.limit, max_new_tokens=args.max_new_tokens,
                        batch_size=args.batch_size, examples=args.examples, use_cache=not args.no_cache)
    if args.data is not None and not args.data.is_dir():
        raise UserError(f"--data {args.data} is not a folder: pass the output folder of scripts/01_prepare.py")
    result = evaluate(run_dir, settings, data=args.data, device=args.device, args=jsonable(args))
    print(summary(result))
    print(f"report: {run_dir / 'eval' / 'report.md'}")


if __name__ == "__main__":
    main()
