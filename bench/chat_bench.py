#!/usr/bin/env python3
"""Benchmark 05_chat: where a grounded answer's time goes (retrieval, reading the prompt, decoding),
grounded vs closed book, through the chat session and through llama-cpp-python called directly.

    python bench/chat_bench.py                                   # export/latest, data/processed/test.jsonl
    python bench/chat_bench.py --export export/gemma-sample --questions 8 --max-tokens 64
    python bench/chat_bench.py --model /tmp/some.gguf            # a single GGUF

For each quant and each mode (grounded: the product's k records in the prompt; closed book: the
question alone), the same questions are answered greedily three ways:
    direct      llama-cpp-python's create_chat_completion on the session's messages, empty KV cache
    chat cold   ChatSession.ask with an empty KV cache (retrieval, template, streaming included)
    chat        ChatSession.ask as 05_chat runs it: the prompt start every question shares (system
                prompt, the records' heading) read once at load and reused from llama.cpp's KV cache
Prints median retrieval ms, prompt tokens, time to first token (TTFT, from the question to the first
streamed text) and decode tokens/s; overhead = chat cold / direct end-to-end time - 1 (target <= 5%).
Targets on 2 cores, 270M q8_0: grounded TTFT <= 0.5 s, retrieval <= 20 ms. Writes bench/out/chat_bench.json.
"""
import argparse
import io
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from productqa import paths

PATHS = ("direct", "chat cold", "chat")


class NullTerminal(io.TextIOBase):
    """Where the session's streamed text goes: counts it, like a terminal would take it."""

    def write(self, text):
        return len(text)


def direct(llm, messages, max_tokens, stop):
    """llama-cpp-python on its own, from an empty KV cache: the same streaming call the session makes."""
    llm.reset()
    started = time.perf_counter()
    first, pieces = None, []
    for chunk in llm.create_chat_completion(messages, stream=True, temperature=0.0, max_tokens=max_tokens, stop=stop):
        text = chunk["choices"][0]["delta"].get("content")
        if text:
            first = first or time.perf_counter()
            pieces.append(text)
    ended = time.perf_counter()
    tokens = len(llm.tokenize("".join(pieces).strip().encode("utf-8"), add_bos=False)) if pieces else 0
    return {"retrieval": 0.0, "ttft": (first or ended) - started, "decode": ended - (first or ended),
            "tokens": tokens, "total": ended - started}


def through_session(session, question, cold):
    """One ChatSession.ask; `cold` empties the KV cache first (else it holds the previous prompt's start)."""
    if cold:
        session.llm.reset()
    session.reset()
    started = time.perf_counter()
    turn = session.ask(question)
    ended = time.perf_counter()
    return {"retrieval": turn.retrieval_s, "ttft": turn.first_token_s, "decode": turn.decode_s,
            "tokens": turn.tokens, "total": ended - started, "prompt_tokens": turn.prompt_tokens,
            "messages": turn.messages}


def summary(runs):
    tokens = sum(r["tokens"] - 1 for r in runs if r["tokens"] > 1)
    decode = sum(r["decode"] for r in runs if r["tokens"] > 1)
    return {"retrieval_median_ms": round(1000 * statistics.median(r["retrieval"] for r in runs), 2),
            "ttft_median_s": round(statistics.median(r["ttft"] for r in runs), 4),
            "decode_tokens_per_s": round(tokens / decode, 1) if decode else 0.0,
            "tokens": sum(r["tokens"] for r in runs), "total_s": round(sum(r["total"] for r in runs), 3)}


def held_out_questions(data: Path, n: int, catalog) -> list[str]:
    """The first n held-out questions whose product the catalog finds (others are refused unanswered)."""
    from productqa.chat_format import question_of

    found = []
    for line in open(data / "test.jsonl", encoding="utf-8"):
        question = question_of(json.loads(line))
        sources = catalog.search(question, 1)
        if sources and sources[0].match:
            found.append(question)
        if len(found) == n:
            break
    return found


def bench_mode(llm, session, questions, grounded, repeats, max_tokens):
    """Every question through the three paths (in alternating order), `repeats` times."""
    from productqa.chat import warm_prefix

    session.grounded = grounded
    runs = {path: [] for path in PATHS}
    prompt_tokens = []
    for repeat in range(repeats):
        for i, question in enumerate(questions):
            order = PATHS if (i + repeat) % 2 == 0 else PATHS[::-1]
            for path in order:
                if path == "direct":
                    messages = through_session(session, question, cold=True)["messages"]
                    runs[path].append(direct(llm, messages, max_tokens, session.stop))
                elif path == "chat cold":
                    runs[path].append(through_session(session, question, cold=True))
                else:
                    warm_prefix(llm, session.count, session.system)  # as after load: the shared start cached
                    run = through_session(session, question, cold=False)
                    runs[path].append(run)
                    prompt_tokens.append(run["prompt_tokens"])
    return {path: summary(r) for path, r in runs.items()}, statistics.median(prompt_tokens)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # what to measure
    parser.add_argument("--export", type=Path, default=None, help="export folder (default: export/latest)")
    parser.add_argument("--model", type=Path, default=None, help="one .gguf instead of every quant of an export")
    parser.add_argument("--data", type=Path, default=paths.PROCESSED, help="folder with test.jsonl and catalog.sqlite")
    parser.add_argument("--questions", type=int, default=8, help="held-out questions per quant")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--k", type=int, default=3, help="records in a grounded prompt")
    parser.add_argument("--repeats", type=int, default=2, help="passes over the questions (paths alternate)")
    # runtime
    parser.add_argument("--ctx", type=int, default=2048)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "chat_bench.json")
    args = parser.parse_args()

    from productqa.catalog import Catalog
    from productqa.chat import ChatSession
    from productqa.files import write_json
    from productqa.runs import resolve_export
    from productqa.served import export_forms, open_llama, resolve_served

    forms = [resolve_served(args.model)] if args.model else export_forms(resolve_export(args.export))
    catalog = Catalog(args.data / "catalog.sqlite")
    questions = held_out_questions(args.data, args.questions, catalog)
    system = forms[0].system_prompt

    results = []
    print(f"{len(questions)} held-out questions x {args.repeats}, k={args.k}, {args.max_tokens} tokens max, greedy, "
          f"{args.threads or os.cpu_count()} threads, {platform.processor() or platform.machine()}")
    print(f"{'file':<30} {'mode':<12} {'prompt':>6} {'retrieval':>9} "
          + " ".join(f"{'TTFT ' + p:>15}" for p in PATHS) + f" {'tok/s':>7} {'overhead':>9}")
    for served in forms:
        started = time.perf_counter()
        llm = open_llama(served, n_ctx=args.ctx, threads=args.threads)
        load_s = time.perf_counter() - started
        session = ChatSession(llm, catalog, system=system, temperature=0.0, max_tokens=args.max_tokens, k=args.k,
                              out=NullTerminal(), stop=served.family.stops)
        direct(llm, [{"role": "user", "content": "warm up"}], 4, session.stop)  # first-call costs are nobody's overhead
        entry = {"file": served.label, "size_mb": round(served.bytes / 1e6, 1), "load_s": round(load_s, 3)}
        for mode, grounded in (("grounded", True), ("closed book", False)):
            paths_, prompt = bench_mode(llm, session, questions, grounded, args.repeats, args.max_tokens)
            overhead = paths_["chat cold"]["total_s"] / paths_["direct"]["total_s"] - 1
            entry[mode] = {"prompt_tokens_median": prompt, "overhead": round(overhead, 4), **paths_}
            print(f"{served.form[-30:]:<30} {mode:<12} {prompt:6.0f} {paths_['chat']['retrieval_median_ms']:7.1f}ms "
                  + " ".join(f"{paths_[p]['ttft_median_s']:14.3f}s" for p in PATHS)
                  + f" {paths_['chat']['decode_tokens_per_s']:7.1f} {overhead:+8.1%}")
        llm.close()
        results.append(entry)
    write_json(args.out, {"questions": len(questions), "repeats": args.repeats, "max_tokens": args.max_tokens,
                          "k": args.k, "ctx": args.ctx, "threads": args.threads or os.cpu_count(),
                          "machine": platform.platform(), "results": results})
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
