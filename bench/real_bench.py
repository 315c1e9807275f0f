#!/usr/bin/env python3
"""Benchmark: answers a user can trust, on real AmazonTitles records, asked through the chat.

    python bench/real_bench.py                                   # the real development set, all steps
    python bench/real_bench.py --also export/latest              # and the demo's model (trained on the sample)
    python bench/real_bench.py --real /path/trn_dev.json --out /tmp/real

The real records come from --real (default: $PRODUCTQA_REAL, else ../shared/real/trn_dev.json beside the
repository); they are read from there and nothing of them is written into the repository. Steps, each
kept when its output already exists (--fresh redoes them):
  1. prepare the records into <out>/processed, all but --absent of them: those are held back, so their
     titles are real titles the catalog does not have (series volumes and near-misses among them);
  2. train the cpu preset on them (02_train) -> <out>/runs/real;
  3. export the run (04_export, q8_0 and the base + LoRA form) -> <out>/export/real;
  4. ask, greedy, through ChatSession as 05_chat does: every held-out product (val and test splits:
     never a training answer, not even a distractor) with a held-out phrasing, then two follow-ups in
     the same conversation (one phrasing of prompts/followups_*.txt, one never trained); the same
     products by partial titles (up to two of titles.partial_titles, and the main title's words in
     reverse order; none that is another product's whole title), picking the product when the chat lists it as "did you mean"; every held-back
     title, and every title several products share; factual questions about the held-out products (each fact
     productqa.facts finds in the record, and one fact the record does not mention), with phrasings held out
     of training (prompts/facts.yaml), some as follow-ups; each model as the chat runs (the refusal banned
     when code found the title) and, with --arms both, with the model alone deciding, to show which is whose.

Per model and arm it prints: found (retrieval put the product first by its title), right record (the
answer is closer to the product's description than to every other record shown), cited right (the
model's [n] is the product's number), starred right (the Sources star the product's record, and no
record whose text differs), wrong starred, false refusals, stopped by itself, absent refused, shared
titles listed; partial titles answered outright (and with the right record cited), answered or
listed, another product answered, the pick's answer right; follow-ups kept on the product, right
record, cited right; factual answers right (the fact's words, cited right, at most 40 words) and each part,
unanswerable ones right (the record does not say, nothing invented) and each part. Writes <out>/real_bench.json.
"""
import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
from productqa import paths  # noqa: E402,F401  (Unsloth's environment before any import of it)

DEFAULT_REAL = ROOT.parent / "shared" / "real" / "trn_dev.json"
# follow-ups no training row asks (prompts/followups_*.txt are the trained ones)
KINDS = ("held_out", "partial", "absent", "shared", "factual", "unanswerable")  # what is asked (followups: after held_out)
# (ones that ask one fact, "Who is the author?", are asked as factual questions: prompts/facts.yaml)
UNTRAINED_FOLLOWUPS = ["What's the story?", "E sobre o que é?", "Tell me everything about it.",
                       "What is this one like, then?", "Describe it in full."]


class Quiet:
    """Where the session's streamed text goes."""

    def write(self, text):
        return len(text)

    def flush(self):
        pass


def cpu_name() -> str:
    """The CPU model and the instruction sets that change training and decoding speed."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "?")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    has = [name for name, flag in (("AVX2", "avx2"), ("AVX-512", "avx512f"), ("AVX512-BF16", "avx512_bf16"),
                                   ("AMX", "amx_tile")) if flag in flags]
    return f"{model}, {os.cpu_count()} cores, {'/'.join(has) or 'no AVX2'}"


def run(args: list, what: str) -> None:
    print(f"--- {what}: {' '.join(str(a) for a in args)}", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, *map(str, args)], check=True, cwd=ROOT)
    print(f"--- {what}: {time.perf_counter() - started:.0f} s", flush=True)


def split_records(real: Path, absent: int, folder: Path) -> tuple[Path, list[dict]]:
    """The records minus `absent` held back (chosen by uid hash; none whose title the catalog keeps)."""
    from productqa.hashing import unit_hash
    from productqa.titles import normalize_title

    rows = [json.loads(line) for line in open(real, encoding="utf-8") if line.strip()]
    ranked = sorted(rows, key=lambda r: unit_hash("absent", str(r.get("uid"))))
    held = ranked[:absent]
    kept = [r for r in rows if r not in held]
    titles = {normalize_title(r.get("title") or "") for r in kept}
    held = [r for r in held if (r.get("content") or "").strip() and normalize_title(r.get("title") or "") not in titles]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "catalog_records.json"
    with open(path, "w", encoding="utf-8") as out:
        for row in kept:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path, held


def partial_forms(title: str) -> list[str]:
    """Up to two of the ways titles.partial_titles names the title, and its main part's words reversed."""
    from productqa.titles import partial_titles, title_heads

    forms = partial_titles(title)[:2]
    main = (title_heads(title) or [title])[0].split()
    if len(main) >= 3:
        forms.append(" ".join(reversed(main)))
    return forms


def questions(processed: Path, held: list[dict], catalog) -> list[dict]:
    """What to ask: held-out products (then follow-ups about them), the same by partial titles, held-back
    titles, shared titles (each with a held-out phrasing)."""
    from productqa.prompts import pick_template, question_for, read_followups, read_heldout_templates
    from productqa.titles import normalize_title

    templates, trained = read_heldout_templates(), read_followups()
    asked = []
    by_title: dict[str, dict] = {}  # normalized title -> {description: uid}
    for uid, title, description in catalog.db.execute("SELECT uid, title, description FROM records"):
        by_title.setdefault(normalize_title(title), {}).setdefault(description, (uid, title))
    whole = {frozenset(title.split()) for title in by_title}
    for split in ("val", "test"):
        for line in open(processed / f"{split}.jsonl", encoding="utf-8"):
            row = json.loads(line)
            if len(by_title.get(normalize_title(row["title"]), ())) > 1:
                continue  # asked as a shared title below
            follow = [pick_template(trained, row["id"], 0), pick_template(UNTRAINED_FOLLOWUPS, row["id"], 0)]
            asked.append({"kind": "held_out", "uid": row["id"], "title": row["title"],
                          "question": question_for(row["title"], row["id"], templates, 0), "followups": follow})
            for form in partial_forms(row["title"]):
                words = frozenset(normalize_title(form).split())
                if words in whole and words != frozenset(normalize_title(row["title"]).split()):
                    continue  # another product's whole title, in some order: asking for it is asking for that one
                asked.append({"kind": "partial", "uid": row["id"], "title": row["title"], "form": form,
                              "question": question_for(form, row["id"], templates, 0)})
    asked += fact_questions(processed, catalog, templates)
    for row in held:
        asked.append({"kind": "absent", "uid": str(row["uid"]), "title": row["title"],
                      "question": question_for(row["title"], str(row["uid"]), templates, 0)})
    for products in by_title.values():
        if len(products) > 1:  # several products (different descriptions) with this title
            (uid, title), *_ = products.values()
            asked.append({"kind": "shared", "uids": [u for u, _ in products.values()], "title": title,
                          "question": question_for(title, uid, templates, 0)})
    return asked


def fact_questions(processed: Path, catalog, templates: list[str]) -> list[dict]:
    """Factual questions about the held-out products, each with a phrasing held out of training (a third in
    Portuguese, half as a follow-up after a held-out question that named the product): every fact the
    rules find in the record ("factual", its words to find in the answer), and one fact the record does
    not mention at all ("unanswerable")."""
    from productqa import facts
    from productqa.facts import Asked
    from productqa.hashing import unit_hash
    from productqa.prompts import question_for
    from productqa.raft import COUNTED

    asked = []
    for split in ("val", "test"):
        for line in open(processed / f"{split}.jsonl", encoding="utf-8"):
            row = json.loads(line)
            if row["kind"] in ("fact", "not_said"):
                continue  # the product's own row is read once, below
            uid, title = row["id"], row["title"]
            description = catalog.get(uid).description
            noun = COUNTED[int(unit_hash("bench-noun", uid) * len(COUNTED))]
            unmentioned = [a for a in (Asked(k, noun if k == "count" else None) for k in facts.FACTS)
                           if not facts.mentions(a, description)]
            plan = [("factual", Asked(f.kind, f.noun), f.words) for f in facts.stated(description)]
            if unmentioned:
                plan.append(("unanswerable", unmentioned[int(unit_hash("bench-unsaid", uid) * len(unmentioned))], None))
            for kind, fact, words in plan:
                key = f"{uid}\x1f{fact.kind}"
                language = "pt" if unit_hash("bench-language", key) < 1 / 3 else "en"
                follow = unit_hash("bench-follow", key) < 0.5
                question = facts.question(fact, None if follow else title, language,
                                          "follow_heldout" if follow else "ask_heldout", key)
                asked.append({"kind": kind, "uid": uid, "title": title, "fact": fact.kind, "noun": fact.noun,
                              "language": language, "words": words, "question": question,
                              **({"earlier": question_for(title, uid, templates, 0)} if follow else {})})
    return asked


def judge_fact(item: dict, turn, catalog) -> dict:
    """The productqa.fact_scores figures of a factual or unanswerable answer, and whether the product's
    record was among those the model was given."""
    from productqa import fact_scores

    number = next((n for n, s in enumerate(turn.sources, 1) if s.uid == item["uid"]), 0)
    if item["kind"] == "factual":
        scores = fact_scores.fact_answer_scores(turn.assistant, item["words"], number)
    else:
        record = catalog.get(item["uid"])
        scores = fact_scores.not_said_scores(turn.assistant, f"{record.title}\n{record.description}", number,
                                             item["question"])
    return {**scores, "found": turn.grounded and number > 0, "words_count": len(turn.assistant.split()),
            "stopped": turn.ended}


def judge(item: dict, turn, catalog) -> dict:
    """The figures of one answer."""
    from productqa import grounded
    from productqa import metrics as M

    if item["kind"] in ("factual", "unanswerable"):
        return judge_fact(item, turn, catalog)
    if item["kind"] == "absent":
        return {"refused": grounded.is_refusal(turn.assistant) and not turn.grounded}
    if item["kind"] == "shared":
        listed = {catalog.get(c.uid).description for c in turn.choices}
        return {"listed": listed == {catalog.get(uid).description for uid in item["uids"]}}
    gold = catalog.get(item["uid"]).description
    product = [s for s in turn.sources if s.match][:1]
    found = turn.grounded and product == turn.sources[:1] and bool(product) and product[0].description == gold
    if item["kind"] == "partial":
        listed = any(c.description == gold for c in turn.choices)
        return {"answered": found, "listed": listed, "reached": found or listed,
                "wrong_product": turn.grounded and not found,
                "answered_cited": found and turn.cited == [item["uid"]] and not turn.uncited and
                M.right_record(grounded.strip_citations(turn.assistant), gold,
                               [s.description for s in turn.sources if s.description != gold])}
    text = grounded.strip_citations(turn.assistant)
    others = [s.description for s in turn.sources if s.description != gold]  # a twin description is the same text
    descriptions = {s.uid: s.description for s in turn.sources}
    star = turn.supported
    return {"found": found,
            "right_record": found and M.right_record(text, gold, others),
            "cited_right": turn.cited == [item["uid"]] and not turn.uncited,
            "starred_right": item["uid"] in star and all(descriptions[u] == gold for u in star),
            "wrong_starred": any(descriptions[u] != gold for u in star),
            "false_refusal": found and grounded.is_refusal(turn.assistant),
            "stopped": turn.ended, "focus": turn.why == "focus"}


def ask_all(export: Path, catalog, asked: list[dict], ban: bool, max_tokens: int, threads: int | None) -> list[dict]:
    from productqa.chat import ChatSession, warm_prefix
    from productqa.served import open_llama, resolve_served

    served = resolve_served(export)
    llm = open_llama(served, n_ctx=2048, threads=threads)
    session = ChatSession(llm, catalog, system=served.system_prompt, temperature=0.0, max_tokens=max_tokens,
                          out=Quiet(), stop=served.family.stops, ban_refusals=ban)
    warm_prefix(llm, session.count, session.system)
    results = []
    try:
        for item in asked:
            session.reset()
            if "earlier" in item:  # a follow-up: the question that named the product comes first
                session.ask(item["earlier"])
            turn = session.ask(item["question"])
            results.append({**item, "answer": turn.assistant, "cited": turn.cited, "supported": turn.supported,
                            **judge(item, turn, catalog)})
            if item["kind"] == "partial" and results[-1]["listed"]:  # the user picks the product listed
                number = next(n for n, c in enumerate(turn.choices, 1) if c.uid == item["uid"] or
                              c.description == catalog.get(item["uid"]).description)
                picked = session.ask(str(number))
                results[-1]["picked_right"] = judge({**item, "kind": "held_out"}, picked, catalog)["right_record"]
            for question in item.get("followups", ()):  # in the same conversation
                turn = session.ask(question)
                results.append({"kind": "followup", "uid": item["uid"], "title": item["title"], "question": question,
                                "answer": turn.assistant, "cited": turn.cited, "supported": turn.supported,
                                **judge({**item, "kind": "held_out"}, turn, catalog)})
    finally:
        llm.close()
    return results


def figures(results: list[dict]) -> dict:
    def share(kind, key, among=None):
        rows = [r for r in results if r["kind"] == kind and (among is None or r[among])]
        return [sum(bool(r[key]) for r in rows), len(rows)]

    return {"found": share("held_out", "found"), "right_record": share("held_out", "right_record"),
            "cited_right": share("held_out", "cited_right"), "starred_right": share("held_out", "starred_right"),
            "wrong_starred": share("held_out", "wrong_starred"), "false_refusal": share("held_out", "false_refusal", "found"),
            "stopped": share("held_out", "stopped"), "absent_refused": share("absent", "refused"),
            "shared_listed": share("shared", "listed"),
            "partial_reached": share("partial", "reached"), "partial_answered": share("partial", "answered"),
            "partial_answered_cited": share("partial", "answered_cited"),
            "partial_wrong": share("partial", "wrong_product"), "partial_picked_right": share("partial", "picked_right", "listed"),
            "followup_focus": share("followup", "focus"), "followup_right": share("followup", "right_record"),
            "followup_cited": share("followup", "cited_right"),
            "factual_right": share("factual", "answered_right"), "factual_words": share("factual", "right_words"),
            "factual_cited": share("factual", "cited_right"), "factual_short": share("factual", "short"),
            "factual_not_said": share("factual", "not_said"), "factual_refused": share("factual", "false_refusal"),
            "unanswerable_right": share("unanswerable", "right"),
            "unanswerable_says": share("unanswerable", "says_not_said"),
            "unanswerable_invents_nothing": share("unanswerable", "invents_nothing"),
            "unanswerable_refused": share("unanswerable", "false_refusal")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", type=Path, default=Path(os.environ.get("PRODUCTQA_REAL", DEFAULT_REAL)),
                        help="real trn.json records (default: $PRODUCTQA_REAL, else ../shared/real/trn_dev.json)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "real")
    parser.add_argument("--absent", type=int, default=25, help="records held out of the catalog (asked as absent)")
    parser.add_argument("--also", type=Path, action="append", default=[],
                        help="another export to ask about the same real catalog (e.g. export/latest, the demo's)")
    parser.add_argument("--only-also", action="store_true", help="ask only the --also exports (the real run's figures "
                        "stay as the last run wrote them)")
    parser.add_argument("--max-steps", type=int, default=None, help="training steps (default: the cpu preset's)")
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--fresh", action="store_true", help="redo every step")
    parser.add_argument("--only", nargs="+", choices=KINDS, default=None,
                        help="ask only these kinds of question (default: all)")
    parser.add_argument("--arms", choices=("chat", "both"), default="both",
                        help="chat: only as the chat runs; both: also with the model alone deciding refusals")
    args = parser.parse_args()
    if not args.real.is_file():
        sys.exit(f"error: no real records at {args.real}: pass --real FILE or set PRODUCTQA_REAL")

    from productqa.catalog import Catalog
    from productqa.files import write_json

    out = args.out.resolve()
    processed, runs, export = out / "processed", out / "runs", out / "export" / "real"
    records, held = split_records(args.real, args.absent, out)
    if args.fresh or not (processed / "catalog.sqlite").exists():
        run(["scripts/01_prepare.py", "--input", records, "--out", processed], "prepare")
    if args.fresh or not (runs / "real" / "meta.json").exists():
        shutil.rmtree(runs / "real", ignore_errors=True)  # the benchmark's own run: 02_train keeps an old one
        steps = ["--max-steps", args.max_steps] if args.max_steps else []
        run(["scripts/02_train.py", "--data", processed, "--runs-dir", runs, "--run-name", "real",
             "--preset", "cpu", *steps], "train")
    if args.fresh or not (export / "export.json").exists():
        run(["scripts/04_export.py", "--run", runs / "real", "--out", export, "--quant", "q8_0",
             "--gate-samples", "6"], "export")

    catalog = Catalog(processed / "catalog.sqlite")
    asked = questions(processed, held, catalog)
    if args.only:
        asked = [a for a in asked if a["kind"] in args.only]
    kinds = {kind: sum(a["kind"] == kind for a in asked) for kind in KINDS}
    kinds["followup"] = sum(len(a.get("followups", ())) for a in asked)
    kinds["factual_followups"] = sum("earlier" in a for a in asked)
    print(f"asking {kinds} on {cpu_name()}", flush=True)
    previous = out / "real_bench.json"
    kept = json.loads(previous.read_text())["models"] if args.only_also and previous.exists() else {}
    report = {"cpu": cpu_name(), "real": str(args.real), "asked": kinds, "models": kept}
    print(f"{'model':<28} {'arm':<11} " + " ".join(f"{k:>14}" for k in figures([]).keys()))
    models = [] if args.only_also else [("trained on real", export)]
    for label, folder in models + [(f"{p} (sample)", p) for p in args.also]:
        for arm, ban in (("chat", True), ("model alone", False))[:1 if args.arms == "chat" else 2]:
            started = time.perf_counter()
            results = ask_all(folder, catalog, asked, ban, args.max_tokens, args.threads)
            found = figures(results)
            report["models"].setdefault(label, {})[arm] = {"figures": found, "seconds": round(time.perf_counter() - started, 1),
                                                           "answers": results}
            print(f"{label[-28:]:<28} {arm:<11} " + " ".join(f"{f'{a}/{n}':>14}" for a, n in found.values()), flush=True)
    write_json(out / "real_bench.json", report)
    print(f"-> {out / 'real_bench.json'}")


if __name__ == "__main__":
    main()
