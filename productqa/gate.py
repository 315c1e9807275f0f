"""The export's quality gate: each GGUF form measured against the f16 reference, and the served form chosen.

The measure is llama-perplexity --kl-divergence's: identical token ids (the training tokenizer's rendering
of held-out conversations) go to the f16 and to each form, and over every answer token it compares the full
next-token distributions: KL divergence from the f16's (mean, 99th percentile), top-1 agreement, and the
perplexity ratio. A form passes under MAX_KLD and over MIN_TOP1; the default is the most faithful that
passes (`gate`), Ollama's the most faithful one-file form (`ollama_form`). `parity` checks the f16 GGUF
under llama.cpp against the merged Hugging Face model, greedy answer for greedy answer.
"""
from __future__ import annotations

import math
from pathlib import Path

REFERENCE = "f16"
# The gate, from the demo run's figures (docs/benchmarks.md, the demo's export; 1,582 held-out answer tokens): q8_0 mean KLD
# 0.0018, base + adapter 0.0023, q6_k 0.011, q5_k_m 0.031, each >= 95% top-1 and ending its answers;
# q4_k_m 0.30 with 88% top-1, ending 1 answer in 32. The bar sits between q5_k_m and q4_k_m.
MAX_KLD = 0.05
MIN_TOP1 = 0.90


# ---------------------------------------------------------------------------------------------
# measuring: each form's next-token distributions against the f16's (llama-perplexity --kl-divergence)

def log_softmax(logits):
    """Row-wise log-softmax in float64 over the full vocabulary."""
    import numpy as np

    x = np.asarray(logits, dtype=np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def kld_stats(reference_logits, logits, targets) -> dict:
    """Per answer token: KL(reference || form), whether both argmaxes agree, and each side's NLL."""
    import numpy as np

    ref, log_q = log_softmax(reference_logits), log_softmax(logits)
    rows = np.arange(len(targets))
    return {"kld": (np.exp(ref) * (ref - log_q)).sum(axis=-1), "same_top1": ref.argmax(-1) == log_q.argmax(-1),
            "nll_ref": -ref[rows, targets], "nll": -log_q[rows, targets]}


def summarize(stats: dict, ended: list[bool], stops: set[int]) -> dict:
    """Mean and 99th-percentile KLD, top-1 agreement, perplexity ratio, and the share of complete answers
    whose end-of-turn position has an end-of-generation token as its argmax (the form would stop there)."""
    import numpy as np

    kld = stats["kld"]
    ppl, ppl_ref = math.exp(float(stats["nll"].mean())), math.exp(float(stats["nll_ref"].mean()))
    last = [int(top) for top, done in zip(stats["last_top1"], ended) if done]
    return {"kld_mean": float(kld.mean()), "kld_p99": float(np.percentile(kld, 99)),
            "kld_se": float(kld.std(ddof=1) / math.sqrt(len(kld))) if len(kld) > 1 else 0.0,
            "top1": float(stats["same_top1"].mean()), "ppl": ppl, "ppl_ratio": ppl / ppl_ref,
            "stops": sum(t in stops for t in last) / len(last) if last else None, "tokens": int(len(kld))}


def answer_logits(llm, item: dict):
    """llama.cpp's logits at each position that predicts an answer token (float32, one row each)."""
    import numpy as np

    ids, start = item["ids"], item["start"]
    llm.reset()
    llm.eval(ids)
    return np.array(llm.scores[start - 1:len(ids) - 1], dtype=np.float32)


def reference_store(path: Path, encoded: list[dict], n_vocab: int):
    """Room on disk for the reference's answer logits (like llama-perplexity --kl-divergence-base): a row
    of the full vocabulary per answer token is too much to hold in memory for thousands of tokens."""
    import numpy as np

    total = sum(len(e["ids"]) - e["start"] for e in encoded)
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(total, n_vocab))


def measure(llm, encoded: list[dict], reference, stops: set[int], record: bool = False, chunk: int = 64) -> dict:
    """Every answer token of `encoded` scored by `llm` against the reference logits; with `record`, `llm`
    is the reference and its logits are written into `reference` first."""
    import numpy as np

    parts, last_top1, offset = [], [], 0
    for item in encoded:
        logits = answer_logits(llm, item)
        if record:
            reference[offset:offset + len(logits)] = logits
        targets = np.asarray(item["ids"][item["start"]:])
        for lo in range(0, len(logits), chunk):
            hi = min(lo + chunk, len(logits))
            parts.append(kld_stats(reference[offset + lo:offset + hi], logits[lo:hi], targets[lo:hi]))
        last_top1.append(int(logits[-1].argmax()))
        offset += len(logits)
    stats = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    return summarize({**stats, "last_top1": last_top1}, [e["ended"] for e in encoded], stops)


# ---------------------------------------------------------------------------------------------
# parity: greedy answers of the f16 GGUF under llama.cpp vs the merged Hugging Face model

def greedy_llama(llm, prompt: list[int], max_new: int, stops: set[int]) -> list[int]:
    import numpy as np

    llm.reset()
    llm.eval(prompt)
    out = []
    for _ in range(max_new):
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        if token in stops:
            break
        out.append(token)
        llm.eval([token])
    return out


def greedy_hf(model, prompt: list[int], max_new: int, stops: set[int]) -> list[int]:
    """Plain argmax decoding with full forward passes: no generation_config (penalties, cache kinds) involved;
    the output layer (262k rows for Gemma 3) runs for the last position only."""
    import torch

    ids, out = list(prompt), []
    with torch.no_grad():
        for _ in range(max_new):
            token = int(model(torch.tensor([ids]), logits_to_keep=1).logits[0, -1].argmax())
            if token in stops:
                break
            out.append(token)
            ids.append(token)
    return out


def prefix_agreement(a: list[int], b: list[int]) -> float:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    longest = max(len(a), len(b))
    return n / longest if longest else 1.0


def parity(model, f16_llm, tokenizer, encoded: list[dict], samples: int, max_new: int, stops: set[int]) -> dict:
    """Greedy answers of the f16 GGUF under llama.cpp vs the merged Hugging Face model, token for token."""
    answers = []
    for item in encoded[:samples]:
        prompt = item["ids"][:item["start"]]
        hf = greedy_hf(model, prompt, max_new, stops)
        cpp = greedy_llama(f16_llm, prompt, max_new, stops)
        answers.append({"hf": hf, "llama_cpp": cpp, "agreement": round(prefix_agreement(hf, cpp), 4)})
    text = tokenizer.decode(encoded[0]["ids"][encoded[0]["start"]:], skip_special_tokens=True)
    hf_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    cpp_ids = f16_llm.tokenize(text.encode(), add_bos=False, special=False)
    return {"samples": len(answers), "max_new_tokens": max_new, "exact": sum(a["hf"] == a["llama_cpp"] for a in answers),
            "agreement": round(sum(a["agreement"] for a in answers) / max(len(answers), 1), 4),
            "tokenizer_match": hf_ids == cpp_ids, "answers": answers}


# ---------------------------------------------------------------------------------------------
# choosing the served form

def most_faithful(forms: dict, reference: str = REFERENCE, merged_only: bool = False) -> str:
    """The passing form with the lowest mean KLD (the smallest on a tie), else the reference; the
    reference is the yardstick, not a candidate. `merged_only`: one-file forms only."""
    candidates = [n for n, f in forms.items() if f["passed"] and n != reference and ("file" in f or not merged_only)]
    return min(candidates, key=lambda n: (round(forms[n]["kld_mean"], 4), forms[n]["bytes"], n), default=reference)


def gate(forms: dict, max_kld: float, min_top1: float, reference: str = REFERENCE) -> str:
    """Mark each form passed/failed in place; return the default: the most faithful passing form."""
    for name, form in forms.items():
        form["passed"] = name == reference or (form["kld_mean"] <= max_kld and form["top1"] >= min_top1)
    return most_faithful(forms, reference)


def ollama_form(forms: dict, default: str, reference: str = REFERENCE) -> str:
    """The form the Modelfile serves: one merged file (Ollama's ADAPTER is not verified here; see docs/stages.md, 4. Export):
    the default when it is one file, else the most faithful passing merged file, else the reference."""
    return default if "file" in forms[default] else most_faithful(forms, reference, merged_only=True)
