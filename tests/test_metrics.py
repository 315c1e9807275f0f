import math

import numpy as np
import pytest

from productqa import metrics as M


def test_rouge_hand_computed():
    # "the cat sat" vs "the cat ran": unigrams 2/3 match, bigrams 1/2 ("the cat"), LCS 2 of 3 words.
    scores = M.rouge(["the cat sat"], ["the cat ran"])
    assert scores["rouge1"] == pytest.approx(2 / 3)
    assert scores["rouge2"] == pytest.approx(1 / 2)
    assert scores["rougeL"] == pytest.approx(2 / 3)
    # the mean over pairs: an identical pair scores 1
    assert M.rouge(["the cat sat", "a dog"], ["the cat ran", "a dog"])["rouge1"] == pytest.approx((2 / 3 + 1) / 2)


def test_rouge_stems_and_empty_answers():
    assert M.rouge(["cats running"], ["cat runs"])["rouge1"] == pytest.approx(1.0)
    assert M.rouge([""], ["anything at all"])["rougeL"] == 0.0


def test_bleu_hand_computed():
    # 1- to 4-gram precisions 4/5, 3/4, 2/3, 1/2, same length (no brevity penalty): (0.2)^(1/4)
    assert M.bleu(["a b c d e"], ["a b c d f"]) == pytest.approx(0.2 ** 0.25, abs=1e-4)
    # all n-grams match but 4 words for a 6-word reference: brevity penalty exp(1 - 6/4)
    assert M.bleu(["a b c d"], ["a b c d e f"]) == pytest.approx(math.exp(-0.5), abs=1e-4)
    assert M.bleu(["x y z w"], ["a b c d"]) == pytest.approx(0.0)


def test_chrf_bounds():
    assert M.chrf(["a quiet harbor town"], ["a quiet harbor town"]) == pytest.approx(1.0)
    assert M.chrf(["xyz"], ["abc"]) == pytest.approx(0.0)
    near, far = M.chrf(["a quiet harbour town"], ["a quiet harbor town"]), M.chrf(["a loud city"], ["a quiet harbor town"])
    assert 0 < far < near < 1


def test_embedding_cosine_rows_hand_computed():
    class Embedder:  # fixed vectors: the cosine arithmetic under test, not the model
        vectors = {"a": [1.0, 0.0], "b": [0.0, 2.0], "z": [0.0, 0.0], "c": [1.0, 1.0], "d": [0.0, -1.0]}

        def encode(self, texts, **kwargs):
            import numpy as np

            return np.array([self.vectors[t] for t in texts], dtype=np.float32)

    rows = M.embedding_cosine_rows(["a", "b", "z"], ["c", "d", "c"], Embedder())
    assert rows == pytest.approx([2 ** -0.5, -1.0, 0.0])


def test_perplexity_and_lengths_and_deltas():
    assert M.perplexity(4 * math.log(2), 2) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        M.perplexity(1.0, 0)
    lengths = M.length_metrics(["one two three", "four"], [5, 3], [True, False])
    assert lengths == {"mean_answer_words": 2.0, "mean_new_tokens": 4.0, "stopped_fraction": 0.5}
    assert M.deltas({"bleu": 0.1, "cached": True, "x": 1}, {"bleu": 0.25, "cached": False}) == {"bleu": pytest.approx(0.15)}


def test_mismatched_inputs_are_refused():
    with pytest.raises(ValueError, match="2 predictions for 1"):
        M.rouge(["a", "b"], ["a"])
    with pytest.raises(ValueError):
        M.bleu([], [])


def test_embedding_cosine_with_the_bundled_minilm():
    embedder = M.load_embedder()
    assert M.embedding_cosine(["A novel about a lighthouse."], ["A novel about a lighthouse."], embedder) == pytest.approx(1.0, abs=1e-4)
    paraphrase = M.embedding_cosine(["A story set around a lighthouse keeper."], ["A novel about a lighthouse."], embedder)
    unrelated = M.embedding_cosine(["Stainless steel kitchen knife set."], ["A novel about a lighthouse."], embedder)
    assert unrelated < paraphrase < 1.0
    scores = M.text_metrics(["the cat sat"], ["the cat ran"], embedder)
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "bleu", "chrf", "embedding_cosine"}


# ---- per-question statistics and the paired bootstrap --------------------------------------------------

def test_statistics_score_like_the_whole_set():
    from sacrebleu.metrics import BLEU, CHRF

    predictions = ["a quiet harbor town", "a loud city", "the cat sat on the mat", ""]
    references = ["a quiet harbour town", "a quiet harbor town", "the cat sat on a mat", "something"]
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF())):
        stat = M.corpus_statistic(name, predictions, references)
        assert stat.value() == pytest.approx(metric.corpus_score(predictions, [references]).score / 100)
        index = np.array([[2, 2, 0, 1]])  # a resample is the corpus score of the questions drawn
        drawn = [predictions[i] for i in index[0]], [references[i] for i in index[0]]
        assert stat.resampled(index)[0] == pytest.approx(metric.corpus_score(drawn[0], [drawn[1]]).score / 100)
    # loss per token and perplexity: sums first, then the ratio (a long answer weighs more)
    assert M.ratio_of([6.0, 2.0], [3, 1]).value() == pytest.approx(2.0)
    assert M.ratio_of([6.0, 2.0], [3, 1], exp=True).value() == pytest.approx(math.exp(2.0))
    assert M.mean_of([True, False, True, True]).value() == 0.75
    assert M.mean_of([1.0, 0.0]).resampled(np.array([[0, 0], [0, 1], [1, 1]])).tolist() == [1.0, 0.5, 0.0]


def test_paired_bootstrap_hand_computed():
    same = {"x": M.mean_of([0.2, 0.5, 0.9])}
    out = M.paired_bootstrap(same, same, resamples=500, seed=1)
    assert out["delta"] == {"x": 0.0} and out["ci"] == {"x": [0.0, 0.0]} and out["significant"] == []
    # every question +0.25: every resample's difference is +0.25, whatever was drawn
    out = M.paired_bootstrap({"x": M.mean_of([0.0, 0.5, 0.25])}, {"x": M.mean_of([0.25, 0.75, 0.5])})
    assert out["ci"]["x"] == pytest.approx([0.25, 0.25]) and out["significant"] == ["x"] and out["n"] == 3
    # two questions, one gained: a resample's mean gain is 0, 1/2 or 1 with probability 1/4, 1/2, 1/4,
    # so the 2.5th and 97.5th percentiles are 0 and 1: the interval touches 0, not significant
    out = M.paired_bootstrap({"x": M.mean_of([0, 0])}, {"x": M.mean_of([0, 1])}, resamples=2000, seed=0)
    assert out["ci"]["x"] == [0.0, 1.0] and out["significant"] == []
    index = M.resample_index(2, 2000, seed=0)
    assert abs((index.sum(1) == 1).mean() - 0.5) < 0.05  # the draw really is uniform with replacement


def test_paired_bootstrap_is_paired_and_near_the_normal_interval():
    rng = np.random.default_rng(7)
    # questions differ a lot in difficulty, the models by +0.01 on each: pairing sees the +0.01 exactly
    hard = rng.uniform(0, 1, 300)
    out = M.paired_bootstrap({"x": M.mean_of(hard)}, {"x": M.mean_of(hard + 0.01)})
    assert out["ci"]["x"] == pytest.approx([0.01, 0.01]) and out["significant"] == ["x"]
    # 240 questions gained 1, 160 lost 1: mean 0.2, sd 0.98, so about 0.2 ± 1.96 * 0.98 / 20
    gains = np.array([1.0] * 240 + [-1.0] * 160)
    out = M.paired_bootstrap({"x": M.mean_of(np.zeros(400))}, {"x": M.mean_of(gains)}, resamples=2000, seed=3)
    low, high = out["ci"]["x"]
    half = 1.96 * math.sqrt(1 - 0.2 ** 2) / 20
    assert low == pytest.approx(0.2 - half, abs=0.015) and high == pytest.approx(0.2 + half, abs=0.015)
    assert out == M.paired_bootstrap({"x": M.mean_of(np.zeros(400))}, {"x": M.mean_of(gains)}, resamples=2000,
                                     seed=3)  # a fixed seed gives the same interval


def test_bootstrap_refuses_unpaired_figures():
    with pytest.raises(ValueError, match="different questions"):
        M.paired_bootstrap({"x": M.mean_of([1, 0])}, {"x": M.mean_of([1, 0, 1])})
    with pytest.raises(ValueError):
        M.mean_of([])
    one = M.bootstrap({"p": M.mean_of([1, 1, 1, 0])}, resamples=1000, seed=0)
    assert one["n"] == 4 and one["values"] == {"p": 0.75}
    assert 0 <= one["ci"]["p"][0] < 0.75 < one["ci"]["p"][1] <= 1
