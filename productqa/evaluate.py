"""Base model vs fine-tuned model, suite by suite: generate, score, bootstrap, write runs/<name>/eval/.

One load serves both models: the base checkpoint with the run's LoRA adapter on top, and the base
model is the same weights with the adapter disabled (and the end-of-turn row repair undone: the base
is the model as published). Both get the same prompts (the run's tokenizer and chat template, the
run's system prompt, the same catalog records), greedy decoding, batched with left padding, stopping
on the tokenizer's eos or <end_of_turn>.

The suites, each base vs fine-tuned on the same questions (the first --per-suite rows of each):
    grounded             held-out products, their record among k shown: right record, citation
                         accuracy, invented citations, ROUGE-L/chrF/cosine to the record
    partial              the same, the product named by part of its title (titles.partial_titles)
    followup             the same, asked with a follow-up question after the one that named the product
    factual              held-out fact rows: a fact the record states ("Who wrote it?"), asked again with a
                         phrasing held out of training (prompts/facts.yaml's ask_heldout, follow_heldout;
                         the same records, and a follow-up's earlier question): the fact's words, the
                         right citation, short, no false "not in the catalog" or "does not say"
    unanswerable         held-out not-said rows: a fact the record does not mention, asked the same way:
                         says "the record does not say", invents nothing, cites the record
    absent               held-out products, their record left out: share answered "not in the catalog"
    closed_book_trained  products trained closed book (train split), asked with a phrasing held out of
                         training (prompts/questions_heldout*.txt): how much of the description came back
    closed_book          held-out products, no records: style only (the model never saw them)
Every suite also reports the share of answers that stopped by themselves, answer length and the
teacher-forced loss of the reference, each with the 95% paired-bootstrap interval of its delta
(metrics.paired_bootstrap); productqa.fact_scores defines the factual suites' figures. Retrieval
(precision@1, recall@k of the catalog on every question asked; a follow-up's records are those its
earlier question found, a fact row asked as a follow-up's too) is the same for both models and is reported
once, with its own interval, and so is what the chat's code decides on partial titles and follow-ups
(answered, listed as "did you mean", another product, the product in focus kept, for follow-ups and
for the factual suites' follow-ups: `decisions`).

The base model's results depend only on the base model, the questions and the settings, not on the
adapter, so they are cached in <cache>/eval-base/<key>.json (cache = ~/.cache/productqa or
$PRODUCTQA_CACHE) with key = sha256 of (base model path, the conversations asked, max_new_tokens,
batch size, device, dtype, chat template and tokenizer, system prompt); a new training run re-uses them.

Outputs are written into <out>/../.eval.tmp-<pid>/ and renamed to <out> (runs/<name>/eval/ by default)
only when everything is done: an interrupted evaluation leaves the previous complete one (or none),
never a partial one under the final name.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, replace
from types import SimpleNamespace
from pathlib import Path

from productqa import attribution, fact_scores, facts, grounded
from productqa import metrics as M
from productqa.chat_format import answer_of, conversation_ids, prompt_text, question_of, read_conversations
from productqa.errors import UserError
from productqa.families import stop_token_ids
from productqa.files import read_json, temp_sibling, write_json, write_jsonl
from productqa.paths import cache_dir
from productqa.prompts import question_for, read_heldout_templates
from productqa.report import suite_of
from productqa.runs import ADAPTER, base_model_path, data_folder, run_meta
from productqa.stage_args import EvalSettings  # declared there with 03_evaluate's flags
from productqa.tokens import apply_repair, swapped

EVAL = "eval"
CACHE_VERSION = 3
TRAINED = "closed_book_trained"
SUITE_OF_KIND = {"fact": "factual", "not_said": "unanswerable"}  # a held-out row's suite, where it is not its kind
FACT_SUITES = tuple(SUITE_OF_KIND.values())  # asked again with held-out phrasings, scored by productqa.fact_scores
SUITES = ("grounded", "partial", "followup", *FACT_SUITES, "absent", TRAINED, "closed_book")  # report order
HELD_OUT_KINDS = ("grounded", "partial", "followup", *SUITE_OF_KIND, "absent", "closed_book")  # read from the held-out split
GPU_PER_SUITE = 200  # a share's 95% interval is then about ±0.07 at most
CPU_PER_SUITE = 5    # the CPU demo: ~20 questions, a couple of minutes of generation
GPU_BATCH, CPU_BATCH = 32, 8  # a 270M model batches 32 prompts of ~500 tokens in a fraction of a GPU
HELDOUT_SEED = 0     # picks which held-out phrasing a trained product is asked with


def for_device(settings: EvalSettings, device: str) -> EvalSettings:
    """The settings with --per-suite and --batch-size filled in for the device when not given: a real
    sample on a GPU, a small demo on a CPU."""
    cuda = str(device).startswith("cuda")
    per_suite = settings.per_suite if settings.per_suite is not None else GPU_PER_SUITE if cuda else CPU_PER_SUITE
    batch_size = settings.batch_size if settings.batch_size is not None else GPU_BATCH if cuda else CPU_BATCH
    return replace(settings, per_suite=per_suite, batch_size=batch_size)


# -----------------------------------------------------------------------------------------------
# the stage; the helpers it calls follow, grouped by subject

def evaluate(run_dir: Path, settings: EvalSettings, data: Path | str | None = None, device: str | None = None,
             args=None, log=print, out: Path | str | None = None) -> dict:
    """Evaluate base vs fine-tuned for the run in run_dir into `out` (default run_dir/eval); returns
    metrics.json's content."""
    run_dir = Path(run_dir)
    meta = run_meta(run_dir)
    system_prompt = meta.get("system_prompt")
    folder = data_folder(meta, data)
    device = pick_device(device)
    defaults = {"per_suite_default": settings.per_suite is None, "batch_size_default": settings.batch_size is None}
    settings = for_device(settings, device)
    rows, files = load_questions(folder, settings.split, settings.per_suite)
    base_path = base_model_path(meta)
    shown = max((len(row["context"]) for row in rows if row.get("context")), default=None)
    k = settings.retrieval_k or shown or 3

    counts = ", ".join(f"{suite} {sum(suite_of(row) == suite for row in rows)}" for suite in SUITES)
    log(f"evaluating {run_dir.name}: {len(rows)} questions ({counts}) from {folder}, base {base_path}, "
        f"max {settings.max_new_tokens} new tokens")
    records = catalog_descriptions(folder, rows)
    retrieved = retrieve(folder, rows, k)
    model, tokenizer, originals = load_models(run_dir, base_path, device, meta.get("token_repair"))
    prompts = [prompt_text(tokenizer, row, system_prompt) for row in rows]

    key, key_fields = cache_key_for(model, tokenizer, base_path, rows, settings, system_prompt)
    base, reused = base_answers(model, tokenizer, originals, prompts, rows, system_prompt, settings, key,
                                key_fields, log)
    tuned = _run_model(model, tokenizer, prompts, rows, system_prompt, settings, "fine-tuned")

    log(f"scoring (right record, citations, refusals, ROUGE, chrF, MiniLM embeddings; "
        f"{settings.resamples} bootstrap resamples)")
    embedder = M.load_embedder()
    result = {
        "base": {**score(base), "cached": reused},
        "finetuned": {**score(tuned), "cached": False},
        "suites": suites(rows, base, tuned, records, embedder, settings.resamples, settings.seed),
        "retrieval": {**retrieval(rows, retrieved, k, settings.resamples, settings.seed),
                      "shared_titles": shared_titles(folder, Path(files["held_out"]), k),
                      "decisions": decisions(folder, rows, k, settings.resamples, settings.seed)},
        "n": len(rows),
        "settings": settings_record(settings, defaults, run_dir, meta, folder, files, k, shown, key, key_fields,
                                    base_path, model),
    }
    result["delta"] = M.deltas(result["base"], result["finetuned"])
    write_eval(Path(out) if out else run_dir / EVAL, result, sample_rows(rows, base, tuned, retrieved), run_dir,
               settings, args, key)
    return result


# ---------------------------------------------------------------------------------------------------
# data and prompts

def split_path(folder: Path, split: str) -> Path:
    path = Path(folder) / f"{split}.jsonl"
    if not path.is_file():
        raise UserError(f"no {split} split at {path}: run scripts/01_prepare.py or pass --data/--split")
    return path


def first_of_kinds(path: Path, kinds: tuple[str, ...], n: int) -> dict[str, list[dict]]:
    """The first n rows of each kind in a JSON Lines split, read only as far as needed (a train split
    of the real data is gigabytes)."""
    found: dict[str, list[dict]] = {kind: [] for kind in kinds}
    for row in read_conversations(path, fields=("id", "title")):
        rows = found.get(row.get("kind", "closed_book"))
        if rows is not None and len(rows) < n:
            rows.append(row)
            if all(len(rows) >= n for rows in found.values()):
                break
    return found


def trained_row(row: dict, templates: list[str]) -> dict:
    """A closed-book train row asked again with a held-out phrasing; the reference stays its description."""
    question = question_for(row["title"], row["id"], templates, HELDOUT_SEED)
    return {"id": row["id"], "title": row["title"], "kind": "closed_book", "suite": TRAINED,
            "question": question, "training_question": row.get("question"), "context": None,
            "conversations": [{"from": "human", "value": grounded.user_turn(question, None)},
                              {"from": "gpt", "value": answer_of(row)}]}


def heldout_fact_question(row: dict) -> str:
    """The question a fact or not-said row is asked again with: its fact, in its language, in a phrasing
    held out of training (prompts/facts.yaml's ask_heldout, or follow_heldout for a follow-up, which
    names no product), picked by the row's id as 01_prepare picks the trained one."""
    fact, follow = row["fact"], is_followup(row)
    return facts.question(facts.Asked(fact["kind"], fact.get("noun")), None if follow else row["title"],
                          fact["language"], "follow_heldout" if follow else "ask_heldout", row["id"], HELDOUT_SEED)


def reasked_fact_row(row: dict, shown: list[grounded.Record]) -> dict:
    """A held-out fact or not-said row asked with heldout_fact_question, its user turn built as the row's
    (`shown`: the row's records, in its order; a follow-up's earlier question kept); the reference stays
    its answer. The question it was prepared with is kept as "prepared_question"."""
    question = heldout_fact_question(row)
    return {**row, "suite": SUITE_OF_KIND[row["kind"]], "question": question, "prepared_question": row["question"],
            "conversations": [{"from": "human", "value": grounded.user_turn(question, shown, row.get("earlier"))},
                              {"from": "gpt", "value": answer_of(row)}]}


def reask_facts(folder: Path, rows: list[dict]) -> list[dict]:
    """reasked_fact_row of each row, its records read from the catalog prepared with the split: they must
    give back the row's own user turn with its own question, or the prompts would not be the row's."""
    from productqa.catalog import Catalog

    if not rows:
        return []
    out = []
    with Catalog(Path(folder) / "catalog.sqlite") as catalog:
        for row in rows:
            shown = [catalog.get(uid) for uid in row["context"]]
            if None in shown or grounded.user_turn(row["question"], shown, row.get("earlier")) != \
                    row["conversations"][0]["value"]:
                raise UserError(f"{folder}/catalog.sqlite does not hold the records row {row['id']} ({row['kind']}) "
                                f"shows: evaluate with the catalog prepared together with the split (--data)")
            out.append(reasked_fact_row(row, shown))
    return out


def load_questions(folder: Path, split: str, per_suite: int) -> tuple[list[dict], dict[str, str]]:
    """Every suite's rows (each tagged with "suite"), in SUITES order, and the files they came from."""
    held_path = split_path(folder, split)
    held = first_of_kinds(held_path, HELD_OUT_KINDS, per_suite)
    if not any(held.values()):
        raise UserError(f"{held_path} has no questions: prepare more records (--max-records) or pick another --split")
    train_path = split_path(folder, "train")
    templates = read_heldout_templates()
    trained = [trained_row(row, templates) for row in first_of_kinds(train_path, ("closed_book",), per_suite)["closed_book"]]
    by_suite = {kind: [{**row, "suite": kind} for row in rows] for kind, rows in held.items() if kind not in SUITE_OF_KIND}
    by_suite.update({suite: reask_facts(folder, held[kind]) for kind, suite in SUITE_OF_KIND.items()})
    by_suite[TRAINED] = trained
    return [row for suite in SUITES for row in by_suite[suite]], {"held_out": str(held_path), "trained": str(train_path)}


def rows_sha256(rows: list[dict]) -> str:
    """What the models are asked and scored against, in order: the conversations themselves."""
    return hashlib.sha256(json.dumps([row["conversations"] for row in rows], sort_keys=True,
                                     ensure_ascii=False).encode()).hexdigest()


# ---------------------------------------------------------------------------------------------------
# generation and loss

def _bar(total: int, desc: str, enabled: bool):
    from productqa.progress import progress

    return progress(total=total, desc=desc, unit="q", enabled=enabled)


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


def answer_loss(model, tokenizer, rows: list[dict], system_prompt: str | None, batch_size: int,
                progress: bool = True, desc: str = "loss") -> dict:
    """Teacher-forced loss of the reference answers, answer tokens only:
    {"loss", "perplexity", "tokens", "rows": [[summed loss, tokens] of each row]}.

    Vocabularies are large (Gemma: 262k), so logits are computed only at the positions that predict an
    answer token, a chunk at a time, from the decoder's last hidden states (LoRA layers included).
    """
    import torch
    import torch.nn.functional as F

    pairs = [conversation_ids(tokenizer, row, system_prompt) for row in rows]
    pad_id = tokenizer.pad_token_id or 0
    causal_lm = model.get_base_model() if hasattr(model, "get_base_model") else model
    softcap = getattr(causal_lm.config, "final_logit_softcapping", None)
    per_row = []
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
                total = 0.0
                for j in range(0, len(targets), 512):
                    logits = causal_lm.lm_head(states[j:j + 512]).float()
                    if softcap:
                        logits = torch.tanh(logits / softcap) * softcap
                    total += F.cross_entropy(logits, targets[j:j + 512], reduction="sum").item()
                per_row.append([total, len(targets)])
            bar.update(len(chunk))
    total, tokens = sum(loss for loss, _ in per_row), sum(count for _, count in per_row)
    return {"loss": total / tokens, "perplexity": M.perplexity(total, tokens), "tokens": tokens, "rows": per_row}


# ---------------------------------------------------------------------------------------------------
# the base model's cache

def base_cache_key(base_model_path: str, questions_sha256: str, settings: EvalSettings, chat_template: str | None,
                   system_prompt: str | None, device: str = "cpu", dtype: str = "float32") -> tuple[str, dict]:
    """Everything the base answers depend on: the conversations asked (rows_sha256: split, suites,
    per-suite count and held-out phrasings all show there), generation settings, batch size included
    (left padding changes the numerics), device, dtype, template and system prompt."""
    fields = {"version": CACHE_VERSION, "base_model_path": str(base_model_path), "questions_sha256": questions_sha256,
              "max_new_tokens": settings.max_new_tokens, "batch_size": settings.batch_size, "device": device,
              "dtype": dtype, "chat_template_sha256": hashlib.sha256((chat_template or "").encode()).hexdigest(),
              "system_prompt": system_prompt}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24], fields


def cache_key_for(model, tokenizer, base_path: str, rows: list[dict], settings: EvalSettings,
                  system_prompt: str | None) -> tuple[str, dict]:
    """base_cache_key of this loaded model and tokenizer for these questions."""
    # the tokenizer itself is part of "the chat template": a re-converted tokenizer must not hit old answers
    backend = getattr(tokenizer, "backend_tokenizer", None)
    template = (tokenizer.chat_template or "") + (backend.to_str() if backend is not None else str(len(tokenizer)))
    return base_cache_key(base_path, rows_sha256(rows), settings, template, system_prompt, str(model.device),
                          str(model.dtype).replace("torch.", ""))


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

def pick_device(device: str | None = None) -> str:
    """--device, else cuda when there is one."""
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.empty(0, device=device)
    except (RuntimeError, AssertionError) as err:  # a torch without CUDA asserts; a bad name is a RuntimeError
        raise UserError(f"--device {device} is not usable here ({str(err).splitlines()[0]}): pass --device cpu, "
                        "or leave it out") from None
    return device


def load_models(run_dir: Path, base_path: str, device: str | None = None, repair: dict | None = None):
    """(model with the adapter, tokenizer saved with the run, original rows of the repair).

    The base model is `with model.disable_adapter(), tokens.swapped(model, originals):`.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from productqa.models import hub_error

    device = pick_device(device)
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


def subset(outputs: dict, index: list[int]) -> dict:
    """One model's per-question outputs for the questions at `index`."""
    return {"answers": [outputs["answers"][i] for i in index], "stopped": [outputs["stopped"][i] for i in index],
            "new_tokens": [outputs["new_tokens"][i] for i in index],
            "loss_rows": [outputs["loss"]["rows"][i] for i in index]}


def suite_statistics(suite: str, rows: list[dict], outputs: dict, records: dict, embedder) -> dict:
    """The figures of one suite for one model, as metrics.Statistic (name -> statistic).

    outputs holds the model's "answers" and "stopped" for these rows, and optionally "new_tokens" and
    "loss_rows" ([summed loss, tokens] each); `records` maps uid -> description.
    """
    answers = outputs["answers"]
    stats = {"stopped_fraction": M.mean_of([bool(s) for s in outputs["stopped"]]),
             "mean_answer_words": M.mean_of([len(a.split()) for a in answers])}
    if "new_tokens" in outputs:
        stats["mean_new_tokens"] = M.mean_of(outputs["new_tokens"])
    if "loss_rows" in outputs:
        losses, tokens = zip(*outputs["loss_rows"])
        stats.update(loss=M.ratio_of(losses, tokens), perplexity=M.ratio_of(losses, tokens, exp=True))
    if suite == "absent":
        stats["refused"] = M.mean_of([grounded.is_refusal(a) for a in answers])
        return stats
    if suite in FACT_SUITES:
        scored = [fact_answer_scores(suite, row, answer, records) for row, answer in zip(rows, answers)]
        stats.update({name: M.mean_of([s[name] for s in scored]) for name in scored[0]})
        return stats
    descriptions = [records[row["id"]] for row in rows]
    texts = [grounded.strip_citations(a) for a in answers] if suite in grounded.ANSWERED else answers
    stats.update(M.text_statistics(texts, descriptions, embedder))
    if suite in grounded.ANSWERED:
        right, cited, invented, starred, wrong_star, refused = [], [], [], [], [], []
        for row, answer, text, gold in zip(rows, answers, texts, descriptions):
            shown = [SimpleNamespace(uid=uid, description=records[uid]) for uid in row["context"]]
            # a record with the gold's very description (another edition) is no other record to tell apart
            right.append(M.right_record(text, gold, [records[uid] for uid in row["context"] if records[uid] != gold]))
            uids, bad_numbers = grounded.cited_sources(answer, shown)
            cited.append(uids == [row["id"]] and not bad_numbers)
            invented.append(bool(bad_numbers))
            star = {shown[i].uid for i in attribution.supporting(answer, [r.description for r in shown],
                                                                 asked={row["context"].index(row["id"])})}
            starred.append(row["id"] in star)
            wrong_star.append(any(records[uid] != gold for uid in star))
            refused.append(grounded.is_refusal(answer))
        stats.update(right_record=M.mean_of(right), citation_accuracy=M.mean_of(cited),
                     invented_citation=M.mean_of(invented), right_starred=M.mean_of(starred),
                     wrong_starred=M.mean_of(wrong_star), false_refusal=M.mean_of(refused))
    return stats


def fact_answer_scores(suite: str, row: dict, answer: str, records: dict) -> dict[str, bool]:
    """The productqa.fact_scores figures of one answer of a factual suite: the fact's words for "factual",
    the record's title and description (`records`: uid -> description) for "unanswerable"."""
    number = row["context"].index(row["id"]) + 1
    if suite == "factual":
        return fact_scores.fact_answer_scores(answer, row["fact"]["words"], number)
    return fact_scores.not_said_scores(answer, f"{row['title']}\n{records[row['id']]}", number,
                                       row.get("question", ""))


def suites(rows: list[dict], base: dict, tuned: dict, records: dict, embedder, resamples: int = 2000,
           seed: int = 0) -> dict:
    """{suite: {"n", "base", "finetuned", "delta", "ci", "significant"}} for every suite with questions."""
    out = {}
    for suite in SUITES:
        index = [i for i, row in enumerate(rows) if suite_of(row) == suite]
        if not index:
            continue
        chosen = [rows[i] for i in index]
        before, after = (suite_statistics(suite, chosen, subset(o, index), records, embedder) for o in (base, tuned))
        out[suite] = M.paired_bootstrap(before, after, resamples, seed)
    return out


def is_followup(row: dict) -> bool:
    """A question that names no product, asked after the `earlier` one that did: a followup row, or a
    fact or not-said row asked as a follow-up."""
    return "earlier" in row or row.get("kind") == "followup"


def naming_question(row: dict) -> str:
    """The question that named the row's product: a follow-up's earlier one (a followup row's, or a fact
    or not-said row's asked as a follow-up), else the row's own. The chat searches the catalog with it
    and shows its records again for the follow-up."""
    return row.get("earlier") or question_of(row)


def retrieve(folder: Path, rows: list[dict], k: int) -> list[list[str]]:
    """The uids the catalog returns for each question, best first (what 05_chat would show the model;
    for a follow-up, what its earlier question found: the chat shows those records again)."""
    from productqa.catalog import Catalog

    with Catalog(Path(folder) / "catalog.sqlite") as catalog:
        return [[source.uid for source in catalog.search(naming_question(row), k)] for row in rows]


# the suites whose follow-up rows (is_followup) `decisions` checks, and its name for each
FOLLOWUP_DECISIONS = {"followup": "followup", "factual": "factual_followups", "unanswerable": "unanswerable_followups"}


def decisions(folder: Path, rows: list[dict], k: int, resamples: int = 2000, seed: int = 0) -> dict:
    """What the chat's code decides before any model is asked, with bootstrap intervals. Partial titles:
    the product answered outright, listed as "did you mean" (or answered), another product answered.
    Follow-ups (FOLLOWUP_DECISIONS: the followup suite, and the factual suites' follow-ups): the question
    is taken as one (chat.follows_up), so the product in focus is kept."""
    from productqa.catalog import Catalog
    from productqa.chat import follows_up

    out = {}
    with Catalog(Path(folder) / "catalog.sqlite") as catalog:
        partial = [row for row in rows if suite_of(row) == "partial"]
        if partial:
            answered, reached, wrong = [], [], []
            for row in partial:
                look = catalog.lookup(question_of(row), k)
                gold = catalog.get(row["id"])
                same = lambda s: s.uid == row["id"] or (s.title, s.description) == (gold.title, gold.description)  # noqa: E731
                answered.append(look.found and same(look.sources[0]))
                reached.append(answered[-1] or any(same(c.source) for c in look.candidates))
                wrong.append(look.found and not same(look.sources[0]))
            out["partial"] = M.bootstrap({"answered": M.mean_of(answered), "answered_or_listed": M.mean_of(reached),
                                          "wrong_product": M.mean_of(wrong)}, resamples, seed)
        for suite, name in FOLLOWUP_DECISIONS.items():
            followup = [row for row in rows if suite_of(row) == suite and is_followup(row)]
            if followup:
                kept = [follows_up(question_of(row), catalog.lookup(question_of(row), k)) for row in followup]
                out[name] = M.bootstrap({"focus_kept": M.mean_of(kept)}, resamples, seed)
    return out


def shared_titles(folder: Path, path: Path, k: int) -> dict:
    """Every question of the split file that names a title several products share (different descriptions):
    how many the chat lists with all of those products (productqa.chat.shared_title), instead of one of
    them. A follow-up counts by its earlier question, the one that named the title (the chat lists them
    then), and a question once, however many rows follow it up (a product's fact rows)."""
    from productqa.catalog import Catalog
    from productqa.chat import shared_title
    from productqa.titles import normalize_title

    questions = {(row["id"], naming_question(row)): row["title"] for row in read_conversations(path)}
    asked = set(map(normalize_title, questions.values()))
    with Catalog(Path(folder) / "catalog.sqlite") as catalog:
        products: dict[str, set] = {}
        for title, description in catalog.db.execute("SELECT title, description FROM records"):
            key = normalize_title(title)
            if key in asked:
                products.setdefault(key, set()).add(normalize_title(description))
        shared = [(question, normalize_title(title)) for (_, question), title in questions.items()
                  if len(products.get(normalize_title(title), ())) > 1]
        listed = 0
        for question, title in shared:
            found = shared_title(catalog, question, catalog.search(question, k), k)
            listed += found is not None and {normalize_title(s.description) for s in found[1]} == products[title]
    return {"questions": len(shared), "listed_all": listed}


def retrieval(rows: list[dict], retrieved: list[list[str]], k: int, resamples: int = 2000, seed: int = 0) -> dict:
    """Precision@1 and recall@k of the catalog on every question asked, overall and per suite, with
    bootstrap intervals; the relevant record is the row's product (its uid), one per question."""
    def figures(index: list[int]) -> dict:
        stats = {"p_at_1": M.mean_of([retrieved[i][:1] == [rows[i]["id"]] for i in index]),
                 "recall_at_k": M.mean_of([rows[i]["id"] in retrieved[i] for i in index])}
        return M.bootstrap(stats, resamples, seed)

    result = {"k": k, **figures(list(range(len(rows)))), "by_suite": {}}
    for suite in SUITES:
        index = [i for i, row in enumerate(rows) if suite_of(row) == suite]
        if index:
            result["by_suite"][suite] = figures(index)
    return result


def catalog_descriptions(folder: Path, rows: list[dict]) -> dict:
    """uid -> description of every record the rows ask about or show, from the prepared catalog."""
    from productqa.catalog import Catalog

    wanted = {row["id"] for row in rows} | {uid for row in rows for uid in (row.get("context") or [])}
    with Catalog(Path(folder) / "catalog.sqlite") as catalog:
        found = {uid: catalog.get(uid) for uid in sorted(wanted)}
    missing = sorted(uid for uid, record in found.items() if record is None)
    if missing:
        raise UserError(f"{folder}/catalog.sqlite lacks records the {len(rows)} questions use (e.g. {missing[0]}): "
                        f"evaluate with the catalog prepared together with the split (--data)")
    return {uid: record.description for uid, record in found.items()}


def _run_model(model, tokenizer, prompts, rows, system_prompt, settings: EvalSettings, label: str) -> dict:
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


def base_answers(model, tokenizer, originals, prompts, rows, system_prompt, settings: EvalSettings, key: str,
                 key_fields: dict, log) -> tuple[dict, bool]:
    """The base model's outputs, from the cache when the same questions were asked before; (outputs, reused)."""
    base = read_base_cache(key, len(rows)) if settings.use_cache else None
    if base is not None:
        log(f"base model: answers re-used from {base_cache_path(key)}")
        return base, True
    with model.disable_adapter(), swapped(model, originals):
        base = _run_model(model, tokenizer, prompts, rows, system_prompt, settings, "base")
    base["cache_key_fields"] = key_fields
    write_json(base_cache_path(key), base)
    return base, False


def sample_rows(rows: list[dict], base: dict, tuned: dict, retrieved: list[list[str]]) -> list[dict]:
    """samples.jsonl: each question with both answers, the reference and what the catalog returned."""
    return [{"suite": suite_of(row), "id": row.get("id"), "kind": row.get("kind"), "context": row.get("context"),
             "question": question_of(row), "training_question": row.get("training_question"),
             "earlier": row.get("earlier"), "fact": row.get("fact"),
             "reference": answer_of(row), "base": base["answers"][i], "finetuned": tuned["answers"][i],
             "base_stopped": base["stopped"][i], "finetuned_stopped": tuned["stopped"][i],
             "retrieved": retrieved[i]}
            for i, row in enumerate(rows)]


def write_eval(final: Path, result: dict, samples: list[dict], run_dir: Path, settings: EvalSettings, args,
               key: str) -> None:
    """Write every output into a temporary sibling folder, then rename it onto `final`."""
    from productqa.meta import write_meta
    from productqa.report import write_report

    tmp = temp_sibling(final)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir(parents=True)
        write_json(tmp / "metrics.json", result)
        write_jsonl(tmp / "samples.jsonl", samples)
        write_report(tmp, run_dir=run_dir, examples=settings.examples)
        write_meta(tmp / "meta.json", "evaluate", args if args is not None else asdict(settings),
                   n=len(samples), base_cache_key=key)
        replace_dir(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def settings_record(settings: EvalSettings, defaults: dict, run_dir: Path, meta: dict, folder: Path, files: dict,
                    k: int, shown: int | None, key: str, key_fields: dict, base_path: str, model) -> dict:
    """metrics.json's "settings": everything needed to read the figures and to reproduce them."""
    from productqa.meta import library_versions

    return {**{name: v for name, v in asdict(settings).items() if name != "progress"}, **defaults,
            "retrieval_k": k, "k": shown, "run": str(run_dir), "run_name": run_dir.name, "data": str(folder),
            "split_file": files["held_out"], "trained_file": files["trained"],
            "questions_sha256": key_fields["questions_sha256"],
            "base_model": meta.get("base_model"), "base_model_path": base_path,
            "chat_template": meta.get("chat_template"), "system_prompt": meta.get("system_prompt"),
            "device": str(model.device), "dtype": key_fields["dtype"], "cpu_threads": _threads(),
            "hardware": _hardware(model.device), "epochs": meta.get("figures", {}).get("epochs"),
            "base_cache": str(base_cache_path(key)), "versions": library_versions()}


def _hardware(device) -> str:
    import platform

    import torch

    if str(device).startswith("cuda"):
        return torch.cuda.get_device_name(device)
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def _threads() -> int:
    import torch

    return torch.get_num_threads()
