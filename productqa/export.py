"""Stage 4: a training run -> merged 16-bit checkpoint -> f16 GGUF -> quantized GGUFs, each measured.

    export/<name>/<name>.<quant>.gguf   every quant asked for (and the f16 with --keep-f16)
    export/<name>/Modelfile             Ollama, serving the default quant (smallest that passes the gate)
    export/<name>/export.json           timings, sizes, quality gate, parity, the default file
    export/latest                       symlink to the newest export

Route: PEFT merge -> llama.cpp's converter (productqa.gguf) -> llama.cpp's quantizer. Unsloth's
save_pretrained_gguf needs apt and git; see productqa/gguf.py for the converter's vocabulary fix.
The quality gate feeds identical token ids to the f16 reference and to each quant (the training
tokenizer's rendering of held-out conversations) and compares perplexity on the answer tokens and
teacher-forced greedy (argmax) agreement over the first N answer tokens.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path

from productqa.errors import UserError
from productqa.files import atomic_open, write_json
from productqa.gguf import QUANT_TYPES, convert_to_gguf, quantize, quiet_stderr, read_metadata
from productqa.runs import ADAPTER, base_model_path, point_latest
from productqa.tokens import apply_repair

# bytes per parameter of each file type (llama.cpp block sizes), for the disk-space check
BYTES_PER_PARAM = {"f16": 2.0, "q8_0": 1.0625, "q6_k": 0.82, "q5_k_m": 0.69, "q4_k_m": 0.6, "q4_0": 0.5625,
                   "q3_k_m": 0.49}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "chat_template.json",
                   "special_tokens_map.json", "tokenizer.model", "added_tokens.json")


def parse_quants(text: str) -> list[str]:
    quants = [q.strip().lower() for q in text.split(",") if q.strip()]
    unknown = [q for q in quants if q != "f16" and q not in QUANT_TYPES]
    if unknown or not quants:
        raise UserError(f"--quant {text!r}: choose from f16, {', '.join(QUANT_TYPES)} (comma-separated)")
    return list(dict.fromkeys(quants))


def check_disk(folder: Path, n_params: int, quants: list[str]) -> int:
    """Raise UserError unless `folder`'s disk holds merged + f16 + every quant (with 10% slack)."""
    need = int(n_params * (2 + 2 + sum(BYTES_PER_PARAM.get(q, 2.0) for q in quants if q != "f16")) * 1.1)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need:
        raise UserError(f"not enough free disk space in {probe}: the export needs ~{need / 1e9:.1f} GB and "
                        f"{free / 1e9:.1f} GB is free; free some space or pass another --out")
    return need


# ---------------------------------------------------------------------------------------------
# merge

def merge(run_dir: Path, meta: dict, merged_dir: Path):
    """Base + LoRA adapter -> merged model saved in float16 at `merged_dir`; returns (model fp32, n_params).

    PEFT's merge_and_unload rather than Unsloth's save_pretrained_merged: the same arithmetic
    (W + scale * B @ A), and on this CPU route it avoids Unsloth's ~9 s import and its patching of the
    model classes for a one-off merge of a plain local base folder; the saved folder is the same
    "merged_16bit" checkpoint.
    """
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = Path(run_dir) / ADAPTER
    base = base_model_path(meta, progress=False)
    try:
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    except OSError as err:
        raise UserError(f"cannot load the base model {base} named in {run_dir}/meta.json: {err}") from None
    apply_repair(model, meta.get("token_repair"))  # the end-of-turn row training started from
    try:
        model = PeftModel.from_pretrained(model, adapter)
    except (RuntimeError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0][:200]
        raise UserError(f"the adapter in {adapter} does not fit the base model {base} ({first}): "
                        f"export with the base it was trained on") from None
    model = model.merge_and_unload()
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    model.to(torch.float16)
    model.save_pretrained(merged_dir)
    model.to(torch.float32)  # the HF reference for the parity check: the saved f16 weights, upcast
    source = adapter if (adapter / "tokenizer_config.json").is_file() else Path(base)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy2(source / name, Path(merged_dir) / name)
    return model, n_params


# ---------------------------------------------------------------------------------------------
# held-out conversations -> token ids

def gate_rows(data_dir: Path, n: int) -> list[dict]:
    path = Path(data_dir) / "test.jsonl"
    if not path.is_file():
        raise UserError(f"no held-out answers at {path}: run scripts/01_prepare.py or pass --data")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                rows.append(json.loads(line))
            if len(rows) >= n:
                break
    if not rows:
        raise UserError(f"{path} is empty: prepare more data or pass another --data")
    return rows


def encode_rows(tokenizer, rows: list[dict], system_prompt: str | None, max_tokens: int) -> list[dict]:
    """Each row -> {"ids": prompt + answer ids (at most `max_tokens` of answer), "start": first answer index}."""
    from productqa.chat_format import to_messages

    def ids(messages, generation):
        out = tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation)
        return list(out["input_ids"] if isinstance(out, dict) or hasattr(out, "keys") else out)

    encoded = []
    for row in rows:
        prompt = ids(to_messages(row, system_prompt, with_answer=False), True)
        full = ids(to_messages(row, system_prompt), False)
        if full[:len(prompt)] != prompt or len(full) <= len(prompt):
            continue
        encoded.append({"ids": full[:len(prompt) + max_tokens], "start": len(prompt)})
    return [e for e in encoded if len(e["ids"]) > e["start"]]


# ---------------------------------------------------------------------------------------------
# llama.cpp measurements

def load_gguf(path: Path, n_ctx: int):
    from llama_cpp import Llama

    try:
        with quiet_stderr():
            return Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False,
                         n_threads=os.cpu_count(), seed=0)
    except (ValueError, RuntimeError) as err:
        raise UserError(f"llama.cpp cannot load {path}: {err}") from None


def score(llm, encoded: list[dict], first_n: int) -> dict:
    """Answer-token NLL (all answer tokens) and argmax ids over the first `first_n` answer tokens."""
    import numpy as np

    nll, count, argmax = 0.0, 0, []
    for item in encoded:
        ids, start = item["ids"], item["start"]
        llm.reset()
        llm.eval(ids)
        logits = np.asarray(llm.scores[start - 1:len(ids) - 1], dtype=np.float64)
        logits -= logits.max(axis=1, keepdims=True)
        logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        targets = np.asarray(ids[start:])
        nll -= float(logp[np.arange(len(targets)), targets].sum())
        count += len(targets)
        argmax.append(logits[:first_n].argmax(axis=1).tolist())
    return {"nll": nll / count, "ppl": math.exp(nll / count), "tokens": count, "argmax": argmax}


def agreement(reference: list[list[int]], other: list[list[int]]) -> float:
    same = sum(a == b for ref, oth in zip(reference, other) for a, b in zip(ref, oth))
    total = sum(min(len(ref), len(oth)) for ref, oth in zip(reference, other))
    return same / total if total else 1.0


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
    """Plain argmax decoding with full forward passes: no generation_config (penalties, cache kinds) involved."""
    import torch

    ids, out = list(prompt), []
    with torch.no_grad():
        for _ in range(max_new):
            token = int(model(torch.tensor([ids])).logits[0, -1].argmax())
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


def gate(results: dict, max_ppl_ratio: float, min_agreement: float = 0.0) -> str:
    """Mark each quant passed/failed in place; return the default: the smallest passing file, else f16."""
    for quant, r in results.items():
        r["passed"] = quant == "f16" or (r["ppl_ratio"] <= max_ppl_ratio and r["agreement"] >= min_agreement)
    passing = [q for q, r in results.items() if r["passed"]]
    return min(passing, key=lambda q: (results[q]["bytes"], q))


# ---------------------------------------------------------------------------------------------
# files

def load_checked(tmp: Path, final: Path, n_ctx: int = 64) -> Path:
    """Rename `tmp` onto `final` only after llama.cpp has loaded it."""
    llm = load_gguf(tmp, n_ctx)
    del llm
    os.replace(tmp, final)
    return final


def format_table(results: dict, default: str) -> str:
    rows = [f"{'file':<34} {'bytes':>13} {'B/param':>8} {'ppl':>9} {'ratio':>7} {'agree':>6}  gate"]
    for quant, r in results.items():
        mark = "reference" if quant == "f16" else ("pass" if r["passed"] else "FAIL")
        if quant == default:
            mark += " (default)"
        rows.append(f"{r['file']:<34} {r['bytes']:>13,} {r['bytes_per_param']:>8.3f} {r['ppl']:>9.3f} "
                    f"{r['ppl_ratio']:>7.3f} {r['agreement']:>6.1%}  {mark}")
    return "\n".join(rows)


def push_to_hub(out: Path, repo: str) -> str:
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise UserError(f"--push-to-hub {repo}: offline mode is on (HF_HUB_OFFLINE=1); push where there is a network")
    try:
        from huggingface_hub import HfApi

        api = HfApi()
        api.create_repo(repo, exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=repo, allow_patterns=["*.gguf", "Modelfile", "export.json"])
    except Exception as err:  # noqa: BLE001 - any hub failure is one sentence for the user
        raise UserError(f"--push-to-hub {repo} failed ({type(err).__name__}): check the network and "
                        f"`huggingface-cli login`; the export itself is complete in {out}") from None
    return f"https://huggingface.co/{repo}"


# ---------------------------------------------------------------------------------------------
# the stage

def export(run_dir: Path, meta: dict, out: Path, name: str, quants: list[str], data_dir: Path,
           keep_f16: bool = False, gate_samples: int = 6, gate_tokens: int = 32, max_ppl_ratio: float = 1.10,
           parity_samples: int = 3, parity_tokens: int = 24, max_tokens: int = 128,
           description: str | None = None, log=print) -> dict:
    from transformers import AutoTokenizer

    from productqa.modelfile import modelfile_text

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for stale in out.glob(".*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()
    adapter = Path(run_dir) / ADAPTER
    tokenizer = AutoTokenizer.from_pretrained(adapter if (adapter / "tokenizer_config.json").is_file()
                                              else meta["base_model_path"])
    system_prompt = meta.get("system_prompt")
    rows = gate_rows(data_dir, max(gate_samples, parity_samples))
    figures: dict = {"run": str(run_dir), "name": name, "base_model": meta.get("base_model"),
                     "chat_template": meta.get("chat_template"), "system_prompt": system_prompt}

    # merge -----------------------------------------------------------------------------------
    merged_dir = out / f".merged.tmp-{os.getpid()}"
    try:
        started = time.perf_counter()
        log("merging the LoRA adapter into the base weights...")
        model, n_params = merge(run_dir, meta, merged_dir)
        figures["merge_seconds"] = round(time.perf_counter() - started, 2)
        figures["n_params"] = n_params
        figures["disk_needed_bytes"] = check_disk(out, n_params, quants)

        # convert -----------------------------------------------------------------------------
        started = time.perf_counter()
        log("converting to an f16 GGUF with llama.cpp's converter...")
        f16 = out / f"{name}.f16.gguf"
        base_meta = _base_metadata(meta)
        metadata = {"general.name": name, "general.description": description or
                    f"productqa: {meta.get('base_model')} fine-tuned to describe catalog products by title",
                    **base_meta}
        if base_meta.get("general.license"):  # the converter takes the license from the model card only
            (merged_dir / "README.md").write_text(f"---\nlicense: {base_meta.pop('general.license')}\n---\n",
                                                  encoding="utf-8")
        metadata.pop("general.license", None)
        tmp = out / f".{f16.name}.tmp-{os.getpid()}"
        convert_to_gguf(merged_dir, tmp, "f16", metadata=metadata)
        load_checked(tmp, f16)
        figures["convert_seconds"] = round(time.perf_counter() - started, 2)
    finally:
        shutil.rmtree(merged_dir, ignore_errors=True)

    # quantize ------------------------------------------------------------------------------------
    files = {"f16": f16}
    figures["quantize_seconds"] = {}
    for quant in quants:
        if quant == "f16":
            continue
        started = time.perf_counter()
        log(f"quantizing to {quant}...")
        final = out / f"{name}.{quant}.gguf"
        tmp = out / f".{final.name}.tmp-{os.getpid()}"
        try:
            quantize(f16, tmp, quant)
            files[quant] = load_checked(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        figures["quantize_seconds"][quant] = round(time.perf_counter() - started, 2)

    # quality gate: every quant against the f16 reference ------------------------------------------
    encoded = encode_rows(tokenizer, rows[:gate_samples], system_prompt, max_tokens)
    if not encoded:
        raise UserError(f"no usable held-out conversations in {data_dir}/test.jsonl for the quality gate")
    n_ctx = max(len(e["ids"]) for e in encoded) + parity_tokens + 8
    results = {}
    reference = None
    for quant, path in files.items():
        log(f"measuring {path.name} on {len(encoded)} held-out answers...")
        llm = load_gguf(path, n_ctx)
        scored = score(llm, encoded, gate_tokens)
        if quant == "f16":
            reference = scored
            f16_llm = llm
        else:
            del llm
        size = path.stat().st_size
        results[quant] = {"file": path.name, "bytes": size, "bytes_per_param": round(size / n_params, 4),
                          "ppl": round(scored["ppl"], 4), "ppl_ratio": round(scored["ppl"] / reference["ppl"], 4),
                          "agreement": round(agreement(reference["argmax"], scored["argmax"]), 4)}
    default = gate(results, max_ppl_ratio)
    figures["gate"] = {"samples": len(encoded), "answer_tokens": reference["tokens"], "first_n_tokens": gate_tokens,
                       "max_ppl_ratio": max_ppl_ratio, "results": results}

    # parity: f16 GGUF under llama.cpp vs the merged HF model, greedy --------------------------------
    stops = {tid for tid in (tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<end_of_turn>"))
             if isinstance(tid, int) and tid >= 0 and tid != tokenizer.unk_token_id}
    parity = []
    for item in encoded[:parity_samples]:
        prompt = item["ids"][:item["start"]]
        hf = greedy_hf(model, prompt, parity_tokens, stops)
        cpp = greedy_llama(f16_llm, prompt, parity_tokens, stops)
        parity.append({"hf": hf, "llama_cpp": cpp, "agreement": round(prefix_agreement(hf, cpp), 4)})
    text = rows[0]["conversations"][0]["value"]
    hf_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    cpp_ids = f16_llm.tokenize(text.encode(), add_bos=False, special=False)
    figures["parity"] = {"samples": len(parity), "max_new_tokens": parity_tokens,
                         "exact": sum(p["hf"] == p["llama_cpp"] for p in parity),
                         "agreement": round(sum(p["agreement"] for p in parity) / max(len(parity), 1), 4),
                         "tokenizer_match": hf_ids == cpp_ids, "answers": parity}
    del f16_llm, model

    # keep or drop the f16; Modelfile; export.json ------------------------------------------------
    if not keep_f16 and default != "f16":
        f16.unlink()
        results["f16"]["kept"] = False
    default_file = results[default]["file"]
    gguf_meta = read_metadata(out / default_file, keys=("tokenizer.chat_template", "tokenizer.ggml.eos_token_id",
                                                        "tokenizer.ggml.eot_token_id", "tokenizer.ggml.bos_token_id",
                                                        "general.name", "general.license", "general.description"))
    figures["gguf_metadata"] = {k: v for k, v in gguf_meta.items() if k != "tokenizer.chat_template"}
    figures["gguf_has_chat_template"] = bool(gguf_meta.get("tokenizer.chat_template"))
    with atomic_open(out / "Modelfile") as handle:
        handle.write(modelfile_text(default_file, meta.get("chat_template"), system_prompt,
                                    num_ctx=meta.get("max_seq_length")))
    figures.update(default_quant=default, default_file=default_file, table=format_table(results, default))
    write_json(out / "export.json", figures)
    point_latest(out)
    return figures


def _base_metadata(meta: dict) -> dict:
    """general.* from the base: license and base model name (the bundled GGUF's, when it is the base)."""
    base = meta.get("base_model") or ""
    model = {"name": base}
    out = {"general.base_models": [model]}
    from productqa.models import BUNDLED

    if base == BUNDLED:
        try:
            from productqa.gguf import bundled_gguf

            found = read_metadata(bundled_gguf(), keys=("general.license", "general.name"))
            out["general.license"] = found.get("general.license", "gemma")
            model.update(name=found.get("general.name", base), organization="Google")
        except Exception:  # noqa: BLE001 - metadata is best effort
            out["general.license"] = "gemma"
    else:
        config = Path(meta.get("base_model_path") or "") / "config.json"
        if config.is_file():
            license_ = json.loads(config.read_text()).get("license")
            if license_:
                out["general.license"] = license_
    return out
