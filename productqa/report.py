"""runs/<name>/eval/report.md: the page a reader looks at first, written from metrics.json + samples.jsonl.

It holds the base-vs-fine-tuned metrics table with deltas, generation speed, the run's loss curve and a
handful of side-by-side answers. It reads only files, so it can be re-rendered without any model.
"""
from __future__ import annotations

import json
from pathlib import Path

from productqa.files import atomic_open, read_json
from productqa.metrics import METRICS

_SUITES = {
    "grounded": "Grounded: the product's record among {k} records shown (the base model given the same records "
                "is the plain-RAG baseline)",
    "absent": "Absent: the product's record left out of the records shown; the right answer is "
              "\"not in the catalog\"",
    "closed_book": "Closed book: the question alone, about a held-out product (measures style, not knowledge)",
}

_NOTES = """\
- right record: the answer (citations removed) is closer by ROUGE-L to the asked product's description
  than to every other record shown; absolute ROUGE-L flatters a model that copies the wrong record.
- cites exactly the right uid: the answer's [uid] citations are exactly the product's uid; a cited uid
  that was not among the records shown counts as invented.
- answered "not in the catalog": the whole answer is that sentence (an echo of the system prompt is not).
- ROUGE-1/2/L: word n-gram / longest-common-subsequence overlap with the reference description (F1,
  stemmed); BLEU and chrF: sacrebleu corpus scores (word 4-grams with a brevity penalty; character
  6-grams), divided by 100 so every overlap score is on a 0-1 scale as in the published figures.
- embedding cosine: all-MiniLM-L6-v2 sentence embeddings of answer and reference (meaning, not wording).
- held-out answer loss / perplexity: teacher-forced cross-entropy of the reference answers given the
  question (answer tokens and the end-of-turn marker only, as in training); lower is better.
- answers that stopped by themselves: generation ended with an end token before the new-token limit.
- tokens/s: generated tokens (up to each answer's end token) per second of `generate`, batched."""


_SHARES = ("stopped_fraction", "right_record", "citation_accuracy", "invented_citation", "refused")


def suites_section(result: dict) -> str:
    k = result.get("settings", {}).get("k") or "k"
    parts = []
    for kind, suite in result.get("suites", {}).items():
        parts += [f"### {_SUITES.get(kind, kind).format(k=k)} — n = {suite['n']}", "",
                  metrics_table(suite["base"], suite["finetuned"]), ""]
    return "\n".join(parts).strip() or "No suites."


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    text = " ".join(str(text).split()) or "*(empty)*"
    return text.replace("|", "\\|")


def _fmt(name: str, value) -> str:
    if value is None:
        return "–"
    if name in ("tokens_per_second", "mean_answer_words", "mean_new_tokens", "perplexity"):
        return f"{value:,.1f}"
    if name in _SHARES:
        return f"{value:.0%}"
    return f"{value:.3f}"


def _delta(name: str, base, tuned) -> str:
    if base is None or tuned is None:
        return "–"
    diff = tuned - base
    better = METRICS[name][1]
    mark = "" if better is None or abs(diff) < 1e-12 else (" ▲" if (diff > 0) == better else " ▼")
    if name in _SHARES:
        return f"{diff * 100:+.0f} pts{mark}"
    if name in ("tokens_per_second", "mean_answer_words", "mean_new_tokens", "perplexity"):
        return f"{diff:+,.1f}{mark}"
    return f"{diff:+.3f}{mark}"


def metrics_table(base: dict, tuned: dict) -> str:
    lines = ["| metric | base | fine-tuned | Δ |", "|---|---:|---:|---:|"]
    for name, (label, _better) in METRICS.items():
        if name == "tokens_per_second" or (name not in base and name not in tuned):
            continue
        b, t = base.get(name), tuned.get(name)
        lines.append(f"| {label} | {_fmt(name, b)} | {_fmt(name, t)} | {_delta(name, b, t)} |")
    return "\n".join(lines)


def read_trainer_log(path: Path) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """(step, training loss) and (step, eval loss) points from a trainer_log.jsonl (Trainer log lines)."""
    train, val = [], []
    if not Path(path).is_file():
        return train, val
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        step = entry.get("step", entry.get("global_step"))
        if step is None:
            continue
        if isinstance(entry.get("loss"), (int, float)):
            train.append((step, entry["loss"]))
        if isinstance(entry.get("eval_loss"), (int, float)):
            val.append((step, entry["eval_loss"]))
    return train, val


def plot_loss(train, val, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    if train:
        ax.plot(*zip(*train), label="train")
    if val:
        ax.plot(*zip(*val), marker="o", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)
    return out


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


def examples_section(samples: list[dict], count: int) -> str:
    parts = []
    for i, sample in enumerate(samples[:count], 1):
        flags = lambda key: "" if sample.get(key, True) else " *(cut at the token limit)*"  # noqa: E731
        kind = f" *({sample['kind']})*" if sample.get("kind") else ""
        parts.append("\n".join([
            f"**{i}. {_cell(sample['question'])}**{kind}", "",
            "| | answer |", "|---|---|",
            f"| reference | {_cell(sample['reference'])} |",
            f"| base | {_cell(sample['base'])}{flags('base_stopped')} |",
            f"| fine-tuned | {_cell(sample['finetuned'])}{flags('finetuned_stopped')} |",
        ]))
    return "\n\n".join(parts) or "No samples."


def render(result: dict, samples: list[dict], loss_md: str, examples: int = 5) -> str:
    s = result.get("settings", {})
    n = result["n"]
    base, tuned = result["base"], result["finetuned"]
    device = s.get("device", "?")
    hardware = s.get("hardware") or device
    if str(device).startswith("cpu") and s.get("cpu_threads"):
        hardware = f"CPU ({hardware}; torch threads {s['cpu_threads']})"
    cached = " (measured when the base answers were cached)" if base.get("cached") else ""
    header = (f"Base model `{s.get('base_model', '?')}` before fine-tuning vs after (LoRA adapter of run "
              f"`{s.get('run_name', '?')}`), on **{n}** held-out questions of the `{s.get('split', '?')}` split "
              f"(`{s.get('split_file', '?')}`). Same chat template (`{s.get('chat_template', '?')}`) and system "
              f"prompt for both, greedy decoding, at most {s.get('max_new_tokens', '?')} new tokens, "
              f"batch {s.get('batch_size', '?')}, {s.get('dtype', '?')} on {hardware}.")
    warning = (f"\n\n> Only {n} questions: differences of a few hundredths are within noise; "
               f"use a larger `--limit` for conclusions." if n < 50 else "")
    speed = "\n".join([
        "| model | tokens/s | generated tokens | seconds |", "|---|---:|---:|---:|",
        f"| base{cached} | {base.get('tokens_per_second', 0):,.1f} | {base.get('generated_tokens', 0):,} | "
        f"{base.get('generation_seconds', 0):,.1f} |",
        f"| fine-tuned | {tuned.get('tokens_per_second', 0):,.1f} | {tuned.get('generated_tokens', 0):,} | "
        f"{tuned.get('generation_seconds', 0):,.1f} |",
    ])
    command = (f"python scripts/03_evaluate.py --run {s.get('run', 'runs/latest')} --split {s.get('split', 'test')} "
               f"--limit {s.get('limit', n)} --max-new-tokens {s.get('max_new_tokens', 96)}")
    return "\n".join([
        f"# Evaluation of `{s.get('run_name', '?')}`: base vs fine-tuned", "",
        header + warning, "",
        "## By question kind", "",
        suites_section(result), "",
        "## All questions", "",
        metrics_table(base, tuned), "",
        "▲ better, ▼ worse after fine-tuning. Overlap scores are 0-1.", "",
        "## Generation speed", "",
        speed, "",
        "## Training loss", "",
        loss_md, "",
        f"## Examples (first {min(examples, len(samples))} of {len(samples)}, all in samples.jsonl)", "",
        examples_section(samples, examples), "",
        "## How it was measured", "",
        _NOTES, "",
        f"Reproduce: `{command}`", "",
    ])


def write_report(eval_dir: Path, run_dir: Path | None = None, examples: int = 5) -> Path:
    """Render eval_dir/report.md from eval_dir/metrics.json and eval_dir/samples.jsonl."""
    eval_dir = Path(eval_dir)
    result = read_json(eval_dir / "metrics.json")
    with open(eval_dir / "samples.jsonl", encoding="utf-8") as handle:
        samples = [json.loads(line) for line in handle if line.strip()]
    text = render(result, samples, loss_section(eval_dir, run_dir), examples)
    with atomic_open(eval_dir / "report.md") as handle:
        handle.write(text)
    return eval_dir / "report.md"
