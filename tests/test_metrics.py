import math

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


def test_cosine_rows_hand_computed():
    assert M.cosine_rows([[1, 0], [0, 2], [0, 0]], [[1, 1], [0, -1], [1, 1]]) == pytest.approx([2 ** -0.5, -1.0, 0.0])


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
