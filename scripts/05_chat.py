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
import sys

from productqa import stage_args
from productqa.errors import cli


def parse_args(argv=None) -> stage_args.ChatArgs:
    """The flags, generated from ChatArgs (productqa/stage_args.py), where each is declared once."""
    return stage_args.parse(stage_args.ChatArgs, argv, description=__doc__)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa import flags
    from productqa.chat import run_chat

    flags.check(args)
    return run_chat(args, catalog_asked=args.catalog is not None)


if __name__ == "__main__":
    sys.exit(main())
