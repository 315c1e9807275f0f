#!/usr/bin/env python3
"""Benchmark 06_serve: requests/s and time to first token for 1, 4 and 16 concurrent clients.

    python bench/serve_bench.py                               # export/latest + data/processed, 1/4/16 clients
    python bench/serve_bench.py --clients 1,2,8 --requests 32 --max-tokens 64

Starts scripts/06_serve.py on a free loopback port (a separate process, as a user runs it), then for each
level of concurrency N runs N client threads, each sending held-out grounded questions one after another
through the official `openai` client with "stream": true, at temperature 0, until --requests requests are
answered. The server answers one request at a time (one model), so more clients raise the wait, not the
throughput: the figures say how long a user of a shared server waits.

Prints per level: requests/s, time to first token (TTFT: from sending the request to the first streamed
text, the queue included) median and p90, whole-answer latency median, and generated tokens/s over all
clients. Writes bench/out/serve_bench.json.
"""
import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from productqa import paths


def start_server(args) -> tuple[subprocess.Popen, str]:
    """06_serve.py on a port the system picks; returns the process and the OpenAI base URL it prints."""
    command = [sys.executable, str(ROOT / "scripts" / "06_serve.py"), "--port", "0", "--log-level", "warning",
               "--catalog", str(args.data / "catalog.sqlite"), "--queue", str(max(args.levels) + 1),
               "--ctx", str(args.ctx)]
    if args.export is not None:
        command += ["--model", str(args.export)]
    if args.threads:
        command += ["--threads", str(args.threads)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    for line in server.stdout:
        found = re.search(r"OpenAI: (http://\S+/v1)", line)
        if found:
            return server, found.group(1)
    raise SystemExit(f"06_serve.py exited ({server.wait()}) before it listened")


def held_out_questions(data: Path, n: int) -> list[str]:
    """The first n grounded questions of the held-out test split."""
    from productqa.chat_format import question_of

    questions = []
    with open(data / "test.jsonl", encoding="utf-8") as rows:
        for line in rows:
            row = json.loads(line)
            if row.get("kind") == "grounded":
                questions.append(question_of(row))
            if len(questions) == n:
                break
    if not questions:
        raise SystemExit(f"no grounded questions in {data / 'test.jsonl'}: run scripts/01_prepare.py")
    return questions


def ask(client, question: str, max_tokens: int) -> dict:
    """One streamed request: when it was sent, its first text and its end, and the tokens generated."""
    sent = time.perf_counter()
    first, tokens = None, 0
    stream = client.chat.completions.create(model="productqa", stream=True, temperature=0, max_tokens=max_tokens,
                                            messages=[{"role": "user", "content": question}],
                                            extra_body={"sources_in_answer": False})
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or time.perf_counter()
            tokens += 1  # the server streams one piece a token
    ended = time.perf_counter()
    return {"ttft": (first or ended) - sent, "latency": ended - sent, "tokens": tokens}


def run_level(base_url: str, questions: list[str], clients: int, requests: int, max_tokens: int) -> dict:
    """`clients` threads share `requests` requests (questions in turn); figures over all of them."""
    from openai import OpenAI

    done, lock, next_index = [], threading.Lock(), iter(range(requests))

    def client_loop():
        client = OpenAI(base_url=base_url, api_key="none", timeout=600, max_retries=0)
        while True:
            with lock:
                index = next(next_index, None)
            if index is None:
                return
            result = ask(client, questions[index % len(questions)], max_tokens)
            with lock:
                done.append(result)

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    ttfts = sorted(r["ttft"] for r in done)
    return {"clients": clients, "requests": len(done), "wall_s": round(wall, 2),
            "requests_per_s": round(len(done) / wall, 3),
            "ttft_median_s": round(statistics.median(ttfts), 3),
            "ttft_p90_s": round(ttfts[min(len(ttfts) - 1, int(0.9 * len(ttfts)))], 3),
            "latency_median_s": round(statistics.median(r["latency"] for r in done), 3),
            "tokens_per_s": round(sum(r["tokens"] for r in done) / wall, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--export", type=Path, default=None, help="export folder or .gguf (default: export/latest)")
    parser.add_argument("--data", type=Path, default=paths.PROCESSED, help="folder with test.jsonl and catalog.sqlite")
    parser.add_argument("--clients", default="1,4,16", help="concurrency levels, comma-separated")
    parser.add_argument("--requests", type=int, default=16, help="requests per level")
    parser.add_argument("--questions", type=int, default=16, help="distinct held-out questions, asked in turn")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=None, help="the server's CPU threads (default: all cores)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "serve_bench.json")
    args = parser.parse_args()
    args.levels = [int(n) for n in args.clients.split(",")]

    from productqa.files import write_json

    questions = held_out_questions(args.data, args.questions)
    server, base_url = start_server(args)
    try:
        run_level(base_url, questions, 1, 1, 8)  # warm-up: first-call costs belong to no level
        print(f"{args.requests} streamed grounded requests a level, {len(questions)} held-out questions, greedy, "
              f"<= {args.max_tokens} tokens, server threads {args.threads or os.cpu_count()}, "
              f"{platform.processor() or platform.machine()}")
        print(f"{'clients':>7} {'req/s':>7} {'TTFT med':>9} {'TTFT p90':>9} {'latency med':>12} {'tok/s':>7}")
        levels = []
        for clients in args.levels:
            level = run_level(base_url, questions, clients, args.requests, args.max_tokens)
            levels.append(level)
            print(f"{clients:>7} {level['requests_per_s']:>7.2f} {level['ttft_median_s']:>8.2f}s "
                  f"{level['ttft_p90_s']:>8.2f}s {level['latency_median_s']:>11.2f}s {level['tokens_per_s']:>7.1f}",
                  flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    write_json(args.out, {"requests": args.requests, "questions": len(questions), "max_tokens": args.max_tokens,
                          "threads": args.threads or os.cpu_count(), "machine": platform.platform(),
                          "levels": levels})
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
