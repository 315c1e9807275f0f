#!/usr/bin/env python3
"""Stage 6: the chat's grounded answers behind an OpenAI- and Ollama-compatible API, on this machine.

    python scripts/06_serve.py                          # export/latest + data/processed/catalog.sqlite on :8000
    python scripts/06_serve.py --port 11434             # where Ollama clients look by default
    curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
      -d '{"model": "productqa", "messages": [{"role": "user", "content": "Tell me about \\"The Backyard Chicken Handbook\\""}]}'

Any OpenAI client (base URL http://127.0.0.1:8000/v1, any API key) or Ollama client (host
http://127.0.0.1:8000) asks model "productqa". Each answer is the chat's: the product's catalog records
retrieved for the last user message (a title, a partial title, a follow-up on the conversation sent, a
pick from a "did you mean" list), answered from them and cited. The records come back in the response's
`sources` field (and the stream's last event), and, unless --no-sources-in-answer, as the Sources block
at the end of the answer's text. A request may say "grounded": false (closed book) or
"sources_in_answer": false. One model answers one request at a time; --queue requests wait.
"""
import sys

from productqa import stage_args
from productqa.errors import UserError, cli


def parse_args(argv=None) -> stage_args.ServeArgs:
    """The flags, generated from ServeArgs (productqa/stage_args.py), where each is declared once."""
    return stage_args.parse(stage_args.ServeArgs, argv, description=__doc__)


def check(args) -> None:
    """Every flag's range (productqa.flags, shared with 05_chat), then the catalog, in one sentence each."""
    from productqa import flags

    flags.check(args)
    if not args.closed_book and not args.catalog.is_file():
        raise UserError(f"no catalog at {args.catalog}: run scripts/01_prepare.py, pass --catalog FILE, "
                        "or serve --closed-book")


@cli
def main(argv=None):
    args = parse_args(argv)
    check(args)
    from productqa.server import Defaults, serve

    defaults = Defaults(temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                        sources_in_answer=args.sources_in_answer)
    return serve(model=args.model, catalog=args.catalog, host=args.host, port=args.port, n_ctx=args.ctx,
                 threads=args.threads, k=args.k, queue_size=args.queue, defaults=defaults,
                 closed_book=args.closed_book, log_level=args.log_level)


if __name__ == "__main__":
    sys.exit(main())
