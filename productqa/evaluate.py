"""Base model vs fine-tuned model on the held-out split: generate, score, write runs/<name>/eval/.

One load serves both models: the base checkpoint with the run's LoRA adapter on top, and the base
model is the same weights with the adapter disabled (and the end-of-turn row repair undone: the base
is the model as published). Both get the same prompts (the run's tokenizer and chat template, the
run's system prompt, the same catalog records), greedy decoding, batched with left padding, stopping
on the tokenizer's eos or <end_of_turn>.

Each row kind of the split is a suite, scored base vs fine-tuned (the base model given the same
records is the plain-RAG baseline):
    grounded     right record, citation accuracy, invented citations, ROUGE-L/chrF/cosine to the record
    absent       share answered exactly "not in the catalog"
    closed_book  ROUGE-L/chrF/cosine to the description (held-out products: style, not knowledge)
and every suite reports the share of answers that stopped by themselves.

The base model's results depend only on the base model, the data and the settings, not on the
adapter, so they are cached in <cache>/eval-base/<key>.json (cache = ~/.cache/productqa or
$PRODUCTQA_CACHE) with key = sha256 of (base model path, sha256 of the split file, split, limit,
max_new_tokens, chat template text, system prompt); a new training run re-uses them.

Outputs are written into runs/<name>/.eval.tmp-<pid>/ and renamed to runs/<name>/eval/ only when
everything is done: an interrupted evaluation leaves the previous complete one (or none), never a
partial one under the final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from productqa import grounded
from productqa import metrics as M
from productqa.chat_format import answer_of, question_of, to_messages
from productqa.files import read_jsonl
from productqa.errors import UserError
from productqa.files import read_json, write_json, write_jsonl
from productqa.paths import cache_dir
from productqa.runs import ADAPTER, base_model_path, data_folder, run_meta
from productqa.tokens import apply_repair, swapped

EVAL = "eval"
CACHE_VERSION = 2
END_TOKENS = ("<end_of_turn>", "<eos>", "<|eot_id|>", "<|im_end|>", "<|end|>")


@dataclass
class Settings:
    split: str = "test"
    limit: int = 200
    max_new_tokens: int = 160
    batch_size: int = 8
    examples: int = 5
    use_cache: bool = True
    progress: bool = True


# ---------------------------------------------------------------------------------------------------
# data and prompts

def load_split(folder: Path, split: str, limit: int | None) -> tuple[list[dict], Path]:
    path = Path(folder) / f"{split}.jsonl"
    if not path.is_file():
        raise UserError(f"no held-out split at {path}: run scripts/01_prepare.py or pass --data/--split")
    rows = read_jsonl(path)
    if not rows:
        raise UserError(f"{path} is empty: prepare more records (--max-records) or pick another --split")
    return rows[:limit] if limit else rows, path


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prompt_text(tokenizer, row: dict, system_prompt: str | None) -> str:
    """The chat-templated question, ending where the model's answer starts."""
    return tokenizer.apply_chat_template(to_messages(row, system_prompt, with_answer=False),
                                         tokenize=False, add_generation_prompt=True)


def full_text(tokenizer, row: dict, system_prompt: str | None) -> str:
    return tokenizer.apply_chat_template(to_messages(row, system_prompt), tokenize=False)


def stop_token_ids(tokenizer) -> list[int]:
    """The tokenizer's eos plus the chat template's end-of-turn tokens that exist in its vocabulary."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    ids.update(vocab[token] for token in END_TOKENS if token in vocab)
    return sorted(ids)


# ---------------------------------------------------------------------------------------------------
# generation and loss

def _bar(total: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="q", disable=not enabled, dynamic_ncols=True)


def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int,
             progress: bool = True, desc: str = "generate") -> dict:
    """Greedy answers, batched with left padding.

    Returns {"answers": [...], "new_tokens": [...], "stopped": [...], "seconds", "tokens_per_second"};
    new_tokens counts the tokens a sequence produced up to and including its stop token (padding after
    an early stop is not counted), stopped is True when it ended with a stop token before the limit.
    """
    import torch

    stops = stop_token_ids(tokenizer)
    tokenizer.padding_side = "left"
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0]
    answers, new_tokens, stopped = [], [], []
    seconds = 0.0
    with _bar(len(prompts), desc, progress) as bar:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(model.device)
            began = time.perf_counter()
            with torch.inference_mode():
                out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                     eos_token_id=stops, pad_token_id=pad_id, top_p=None, top_k=None,
                                     temperature=None)
            seconds += time.perf_counter() - began
            for seq in out[:, batch["input_ids"].shape[1]:].tolist():
                end = next((i for i, token in enumerate(seq) if token in stops), None)
                answers.append(tokenizer.decode(seq[:end], skip_special_tokens=True).strip())
                new_tokens.append(len(seq) if end is None else end + 1)
                stopped.append(end is not None)
            bar.update(len(batch["input_ids"]))
    return {"answers": answers, "new_tokens": new_tokens, "stopped": stopped, "seconds": round(seconds, 3),
            "tokens_per_second": sum(new_tokens) / seconds if seconds else 0.0}


def answer_mask(tokenizer, rows: list[dict], system_prompt: str | None) -> list[tuple[list[int], int]]:
    """(token ids of the whole conversation, index of the first answer token) for each row.

    The answer is everything the model writes after the generation prompt: the reference text and the
    template's end-of-turn marker, exactly what training on responses only supervises.
    """
    pairs = []
    for row in rows:
        full = tokenizer(full_text(tokenizer, row, system_prompt), add_special_tokens=False)["input_ids"]
        prompt = tokenizer(prompt_text(tokenizer, row, system_prompt), add_special_tokens=False)["input_ids"]
        if full[:len(prompt)] != prompt:
            raise ValueError("the chat template renders the question differently with and without the answer")
        pairs.append((full, len(prompt)))
    return pairs


def answer_loss(model, tokenizer, rows: list[dict], system_prompt: str | None, batch_size: int,
                progress: bool = True, desc: str = "loss") -> dict:
    """Teacher-forced loss of the reference answers, answer tokens only: {"loss", "perplexity", "tokens"}.

    Vocabularies are large (Gemma: 262k), so logits are computed only at the positions that predict an
    answer token, a chunk at a time, from the decoder's last hidden states (LoRA layers included).
    """
    import torch
    import torch.nn.functional as F

    pairs = answer_mask(tokenizer, rows, system_prompt)
    pad_id = tokenizer.pad_token_id or 0
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    softcap = getattr(causal_lm.config, "final_logit_softcapping", None)
    total, tokens = 0.0, 0
    with _bar(len(pairs), desc, progress) as bar, torch.inference_mode():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            width = max(len(ids) for ids, _ in chunk)
            ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, (seq, _) in enumerate(chunk):  # right padding: positions stay 0..n-1
                ids[i, :len(seq)] = torch.tensor(seq)
                mask[i, :len(seq)] = 1
            ids, mask = ids.to(model.device), mask.to(model.device)
            hidden = causal_lm.model(input_ids=ids, attention_mask=mask).last_hidden_state
            for i, (seq, answer_start) in enumerate(chunk):
                states, targets = hidden[i, answer_start - 1:len(seq) - 1], ids[i, answer_start:len(seq)]
                for j in range(0, len(targets), 512):
                    logits = causal_lm.lm_head(states[j:j + 512]).float()
                    if softcap:
                        logits = torch.tanh(logits / softcap) * softcap
                    total += F.cross_entropy(logits, targets[j:j + 512], reduction="sum").item()
                tokens += len(targets)
            bar.update(len(chunk))
    return {"loss": total / tokens, "perplexity": M.perplexity(total, tokens), "tokens": tokens}


# ---------------------------------------------------------------------------------------------------
# the base model's cache

def base_cache_key(base_model_path: str, data_sha256: str, settings: Settings, chat_template: str | None,
                   system_prompt: str | None, device: str = "cpu", dtype: str = "float32") -> tuple[str, dict]:
    """Everything the base answers depend on; batch size included (left padding changes the numerics)."""
    fields = {"version": CACHE_VERSION, "base_model_path": str(base_model_path), "data_sha256": data_sha256,
              "split": settings.split, "limit": settings.limit, "max_new_tokens": settings.max_new_tokens,
              "batch_size": settings.batch_size, "device": device, "dtype": dtype,
              "chat_template_sha256": hashlib.sha256((chat_template or "").encode()).hexdigest(),
              "system_prompt": system_prompt}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24], fields


def base_cache_path(key: str) -> Path:
    return cache_dir() / "eval-base" / f"{key}.json"


def read_base_cache(key: str, n: int) -> dict | None:
    path = base_cache_path(key)
    try:
        cached = read_json(path)
    except (OSError, ValueError):
        return None
    return cached if len(cached.get("answers", [])) == n else None


# ---------------------------------------------------------------------------------------------------
# loading

def load_models(run_dir: Path, base_path: str, device: str | None = None, repair: dict | None = None):
    """(model with the adapter, tokenizer saved with the run, original rows of the repair).

    The base model is `with model.disable_adapter(), tokens.swapped(model, originals):`.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from productqa.models import hub_error

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(run_dir / ADAPTER)
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=dtype)
    except OSError as err:
        if Path(base_path).is_dir():
            raise UserError(f"cannot load the base model from {base_path}: {err}") from None
        raise hub_error(base_path, err) from None
    originals = apply_repair(model, repair)
    model = PeftModel.from_pretrained(model, run_dir / ADAPTER).to(device)
    model.eval()
    return model, tokenizer, {row: values.to(device) for row, values in originals.items()}


# ---------------------------------------------------------------------------------------------------
# the whole evaluation

def score(outputs: dict) -> dict:
    """Figures over every question: loss, stopping, length, speed."""
    scores = M.length_metrics(outputs["answers"], outputs["new_tokens"], outputs["stopped"])
    scores.update(loss=outputs["loss"]["loss"], perplexity=outputs["loss"]["perplexity"],
                  loss_tokens=outputs["loss"]["tokens"], tokens_per_second=outputs["tokens_per_second"],
                  generation_seconds=outputs["seconds"], generated_tokens=sum(outputs["new_tokens"]))
    return scores


def suite_scores(kind: str, rows: list[dict], answers: list[str], stopped: list[bool], records: dict,
                 embedder) -> dict:
    """The figures of one suite (row kind) for one model; `records` maps uid -> description."""
    figures = {"stopped_fraction": sum(stopped) / len(rows)}
    descriptions = [records[row["id"]] for row in rows]
    if kind == "absent":
        figures["refused"] = sum(grounded.is_refusal(a) for a in answers) / len(rows)
        return figures
    texts = [grounded.strip_citations(a) for a in answers] if kind == "grounded" else answers
    figures.update(M.text_metrics(texts, descriptions, embedder))
    if kind == "grounded":
        right = cited = invented = 0
        for row, answer, text, gold in zip(rows, answers, texts, descriptions):
            others = [records[uid] for uid in row["context"] if uid != row["id"]]
            right += M.right_record(text, gold, others)
            uids = grounded.cited_uids(answer)
            cited += uids == [row["id"]]
            invented += any(uid not in row["context"] for uid in uids)
        figures.update(right_record=right / len(rows), citation_accuracy=cited / len(rows),
                       invented_citation=invented / len(rows))
    return figures


def suites(rows: list[dict], base: dict, tuned: dict, records: dict, embedder) -> dict:
    """{kind: {"n", "base", "finetuned", "delta"}} for every row kind present."""
    out = {}
    for kind in grounded.KINDS:
        index = [i for i, row in enumerate(rows) if row.get("kind", "closed_book") == kind]
        if not index:
            continue
        chosen = [rows[i] for i in index]
        pair = {name: suite_scores(kind, chosen, [o["answers"][i] for i in index], [o["stopped"][i] for i in index],
                                   records, embedder) for name, o in (("base", base), ("finetuned", tuned))}
        out[kind] = {"n": len(index), **pair, "delta": M.deltas(pair["base"], pair["finetuned"])}
    return out


def catalog_descriptions(folder: Path, rows: list[dict]) -> dict:
    """uid -> description of every record the rows ask about or show, from the prepared catalog."""
    from productqa.catalog import Catalog

    wanted = {row["id"] for row in rows} | {uid for row in rows for uid in (row.get("context") or [])}
    catalog = Catalog(Path(folder) / "catalog.sqlite")
    try:
        found = {uid: catalog.get(uid) for uid in sorted(wanted)}
    finally:
        catalog.close()
    missing = sorted(uid for uid, record in found.items() if record is None)
    if missing:
        raise UserError(f"{folder}/catalog.sqlite lacks records the {len(rows)} questions use (e.g. {missing[0]}): "
                        f"evaluate with the catalog prepared together with the split (--data)")
    return {uid: record.description for uid, record in found.items()}


def _run_model(model, tokenizer, prompts, rows, system_prompt, settings: Settings, label: str) -> dict:
    out = generate(model, tokenizer, prompts, settings.max_new_tokens, settings.batch_size,
                   settings.progress, desc=f"{label}: answers")
    out["loss"] = answer_loss(model, tokenizer, rows, system_prompt, settings.batch_size, settings.progress,
                              desc=f"{label}: loss")
    return out


def replace_dir(tmp: Path, final: Path) -> None:
    """Put the finished folder `tmp` in place of `final` (a rename; the old one goes only after)."""
    old = final.with_name(f".{final.name}.old-{os.getpid()}")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def evaluate(run_dir: Path, settings: Settings, data: Path | str | None = None, device: str | None = None,
             args=None, log=print) -> dict:
    """Evaluate base vs fine-tuned for the run in run_dir; returns metrics.json's content."""
    from productqa.meta import library_versions, write_meta
    from productqa.report import write_report

    run_dir = Path(run_dir)
    meta = run_meta(run_dir)
    system_prompt = meta.get("system_prompt")
    folder = data_folder(meta, data)
    rows, split_path = load_split(folder, settings.split, settings.limit)
    base_path = base_model_path(meta)

    log(f"evaluating {run_dir.name}: {len(rows)} {settings.split} questions from {split_path}, "
        f"base {base_path}, max {settings.max_new_tokens} new tokens")
    records = catalog_descriptions(folder, rows)
    model, tokenizer, originals = load_models(run_dir, base_path, device, meta.get("token_repair"))
    prompts = [prompt_text(tokenizer, row, system_prompt) for row in rows]
    references = [answer_of(row) for row in rows]

    # the tokenizer itself is part of "the chat template": a re-converted tokenizer must not hit old answers
    backend = getattr(tokenizer, "backend_tokenizer", None)
    template = (tokenizer.chat_template or "") + (backend.to_str() if backend is not None else str(len(tokenizer)))
    key, key_fields = base_cache_key(base_path, file_sha256(split_path), settings, template, system_prompt,
                                     str(model.device), str(model.dtype).replace("torch.", ""))
    base = read_base_cache(key, len(rows)) if settings.use_cache else None
    reused = base is not None
    if reused:
        log(f"base model: answers re-used from {base_cache_path(key)}")
    else:
        with model.disable_adapter(), swapped(model, originals):
            base = _run_model(model, tokenizer, prompts, rows, system_prompt, settings, "base")
        base["cache_key_fields"] = key_fields
        write_json(base_cache_path(key), base)
    tuned = _run_model(model, tokenizer, prompts, rows, system_prompt, settings, "fine-tuned")

    log("scoring (right record, citations, refusals, ROUGE, chrF, MiniLM embeddings)")
    embedder = M.load_embedder()
    result = {
        "base": {**score(base), "cached": reused},
        "finetuned": {**score(tuned), "cached": False},
        "suites": suites(rows, base, tuned, records, embedder),
        "n": len(rows),
        "settings": {**{k: v for k, v in asdict(settings).items() if k not in ("progress",)},
                     "run": str(run_dir), "run_name": run_dir.name, "data": str(folder),
                     "k": max((len(row["context"]) for row in rows if row.get("context")), default=None),
                     "split_file": str(split_path), "data_sha256": key_fields["data_sha256"],
                     "base_model": meta.get("base_model"), "base_model_path": base_path,
                     "chat_template": meta.get("chat_template"), "system_prompt": system_prompt,
                     "device": str(model.device), "dtype": str(model.dtype).replace("torch.", ""),
                     "cpu_threads": _threads(), "hardware": _hardware(model.device),
                     "base_cache": str(base_cache_path(key)),
                     "versions": library_versions()},
    }
    result["delta"] = M.deltas(result["base"], result["finetuned"])
    samples = [{"id": row.get("id"), "kind": row.get("kind"), "context": row.get("context"),
                "question": question_of(row), "reference": ref,
                "base": base["answers"][i], "finetuned": tuned["answers"][i],
                "base_stopped": base["stopped"][i], "finetuned_stopped": tuned["stopped"][i]}
               for i, (row, ref) in enumerate(zip(rows, references))]

    final = run_dir / EVAL
    tmp = run_dir / f".{EVAL}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        write_json(tmp / "metrics.json", result)
        write_jsonl(tmp / "samples.jsonl", samples)
        write_report(tmp, run_dir=run_dir, examples=settings.examples)
        write_meta(tmp / "meta.json", "evaluate", args if args is not None else asdict(settings),
                   n=len(rows), base_cache_key=key)
        replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result


def _hardware(device) -> str:
    import platform

    import torch

    if str(device).startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def _threads() -> int:
    import torch

    return torch.get_num_threads()
