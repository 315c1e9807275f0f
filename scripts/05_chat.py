#!/usr/bin/env python3
"""Stage 5: chat offline with the exported model on llama.cpp, grounded in the catalog, with sources.

    python scripts/05_chat.py                                        # export/latest, interactive
    python scripts/05_chat.py -p 'Tell me about "Mog's Christmas"'   # one answer with sources, then exit
    python scripts/05_chat.py -p '...' --json --temperature 0        # + one JSON object on the last line
    python scripts/05_chat.py --closed-book --stats                  # no records: what the model itself knows
    python scripts/05_chat.py --compare -p 'Tell me about "..."'     # the base model's answer, then the fine-tuned one
    python scripts/05_chat.py --model export/gemma-sample/gemma-sample.q8_0.gguf --temperature 0
    printf 'first question\\nsecond question\\n' | python scripts/05_chat.py   # questions from a pipe

Grounded (the default when the catalog exists): the catalog retrieves the product's records; when one
is the product asked about, the model answers from them and cites the record's uid; when none is,
the answer is "not in the catalog". --compare: the base model (before fine-tuning) answers the same
prompt, with the same records, before the fine-tuned model, each labelled. In the chat: /help, /reset,
/system TEXT, /temp X, /sources on|off, /grounded on|off, /compare on|off, /stats, /save FILE, /exit. Ctrl-C stops an answer; Ctrl-D leaves.
"""
import argparse
import sys
from pathlib import Path

from productqa import paths
from productqa.errors import UserError, cli

DEFAULT_CATALOG = paths.PROCESSED / "catalog.sqlite"  # missing: chat without sources; --catalog given: it must open


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # model and sources
    parser.add_argument("--model", type=Path, default=None,
                        help="a .gguf file or an export folder (default: export/latest, its default quant)")
    parser.add_argument("--catalog", type=Path, default=None,
                        help="the sources index written by 01_prepare (default: data/processed/catalog.sqlite; "
                             "when that is missing, chat without sources)")
    parser.add_argument("--system", type=Path, default=None,
                        help="system prompt file (default: the one the model was trained with, from export.json)")
    parser.add_argument("--k", type=int, default=3, help="catalog records given with a grounded question (1-20)")
    parser.add_argument("--closed-book", action="store_true", help="answer without catalog records (from memory)")
    parser.add_argument("--no-sources", action="store_true", help="do not print the Sources block")
    parser.add_argument("--compare", action="store_true",
                        help="answer each question with the base model too (before fine-tuning), same records")
    parser.add_argument("--base-model", type=Path, default=None,
                        help="the base model's GGUF for --compare (default: the bundled Gemma 3 270M, "
                             "when the export was trained from it)")
    # one-shot mode
    parser.add_argument("-p", "--prompt", default=None, help="answer this one question and exit")
    parser.add_argument("--print-prompt", action="store_true",
                        help="with -p: print the grounded user message for Ollama or another runtime, and exit")
    parser.add_argument("--json", action="store_true",
                        help="after each answer, one JSON line: question, answer, sources, grounded, stopped")
    # sampling
    parser.add_argument("--temperature", type=float, default=0.7, help="0 = greedy")
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--max-tokens", type=int, default=512, help="longest answer, in tokens")
    # runtime
    parser.add_argument("--ctx", type=int, default=4096, help="context window in tokens (history is trimmed to fit)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: all cores)")
    parser.add_argument("--stats", action="store_true", help="print load time, time to first token, tokens/s")
    return parser.parse_args(argv)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa import flags
    from productqa.chat import readable, run_chat
    from productqa.prompts import read_system_prompt

    flags.check(args)
    if args.prompt is not None:
        args.prompt = readable(args.prompt, "-p")
        if not args.prompt.strip():
            raise UserError("-p is empty: pass the question, e.g. -p 'Tell me about \"The Backyard Chicken Handbook\"'")
    if args.print_prompt:
        from productqa.chat import grounded_prompt

        if args.prompt is None:
            raise UserError("--print-prompt needs the question: -p 'Tell me about ...'")
        print(grounded_prompt(args.catalog or DEFAULT_CATALOG, args.prompt, args.k))
        return 0
    system = read_system_prompt(args.system) if args.system else None
    return run_chat(model=args.model, catalog=args.catalog or DEFAULT_CATALOG, system=system, prompt=args.prompt,
                    temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                    n_ctx=args.ctx, threads=args.threads, k=args.k, closed_book=args.closed_book,
                    sources=not args.no_sources, stats=args.stats, as_json=args.json,
                    compare=args.compare, base_model=args.base_model, catalog_asked=args.catalog is not None)


if __name__ == "__main__":
    sys.exit(main())
