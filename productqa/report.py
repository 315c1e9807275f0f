"""runs/<name>/eval/report.md: the page a reader looks at first, written from metrics.json + samples.jsonl.

It holds, per suite, the base-vs-fine-tuned table with each delta's 95% bootstrap interval (bold when
the interval excludes 0) and side-by-side examples; then retrieval, generation speed, the run's loss
curve and how each figure is measured. It reads only files, so it can be re-rendered without a model.
"""
from __future__ import annotations

import json
from pathlib import Path

from productqa.files import atomic_open, read_json, read_jsonl
from productqa.lossplot import loss_points, plot_loss
from productqa.metrics import METRICS

SMALL_N = 30  # below this the percentile bootstrap understates the uncertainty

_SUITES = {
    "grounded": "Grounded, held-out products: the product's record among {k} records shown (the base model "
                "given the same records is the plain-RAG baseline)",
    "partial": "Partial titles, held-out products: named by part of their title (without subtitle or series, "
               "a word left out), their record among {k} shown",
    "followup": "Follow-ups, held-out products: a question naming no product (\"Who is it for?\") after the one "
                "that did, with that question's records",
    "factual": "Factual questions, held-out products: a fact their record states (\"Who wrote it?\", \"What ages "
               "is it for?\", \"How many recipes...?\"), asked with a phrasing held out of training, their record "
               "among {k} shown (a follow-up after the question that named it); the right answer is the record's "
               "sentence that states it, cited",
    "unanswerable": "Unanswerable facts, held-out products: a fact their record does not mention, asked the same "
                    "way; the right answer says the catalog record does not say it, invents nothing and cites "
                    "the record",
    "absent": "Absent: held-out products whose record is left out of the records shown; the right answer is "
              "\"not in the catalog\"",
    "closed_book_trained": "Closed book, trained products: the question alone, about a product trained closed "
                           "book, asked with a phrasing held out of training (how much of the description "
                           "fine-tuning taught)",
    "closed_book": "Closed book, held-out products: the question alone, about a product the model never saw "
                   "(measures style only, not knowledge)",
}

# the figures of each suite that 03_evaluate prints and report.md sums up first
HEADLINES = {
    "grounded": ("right_record", "citation_accuracy", "wrong_starred", "false_refusal", "rougeL", "stopped_fraction"),
    "partial": ("right_record", "citation_accuracy", "false_refusal", "stopped_fraction"),
    "followup": ("right_record", "citation_accuracy", "false_refusal", "stopped_fraction"),
    "factual": ("answered_right", "right_words", "cited_right", "not_said", "false_refusal", "stopped_fraction"),
    "unanswerable": ("right", "says_not_said", "invents_nothing", "cited_right", "false_refusal", "stopped_fraction"),
    "absent": ("refused", "stopped_fraction"),
    "closed_book_trained": ("rougeL", "chrf", "embedding_cosine", "perplexity"),
    "closed_book": ("rougeL", "embedding_cosine", "stopped_fraction"),
}

_NOTES = """\
- right record: the answer (citations removed) is closer by ROUGE-L to the asked product's description
  than to every other record shown; absolute ROUGE-L flatters a model that copies the wrong record.
- cites exactly the right record: the answer's [n] citations are exactly the product's number among the
  records shown; a number that no record shown has counts as invented.
- starred: the records the answer's text comes from, as the chat's Sources mark them
  (productqa.attribution: half of the answer's words in 4-word runs the record also has); another
  record starred means the text was taken from a record that is not the product's.
- false refusal: "not in the catalog" while the product's record was among those shown.
- answered "not in the catalog": the whole answer is that sentence (an echo of the system prompt is not).
- factual and unanswerable suites: the held-out split's fact and not-said rows asked again with the
  phrasings of prompts/facts.yaml that training never used (ask_heldout, follow_heldout), the same
  records in the same order (productqa.fact_scores defines each figure). The fact's words: the row's
  fact (a name, an age range, a count) is in the answer as whole words, case, punctuation and spacing
  aside; cites the record asked about: its [n] and only it; short: at most facts.MAX_WORDS words, the
  citation aside; answered right: all three. Said the record does not say it: the answer opens like
  the not-said sentence. Invents nothing: every word of the answer (the citation aside) is a word of
  the record's title or description, of the not-said sentence's wording, or the cited number.
- ROUGE-1/2/L: word n-gram / longest-common-subsequence overlap with the reference description (F1,
  stemmed); BLEU and chrF: sacrebleu corpus scores (word 4-grams with a brevity penalty; character
  6-grams), divided by 100 so every overlap score is on a 0-1 scale as in the published figures.
- embedding cosine: all-MiniLM-L6-v2 sentence embeddings of answer and reference (meaning, not wording).
- answer loss / perplexity: teacher-forced cross-entropy of the reference answers given the question
  (answer tokens and the end-of-turn marker only, as in training); lower is better.
- answers that stopped by themselves: generation ended with an end token before the new-token limit.
- closed book, trained products: closed-book rows of the train split asked with a phrasing from
  prompts/questions_heldout*.txt, which training never used; the reference is the trained description.
- 95% CI: paired bootstrap over questions: each resample draws the suite's questions with replacement
  and scores both models on that same draw (corpus BLEU/chrF recomputed from sacrebleu's per-segment
  statistics); the interval is the 2.5th-97.5th percentile of fine-tuned - base. **Bold** Δ: the
  interval excludes 0. Below ~30 questions the bootstrap interval is too narrow: treat it as a sketch.
- retrieval: the catalog search 05_chat uses, on every question asked; precision@1 = the product's own
  record ranked first, recall@k = it is among the k returned (a product sharing its title with another
  counts as a miss when the other one is returned instead).
- tokens/s: generated tokens (up to each answer's end token) per second of `generate`, batched."""


_SHARES = ("stopped_fraction", "right_record", "citation_accuracy", "invented_citation", "refused",
           "right_starred", "wrong_starred", "false_refusal", "answered_right", "right_words", "cited_right",
           "short", "not_said", "right", "says_not_said", "invents_nothing",
           "p_at_1", "recall_at_k")
_ONE_DECIMAL = ("tokens_per_second", "mean_answer_words", "mean_new_tokens", "perplexity")


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    text = " ".join(str(text).split()) or "*(empty)*"
    return text.replace("|", "\\|")


def _fmt(name: str, value) -> str:
    if value is None:
        return "–"
    if name in _ONE_DECIMAL:
        return f"{value:,.1f}"
    if name in _SHARES:
        return f"{value:.0%}"
    return f"{value:.3f}"


def _signed(name: str, value: float) -> str:
    if name in _SHARES:
        return f"{value * 100:+.0f} pts"
    if name in _ONE_DECIMAL:
        return f"{value:+,.1f}"
    return f"{value:+.3f}"


def _delta(name: str, base, tuned, significant: bool = False) -> str:
    if base is None or tuned is None:
        return "–"
    diff = tuned - base
    better = METRICS[name][1]
    mark = "" if better is None or abs(diff) < 1e-12 else (" ▲" if (diff > 0) == better else " ▼")
    text = _signed(name, diff)
    return f"**{text}**{mark}" if significant else f"{text}{mark}"


def _interval(name: str, bounds) -> str:
    if not bounds:
        return "–"
    low, high = bounds
    if name in _SHARES:
        return f"[{low * 100:+.0f}, {high * 100:+.0f}] pts"
    return f"[{_signed(name, low)}, {_signed(name, high)}]"


def metrics_table(base: dict, tuned: dict, ci: dict | None = None, significant=()) -> str:
    """base / fine-tuned / Δ rows in METRICS order, with a 95% CI column when intervals are given."""
    lines = (["| metric | base | fine-tuned | Δ | 95% CI of Δ |", "|---|---:|---:|---:|---:|"] if ci is not None
             else ["| metric | base | fine-tuned | Δ |", "|---|---:|---:|---:|"])
    for name, (label, _better) in METRICS.items():
        if name == "tokens_per_second" or (name not in base and name not in tuned):
            continue
        b, t = base.get(name), tuned.get(name)
        row = f"| {label} | {_fmt(name, b)} | {_fmt(name, t)} | {_delta(name, b, t, name in significant)} |"
        lines.append(row + (f" {_interval(name, ci.get(name))} |" if ci is not None else ""))
    return "\n".join(lines)


def ordered_suites(result: dict) -> list[tuple[str, dict]]:
    """The suites in reading order (metrics.json sorts its keys)."""
    suites = result.get("suites", {})
    return [(name, suites[name]) for name in sorted(suites, key=lambda n: (list(_SUITES).index(n)
                                                                          if n in _SUITES else len(_SUITES), n))]


def summary_table(result: dict) -> str:
    """The headline figures of every suite in one table."""
    lines = ["| suite | n | figure | base | fine-tuned | Δ | 95% CI of Δ |", "|---|---:|---|---:|---:|---:|---:|"]
    for suite_name, suite in ordered_suites(result):
        first = True
        for name in HEADLINES.get(suite_name, ()):
            if name not in suite["base"]:
                continue
            b, t = suite["base"][name], suite["finetuned"][name]
            label = f"{suite_name} | {suite['n']}" if first else " | "
            lines.append(f"| {label} | {METRICS[name][0]} | {_fmt(name, b)} | {_fmt(name, t)} | "
                         f"{_delta(name, b, t, name in suite.get('significant', ()))} | "
                         f"{_interval(name, suite.get('ci', {}).get(name))} |")
            first = False
    return "\n".join(lines)


def suite_of(sample: dict) -> str:
    """The suite of an evaluation row or of a samples.jsonl line: its "suite" tag, else its row kind."""
    return sample.get("suite") or sample.get("kind") or "closed_book"


def examples_section(samples: list[dict], count: int) -> str:
    parts = []
    for i, sample in enumerate(samples[:count], 1):
        flags = lambda key: "" if sample.get(key, True) else " *(cut at the token limit)*"  # noqa: E731
        trained = (f"| asked in training as | {_cell(sample['training_question'])} |"
                   if sample.get("training_question") else None)
        earlier = f"| asked after | {_cell(sample['earlier'])} |" if sample.get("earlier") else None
        parts.append("\n".join(line for line in [
            f"**{i}. {_cell(sample['question'])}**", "",
            "| | answer |", "|---|---|",
            trained, earlier,
            f"| reference | {_cell(sample['reference'])} |",
            f"| base | {_cell(sample['base'])}{flags('base_stopped')} |",
            f"| fine-tuned | {_cell(sample['finetuned'])}{flags('finetuned_stopped')} |",
        ] if line is not None))
    return "\n\n".join(parts) or "No samples."


def suites_section(result: dict, samples: list[dict], examples: int) -> str:
    """Per suite: its title with n, the full table with intervals, then its first examples."""
    settings = result.get("settings", {})
    k = settings.get("k") or "k"
    parts = []
    for suite_name, suite in ordered_suites(result):
        mine = [s for s in samples if suite_of(s) == suite_name]
        small = " *(small n: a sketch, not a measurement)*" if suite["n"] < SMALL_N else ""
        parts += [f"### {_SUITES.get(suite_name, suite_name).format(k=k)} — n = {suite['n']}{small}", "",
                  metrics_table(suite["base"], suite["finetuned"], suite.get("ci", {}), suite.get("significant", ())),
                  ""]
        if suite_name == "closed_book_trained" and settings.get("epochs") is not None:
            parts += [f"The run trained {settings['epochs']:.2f} epochs: each of these rows was seen about that "
                      f"many times (fewer than one epoch: some not at all).", ""]
        if examples and mine:
            parts += [f"Examples (first {min(examples, len(mine))} of {len(mine)}):", "",
                      examples_section(mine, examples), ""]
    return "\n".join(parts).strip() or "No suites."


def retrieval_section(result: dict) -> str:
    found = result.get("retrieval")
    if not found:
        return "No retrieval figures."
    k = found["k"]
    lines = [f"Catalog search (`productqa.catalog.Catalog.search`, k = {k}) on every question asked; the model "
             "plays no part, so there is one figure, not two. 95% bootstrap intervals in brackets.", "",
             f"| questions | n | precision@1 | recall@{k} |", "|---|---:|---:|---:|"]
    by_suite = found.get("by_suite", {})
    for label, figures in [("all", found)] + [(name, by_suite[name]) for name in _SUITES if name in by_suite]:
        cells = [f"{_fmt(name, figures['values'][name])} {_interval_plain(figures['ci'][name])}"
                 for name in ("p_at_1", "recall_at_k")]
        lines.append(f"| {label} | {figures['n']} | {cells[0]} | {cells[1]} |")
    shared = found.get("shared_titles")
    if shared:
        lines += ["", f"Titles several products share, among all the split's questions: {shared['questions']}; "
                      f"listed by the chat with every product of the title (not one chosen silently): "
                      f"{shared['listed_all']} of {shared['questions']}."]
    decided = found.get("decisions") or {}
    if decided:
        lines += ["", "What the chat's code decides before a model is asked (95% bootstrap intervals):", ""]
        for suite, figures in decided.items():
            cells = ", ".join(f"{_DECISIONS[name]} {_fmt('p_at_1', value)} {_interval_plain(figures['ci'][name])}"
                              for name, value in figures["values"].items())
            lines.append(f"- {suite.replace('_', ' ')} (n = {figures['n']}): {cells}")
    return "\n".join(lines)


_DECISIONS = {"answered": "the product answered outright", "answered_or_listed": "answered or listed in \"did you "
              "mean\"", "wrong_product": "another product answered", "focus_kept": "taken as a follow-up (the "
              "product in focus kept)"}


def _interval_plain(bounds) -> str:
    return f"[{bounds[0]:.0%}, {bounds[1]:.0%}]"


def read_trainer_log(path: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(step, training loss) and (step, eval loss) points from a trainer_log.jsonl; unreadable lines skipped."""
    entries = []
    if Path(path).is_file():
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
    return loss_points(e for e in entries if isinstance(e, dict))


def loss_section(eval_dir: Path, run_dir: Path | None) -> str:
    """A link to the run's loss.png, else a curve drawn here from trainer_log.jsonl, else a sentence."""
    if run_dir is None:
        return "No training run given: no loss curve."
    run_dir = Path(run_dir)
    train, val = read_trainer_log(run_dir / "trainer_log.jsonl")
    figures = ""
    if train:
        figures = f"Training loss {train[0][1]:.3f} at step {train[0][0]} → {train[-1][1]:.3f} at step {train[-1][0]}"
        figures += f"; validation loss {val[-1][1]:.3f} at step {val[-1][0]}." if val else "."
    if (run_dir / "loss.png").is_file():
        image = "../loss.png" if Path(eval_dir).parent.resolve() == run_dir.resolve() else str(run_dir / "loss.png")
    elif train or val:
        plot_loss(train, val, Path(eval_dir) / "loss.png")
        image = "loss.png"
    else:
        return "The run has no loss.png or trainer_log.jsonl: no loss curve."
    return f"![training loss]({image})\n\n{figures}".strip()


def render(result: dict, samples: list[dict], loss_md: str, examples: int = 2) -> str:
    s = result.get("settings", {})
    base, tuned = result["base"], result["finetuned"]
    device = s.get("device", "?")
    hardware = s.get("hardware") or device
    if str(device).startswith("cpu") and s.get("cpu_threads"):
        hardware = f"CPU ({hardware}; torch threads {s['cpu_threads']})"
    cached = " (measured when the base answers were cached)" if base.get("cached") else ""
    counts = [suite["n"] for suite in result.get("suites", {}).values()]
    header = (f"Base model `{s.get('base_model', '?')}` before fine-tuning vs after (LoRA adapter of run "
              f"`{s.get('run_name', '?')}`), each suite on the same questions for both: **{result['n']}** "
              f"questions in all, at most {s.get('per_suite', '?')} per suite (held-out products from the "
              f"`{s.get('split', '?')}` split, trained products from the train split). Same chat template "
              f"(`{s.get('chat_template', '?')}`) and system prompt for both, greedy decoding, at most "
              f"{s.get('max_new_tokens', '?')} new tokens, batch {s.get('batch_size', '?')}, {s.get('dtype', '?')} "
              f"on {hardware}. Δ = fine-tuned - base with its 95% paired-bootstrap interval "
              f"({s.get('resamples', '?')} resamples, seed {s.get('seed', '?')}); **bold** Δ: the interval "
              f"excludes 0.")
    warning = ""
    if counts and min(counts) < SMALL_N:
        warning = (f"\n\n> Small n ({min(counts)}-{max(counts)} questions per suite"
                   f"{', the CPU default' if s.get('per_suite_default') else ''}): the intervals are wide and, "
                   f"below ~{SMALL_N} questions, still too narrow; evaluate `--per-suite 200` on a GPU "
                   f"for figures with weight.")
    speed = "\n".join([
        "| model | tokens/s | generated tokens | seconds |", "|---|---:|---:|---:|",
        f"| base{cached} | {base.get('tokens_per_second', 0):,.1f} | {base.get('generated_tokens', 0):,} | "
        f"{base.get('generation_seconds', 0):,.1f} |",
        f"| fine-tuned | {tuned.get('tokens_per_second', 0):,.1f} | {tuned.get('generated_tokens', 0):,} | "
        f"{tuned.get('generation_seconds', 0):,.1f} |",
    ])
    command = (f"python scripts/03_evaluate.py --run {s.get('run', 'runs/latest')} --split {s.get('split', 'test')} "
               f"--per-suite {s.get('per_suite', 5)} --max-new-tokens {s.get('max_new_tokens', 160)} "
               f"--batch-size {s.get('batch_size', 8)}")
    return "\n".join([
        f"# Evaluation of `{s.get('run_name', '?')}`: base vs fine-tuned", "",
        header + warning, "",
        "## Summary", "",
        summary_table(result), "",
        "▲ better, ▼ worse after fine-tuning. Overlap scores are 0-1.", "",
        "## Suites", "",
        suites_section(result, samples, examples), "",
        "## Retrieval", "",
        retrieval_section(result), "",
        "## All questions", "",
        metrics_table(base, tuned), "",
        "## Generation speed", "",
        speed, "",
        "## Training loss", "",
        loss_md, "",
        "## How it was measured", "",
        _NOTES, "",
        f"Every question and answer: `samples.jsonl`. Reproduce: `{command}`", "",
    ])


def write_report(eval_dir: Path, run_dir: Path | None = None, examples: int = 2) -> Path:
    """Render eval_dir/report.md from eval_dir/metrics.json and eval_dir/samples.jsonl."""
    eval_dir = Path(eval_dir)
    result = read_json(eval_dir / "metrics.json")
    samples = read_jsonl(eval_dir / "samples.jsonl")
    text = render(result, samples, loss_section(eval_dir, run_dir), examples)
    with atomic_open(eval_dir / "report.md") as handle:
        handle.write(text)
    return eval_dir / "report.md"
