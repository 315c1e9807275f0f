#!/usr/bin/env python3
"""Benchmark 05_chat: time to first token and decode tokens/s for each quant of an export, through the
chat session (catalog search, history fitting, template rendering, streaming to a terminal) and
through llama-cpp-python called directly, on the held-out questions.

    python bench/chat_bench.py                                   # export/latest, data/processed/test.jsonl
    python bench/chat_bench.py --export export/gemma-sample --questions 8 --max-tokens 64
    python bench/chat_bench.py --model /tmp/some.gguf            # a single GGUF

Both paths answer the same messages greedily, so they generate the same tokens; each call starts from
an empty KV cache. Overhead = chat end-to-end time / direct end-to-end time - 1 (target <= 5%).
Writes bench/out/chat_bench.json.
"""
import argparse
import io
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from productqa import paths  # noqa: E402


class NullTerminal(io.TextIOBase):
    """Where the session's streamed text goes: counts it, like a terminal would take it."""

    def write(self, text):
        return len(text)


def direct(llm, messages, max_tokens):
    """llama-cpp-python on its own: the same streaming call the session makes."""
    from productqa.chat import STOP

    llm.reset()
    started = time.perf_counter()
    first, pieces = None, []
    for chunk in llm.create_chat_completion(messages, stream=True, temperature=0.0, max_tokens=max_tokens, stop=STOP):
        text = chunk["choices"][0]["delta"].get("content")
        if text:
            first = first or time.perf_counter()
            pieces.append(text)
    ended = time.perf_counter()
    tokens = len(llm.tokenize("".join(pieces).strip().encode("utf-8"), add_bos=False)) if pieces else 0
    return {"ttft": (first or ended) - started, "decode": ended - (first or ended), "tokens": tokens,
            "total": ended - started}


def through_session(session, question):
    session.llm.reset()
    session.reset()
    started = time.perf_counter()
    turn = session.ask(question)
    ended = time.perf_counter()
    return {"ttft": turn.first_token_s, "decode": turn.decode_s, "tokens": turn.tokens, "total": ended - started}


def summary(runs):
    tokens = sum(r["tokens"] - 1 for r in runs if r["tokens"] > 1)
    decode = sum(r["decode"] for r in runs if r["tokens"] > 1)
    return {"ttft_median_s": round(statistics.median(r["ttft"] for r in runs), 4),
            "decode_tokens_per_s": round(tokens / decode, 1) if decode else 0.0,
            "tokens": sum(r["tokens"] for r in runs), "total_s": round(sum(r["total"] for r in runs), 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # what to measure
    parser.add_argument("--export", type=Path, default=None, help="export folder (default: export/latest)")
    parser.add_argument("--model", type=Path, default=None, help="one .gguf instead of every quant of an export")
    parser.add_argument("--data", type=Path, default=paths.PROCESSED, help="folder with test.jsonl and catalog.sqlite")
    parser.add_argument("--questions", type=int, default=8, help="held-out questions per quant")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="passes over the questions (paths alternate)")
    # runtime
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "chat_bench.json")
    args = parser.parse_args()

    from productqa.catalog import Catalog
    from productqa.chat import ChatSession, load_model
    from productqa.chat_format import question_of
    from productqa.files import write_json
    from productqa.history import to_messages
    from productqa.prompts import read_system_prompt
    from productqa.runs import resolve_export

    if args.model:
        ggufs = [args.model]
    else:
        ggufs = sorted(resolve_export(args.export).glob("*.gguf"), key=lambda p: p.stat().st_size)
    rows = [json.loads(line) for line in open(args.data / "test.jsonl", encoding="utf-8")][:args.questions]
    questions = [question_of(row) for row in rows]
    system = read_system_prompt()
    catalog = Catalog(args.data / "catalog.sqlite")

    results = []
    print(f"{len(questions)} questions x {args.repeats}, {args.max_tokens} tokens max, greedy, "
          f"{args.threads or os.cpu_count()} threads, {platform.processor() or platform.machine()}")
    print(f"{'file':<34} {'load s':>7} {'TTFT direct':>12} {'TTFT chat':>10} {'tok/s direct':>13} "
          f"{'tok/s chat':>11} {'overhead':>9}")
    for gguf in ggufs:
        started = time.perf_counter()
        llm = load_model(gguf, n_ctx=args.ctx, threads=args.threads)
        load_s = time.perf_counter() - started
        # closed book: the same messages as the direct path, so the difference is the session's own cost
        session = ChatSession(llm, catalog, system=system, temperature=0.0, max_tokens=args.max_tokens,
                              out=NullTerminal(), grounded=False)
        direct(llm, to_messages(system, [], "warm up"), 4)  # first-call costs are nobody's overhead
        runs = {"direct": [], "chat": []}
        for repeat in range(args.repeats):
            for i, question in enumerate(questions):
                order = ("direct", "chat") if (i + repeat) % 2 == 0 else ("chat", "direct")
                for path in order:
                    if path == "direct":
                        runs["direct"].append(direct(llm, to_messages(system, [], question), args.max_tokens))
                    else:
                        runs["chat"].append(through_session(session, question))
        llm.close()
        d, c = summary(runs["direct"]), summary(runs["chat"])
        overhead = c["total_s"] / d["total_s"] - 1 if d["total_s"] else 0.0
        results.append({"file": gguf.name, "size_mb": round(gguf.stat().st_size / 1e6, 1), "load_s": round(load_s, 3),
                        "direct": d, "chat": c, "overhead": round(overhead, 4)})
        print(f"{gguf.name[-34:]:<34} {load_s:7.2f} {d['ttft_median_s']:11.3f}s {c['ttft_median_s']:9.3f}s "
              f"{d['decode_tokens_per_s']:13.1f} {c['decode_tokens_per_s']:11.1f} {overhead:+8.1%}")
    write_json(args.out, {"questions": len(questions), "repeats": args.repeats, "max_tokens": args.max_tokens,
                          "ctx": args.ctx, "threads": args.threads or os.cpu_count(),
                          "machine": platform.platform(), "results": results})
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
