#!/usr/bin/env python3
"""Stage 3: the base model before fine-tuning vs after, suite by suite, with a report.

    python scripts/03_evaluate.py                                      # runs/latest; 200 a suite on a GPU, 5 on a CPU
    python scripts/03_evaluate.py --per-suite 5 --max-new-tokens 128   # the CPU demo (a few minutes)
    python scripts/03_evaluate.py --run runs/<name> --per-suite 500 --batch-size 64   # on a GPU

Suites (each base vs fine-tuned on the same questions, with 95% paired-bootstrap intervals): grounded
and absent questions about held-out products, closed-book questions about trained products asked with
phrasings held out of training, closed-book questions about held-out products; plus the catalog's
retrieval precision@1 / recall@k on every question.

Writes runs/<name>/eval/{metrics.json, samples.jsonl, report.md, meta.json} (or --out). The base
model's answers are cached in ~/.cache/productqa/eval-base/ (or $PRODUCTQA_CACHE), keyed by base
model, questions and settings, so evaluating the next training run only generates the fine-tuned answers.
"""
import argparse
from pathlib import Path

from productqa.errors import UserError, cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # what to evaluate
    parser.add_argument("--run", type=Path, default=None, help="training run folder (default runs/latest)")
    parser.add_argument("--data", type=Path, default=None, help="processed data folder (default: the run's)")
    parser.add_argument("--split", default="test", choices=("test", "val", "train"),
                        help="split of the held-out products (the trained suite always uses train)")
    parser.add_argument("--per-suite", type=int, default=None,
                        help="questions per suite, the first of each (default 200 on CUDA, 5 on CPU)")
    # generation
    parser.add_argument("--max-new-tokens", type=int, default=160, help="answer length limit (tokens)")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="questions generated together (default 32 on CUDA, 8 on CPU)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when there is one)")
    parser.add_argument("--no-cache", action="store_true", help="regenerate the base model's answers")
    # scoring and report
    parser.add_argument("--retrieval-k", type=int, default=None,
                        help="records retrieved per question (default: as many as the grounded questions show)")
    parser.add_argument("--resamples", type=int, default=2000, help="bootstrap resamples for the intervals")
    parser.add_argument("--examples", type=int, default=2, help="side-by-side examples per suite in report.md")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default runs/<name>/eval)")
    args = parser.parse_args(argv)
    for flag in ("per_suite", "max_new_tokens", "batch_size", "retrieval_k", "resamples"):
        if getattr(args, flag) is not None and getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.examples < 0:
        parser.error("--examples must be 0 or more")
    return args


def summary(result: dict) -> str:
    """One line per suite: n, then each headline figure base -> fine-tuned (* = interval excludes 0)."""
    from productqa.report import HEADLINES, ordered_suites

    lines = []
    for suite_name, suite in ordered_suites(result):
        figures = "  ".join(f"{name} {suite['base'][name]:.3f} -> {suite['finetuned'][name]:.3f}"
                            f"{'*' if name in suite['significant'] else ''}"
                            for name in HEADLINES[suite_name] if name in suite["base"])
        lines.append(f"{suite_name} (n={suite['n']}): {figures}")
    found = result["retrieval"]
    lines.append(f"retrieval (n={found['n']}): p@1 {found['values']['p_at_1']:.3f}  "
                 f"recall@{found['k']} {found['values']['recall_at_k']:.3f}")
    base, tuned = result["base"], result["finetuned"]
    lines.append(f"all (n={result['n']}): stopped {base['stopped_fraction']:.0%} -> {tuned['stopped_fraction']:.0%}  "
                 f"tokens/s {base['tokens_per_second']:.1f} / {tuned['tokens_per_second']:.1f}  "
                 f"(* = 95% interval of the difference excludes 0)")
    return "\n".join(lines)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.evaluate import EVAL, EvalSettings, evaluate
    from productqa.meta import jsonable
    from productqa.runs import resolve_run, writable_out

    run_dir = resolve_run(args.run)
    settings = EvalSettings(split=args.split, per_suite=args.per_suite, max_new_tokens=args.max_new_tokens,
                            batch_size=args.batch_size, examples=args.examples, retrieval_k=args.retrieval_k,
                            resamples=args.resamples, use_cache=not args.no_cache)
    if args.data is not None and not args.data.is_dir():
        raise UserError(f"--data {args.data} is not a folder: pass the output folder of scripts/01_prepare.py")
    out = writable_out(args.out or run_dir / EVAL)
    result = evaluate(run_dir, settings, data=args.data, device=args.device, args=jsonable(args), out=out)
    print(summary(result))
    print(f"report: {out / 'report.md'}")


if __name__ == "__main__":
    main()
