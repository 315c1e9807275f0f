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
from productqa import stage_args
from productqa.errors import UserError, cli


def parse_args(argv=None) -> stage_args.EvalArgs:
    """The flags, generated from EvalArgs and EvalSettings (productqa/stage_args.py), where each is declared once."""
    parser = stage_args.parser(stage_args.EvalArgs, description=__doc__)
    args = stage_args.EvalArgs(**vars(parser.parse_args(argv)))
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
    from productqa.evaluate import EVAL, evaluate
    from productqa.meta import jsonable
    from productqa.runs import resolve_run, writable_out

    run_dir = resolve_run(args.run)
    settings = args.settings()
    if args.data is not None and not args.data.is_dir():
        raise UserError(f"--data {args.data} is not a folder: pass the output folder of scripts/01_prepare.py")
    out = writable_out(args.out or run_dir / EVAL)
    result = evaluate(run_dir, settings, data=args.data, device=args.device, args=jsonable(args), out=out)
    print(summary(result))
    print(f"report: {out / 'report.md'}")


if __name__ == "__main__":
    main()
