"""Stage 4: a training run -> every servable GGUF form, each measured against the f16 reference.

    export/<name>/<name>.<quant>.gguf   the merged model: the f16 reference (kept with --keep-f16) and each quant
    export/<name>/<name>.lora.gguf      the LoRA adapter as a llama.cpp LoRA GGUF, served on top of the base GGUF
    export/<name>/<name>.base.gguf      that base with the end-of-turn row repair, when the run has one
    export/<name>/Modelfile             Ollama, serving one merged file (see OLLAMA_WHY)
    export/<name>/export.json           the forms table (how to open each, bytes, KLD, top-1, ppl ratio,
                                        gate), the default form, parity, timings
    export/latest                       symlink to the newest export

Route: PEFT merge -> llama.cpp's converter (productqa.gguf) -> llama.cpp's quantizer; the adapter form
is written by productqa.adapter. The quality gate (productqa.gate) measures each form against the f16 on
held-out answers (llama-perplexity --kl-divergence's KL divergence, top-1 agreement, perplexity ratio) and
picks the default form; productqa.served opens the default.
"""
from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import time
from pathlib import Path

from productqa.chat_format import read_conversations
from productqa.errors import UserError
from productqa.files import atomic_open, output_folder, temp_sibling, write_json
from productqa.families import stop_token_ids
from productqa.gate import REFERENCE, gate, measure, ollama_form, parity, reference_store
from productqa.gguf import QUANT_TYPES, convert_to_gguf, quantize, read_metadata
from productqa.runs import ADAPTER, base_model_path, point_latest
from productqa.served import ADAPTER_SUFFIX, REPAIRED_BASE_SUFFIX, Served, form_paths, open_llama
from productqa.stage_args import ExportArgs, given
from productqa.tokens import apply_repair

# bytes per parameter of each file type (llama.cpp block sizes), for the disk-space check
BYTES_PER_PARAM = {"f16": 2.0, "q8_0": 1.0625, "q6_k": 0.82, "q5_k_m": 0.69, "q4_k_m": 0.6, "q4_0": 0.5625,
                   "q3_k_m": 0.49}
OLLAMA_WHY = ("Ollama gets one merged GGUF, the most faithful that passes the gate: Ollama documents FROM <base> "
              "+ ADAPTER <lora>.gguf, but that form was not run here (Ollama is not installed) and recent releases "
              "are reported to refuse ADAPTER at `ollama create`; the base + adapter form is served by llama.cpp.")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "chat_template.json",
                   "special_tokens_map.json", "tokenizer.model", "added_tokens.json")


# -----------------------------------------------------------------------------------------------
# the stage; the helpers it calls follow, grouped by subject

def export(run_dir: Path, meta: dict, out: Path, name: str, quants: list[str], data_dir: Path,
           args: ExportArgs | None = None, /, latest_home: Path | None = None, log=print, **keywords) -> dict:
    """The stage: merged f16 + quants + (base GGUF + LoRA adapter), each measured against the f16.
    The first six are what 04_export resolves from --run, its meta.json, --out, --name, --quant and --data;
    `args`: the other flags (ExportArgs, declared once in productqa.stage_args), or its fields as keywords.
    `latest_home`: the folder whose `latest` link then points at `out` (None: `out`'s parent)."""
    from transformers import AutoTokenizer

    args = given(ExportArgs, args, keywords)
    keep_f16, max_kld, min_top1 = args.keep_f16, args.max_kld, args.min_top1
    gate_tokens, gate_samples, max_tokens = args.gate_tokens, args.gate_samples, args.max_tokens
    parity_samples, parity_tokens = args.parity_samples, args.parity_tokens
    if gate_tokens < 1 or gate_samples < 0 or max_tokens < 1 or parity_samples < 0 or parity_tokens < 1:
        raise UserError("--gate-tokens, --max-tokens and --parity-tokens must be at least 1, --gate-samples and "
                        "--parity-samples at least 0")
    out = output_folder(out, "--out")
    for stale in out.glob(".*.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink()
    adapter_dir = Path(run_dir) / ADAPTER
    tokenizer = AutoTokenizer.from_pretrained(adapter_dir if (adapter_dir / "tokenizer_config.json").is_file()
                                              else base_model_path(meta, progress=False))
    system_prompt = meta.get("system_prompt")
    encoded = encode_rows(tokenizer, heldout_rows(data_dir), system_prompt, max_tokens, gate_tokens, gate_samples,
                          min_rows=parity_samples)
    if not encoded:
        raise UserError(f"no usable held-out conversations in {data_dir} for the quality gate")
    answer_tokens = sum(len(e["ids"]) - e["start"] for e in encoded)
    figures: dict = {"run": str(run_dir), "name": name, "base_model": meta.get("base_model"),
                     "chat_template": meta.get("chat_template"), "system_prompt": system_prompt}

    reference_bytes = answer_tokens * len(tokenizer) * 4  # the f16's logits, on disk while the forms are measured
    files, model, n_params = make_merged(run_dir, meta, out, name, quants, args.description, reference_bytes,
                                         figures, log)
    forms = {quant: {"file": path.name} for quant, path in files.items()}
    if args.adapter:
        made = make_adapter(run_dir, meta, out, name, args.base_gguf, tokenizer.chat_template, log)
        if isinstance(made, str):
            figures["adapter_skipped"] = made
        else:
            forms.update(made)

    # quality: every form against the f16 reference ---------------------------------------------
    stops = set(stop_token_ids(tokenizer))
    n_ctx = max(len(e["ids"]) for e in encoded) + parity_tokens + 8
    ref_path = out / f".reference-logits.tmp-{os.getpid()}.npy"
    try:
        reference = None
        for form_name, form in forms.items():  # the reference first: it records its logits
            log(f"measuring {opens(form)} on {len(encoded)} held-out answers ({answer_tokens} tokens)...")
            started = time.perf_counter()
            served = Served(*form_paths(out, form))  # every position's logits kept, fixed seed
            llm = open_llama(served, n_ctx=n_ctx, need_template=False, logits_all=True, seed=0)
            if reference is None:  # the GGUF's vocabulary: the converter may pad it beyond the tokenizer's
                reference = reference_store(ref_path, encoded, llm.n_vocab())
            form.update(measure(llm, encoded, reference, stops, record=form_name == REFERENCE))
            form["measure_seconds"] = round(time.perf_counter() - started, 2)
            if form_name == REFERENCE:
                figures["parity"] = parity(model, llm, tokenizer, encoded, parity_samples, parity_tokens, stops)
                model = None  # the merged Hugging Face model: only the parity check needs it
            llm.close()
            form["bytes"] = served.bytes  # what serving the form reads: the file, or the base and the adapter
            form["bytes_per_param"] = round(form["bytes"] / n_params, 4)
        del reference
    finally:
        ref_path.unlink(missing_ok=True)
    default = gate(forms, max_kld, min_top1)
    ollama = ollama_form(forms, default)
    short = None if answer_tokens >= gate_tokens else (
        "--gate-samples" if gate_samples and len(encoded) >= gate_samples else "the held-out data ran out")
    figures["gate"] = {"samples": len(encoded), "answer_tokens": answer_tokens, "wanted_tokens": gate_tokens,
                       "splits": list(HELD_OUT), "max_kld": max_kld, "min_top1": min_top1,
                       "enough_tokens": short is None, "fewer_because": short}

    # keep or drop the f16; Modelfile; export.json ------------------------------------------------
    if not keep_f16 and REFERENCE not in (default, ollama):
        (out / forms[REFERENCE]["file"]).unlink()
        forms[REFERENCE]["kept"] = False
    ollama_file = forms[ollama]["file"]
    write_modelfile(out, ollama_file, meta, system_prompt)
    gguf_meta = read_metadata(out / ollama_file, keys=("tokenizer.chat_template", "tokenizer.ggml.eos_token_id",
                                                       "tokenizer.ggml.eot_token_id", "tokenizer.ggml.bos_token_id",
                                                       "general.name", "general.license", "general.description"))
    figures["gguf_metadata"] = {k: v for k, v in gguf_meta.items() if k != "tokenizer.chat_template"}
    figures["gguf_has_chat_template"] = bool(gguf_meta.get("tokenizer.chat_template"))
    figures.update(forms=forms, default=default, default_file=ollama_file, table=format_table(forms, default, ollama),
                   ollama={"form": ollama, "file": ollama_file, "why": OLLAMA_WHY})
    write_json(out / "export.json", figures)
    point_latest(out, latest_home)
    return figures


def parse_quants(text: str) -> list[str]:
    quants = [q.strip().lower() for q in text.split(",") if q.strip()]
    unknown = [q for q in quants if q != "f16" and q not in QUANT_TYPES]
    if unknown or not quants:
        raise UserError(f"--quant {text!r}: choose from f16, {', '.join(QUANT_TYPES)} (comma-separated)")
    return list(dict.fromkeys(quants))


def check_disk(folder: Path, n_params: int, quants: list[str], extra: int = 0, merged_written: bool = False) -> int:
    """Raise UserError unless `folder`'s disk holds merged (unless already written) + f16 + every quant + the
    base GGUF copy of the adapter form + `extra` bytes (the reference logits), with 10% slack."""
    merged = 0 if merged_written else 2
    files = merged + 2 + sum(BYTES_PER_PARAM.get(q, 2.0) for q in quants if q != "f16") + BYTES_PER_PARAM["q4_k_m"]
    need = int((n_params * files + extra) * 1.1)
    probe = folder
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if free < need:
        raise UserError(f"not enough free disk space in {probe}: the export needs ~{need / 1e9:.1f} GB and "
                        f"{free / 1e9:.1f} GB is free; free some space or pass another --out")
    return need


def count_params(model_dir: Path) -> int | None:
    """Parameters of a Hugging Face folder from its safetensors headers (nothing loaded); None without any."""
    from safetensors import safe_open

    files = sorted(Path(model_dir).glob("*.safetensors"))
    total = 0
    for path in files:
        with safe_open(str(path), framework="numpy") as handle:
            total += sum(math.prod(handle.get_slice(key).get_shape()) for key in handle.keys())
    return total or None


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

HELD_OUT = ("test.jsonl", "val.jsonl")  # never train.jsonl: the gate measures answers the model did not learn


def heldout_rows(data_dir: Path):
    """The held-out conversations, read as the gate needs them: the test split, then the validation split
    (on the real data they are ~73k rows each; the gate reads a few dozen)."""
    paths = [Path(data_dir) / name for name in HELD_OUT if (Path(data_dir) / name).is_file()]
    if not paths:
        raise UserError(f"no held-out answers in {data_dir} (test.jsonl, val.jsonl): run scripts/01_prepare.py "
                        f"or pass --data")
    return itertools.chain.from_iterable(map(read_conversations, paths))


def encode_rows(tokenizer, rows: list[dict], system_prompt: str | None, max_tokens: int, min_tokens: int = 0,
                max_rows: int = 0, min_rows: int = 0) -> list[dict]:
    """Rows -> {"ids": prompt + answer up to its end-of-turn token (at most `max_tokens` answer tokens),
    "start": first answer index, "ended": whether the end-of-turn token is in}, until `min_tokens`
    answer tokens and `min_rows` rows, or `max_rows` rows (0: no limit), are reached."""
    from productqa.chat_format import conversation_ids

    end_ids = set(stop_token_ids(tokenizer))
    encoded, tokens = [], 0
    for row in rows:
        if (tokens >= min_tokens and len(encoded) >= min_rows) or (max_rows and len(encoded) >= max_rows):
            break
        try:
            full, start = conversation_ids(tokenizer, row, system_prompt)
        except ValueError:
            continue
        ends = [i for i in range(start, len(full)) if full[i] in end_ids]
        stop = ends[0] + 1 if ends else len(full)  # the template's newline after the end of turn is not scored
        keep = min(stop, start + max_tokens)
        encoded.append({"ids": full[:keep], "start": start, "ended": bool(ends) and keep == stop})
        tokens += keep - start
    return encoded


# ---------------------------------------------------------------------------------------------
# files

def load_checked(tmp: Path, final: Path, base: Path | None = None) -> Path:
    """Rename `tmp` onto `final` only after llama.cpp has loaded it (an adapter: on top of `base`)."""
    served = Served(base, tmp) if base else Served(tmp)
    open_llama(served, n_ctx=64, need_template=False).close()
    os.replace(tmp, final)
    return final


def format_table(forms: dict, default: str, ollama: str) -> str:
    rows = [f"{'form':<8} {'bytes':>13} {'mean KLD':>9} {'p99 KLD':>8} {'top-1':>6} {'ppl ratio':>9} {'stops':>5}  gate"]
    for name, f in forms.items():
        mark = "reference" if name == REFERENCE else ("pass" if f["passed"] else "FAIL")
        mark += " (default)" if name == default else ""
        mark += " (Ollama)" if name == ollama else ""
        stops = "-" if f["stops"] is None else f"{f['stops']:.0%}"
        rows.append(f"{name:<8} {f['bytes']:>13,} {f['kld_mean']:>9.4f} {f['kld_p99']:>8.3f} {f['top1']:>6.1%} "
                    f"{f['ppl_ratio']:>9.3f} {stops:>5}  {mark}  {opens(f)}")
    return "\n".join(rows)


def opens(form: dict) -> str:
    return form["file"] if "file" in form else f"{Path(form['base']).name} + {form['adapter']}"


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


def make_merged(run_dir: Path, meta: dict, out: Path, name: str, quants: list[str], description: str | None,
                reference_bytes: int, figures: dict, log):
    """Merge, convert to the f16 reference, quantize: ({"f16": path, quant: path...}, merged HF model, n_params).
    Free disk is checked for every file and `reference_bytes` more."""
    counted = count_params(base_model_path(meta, progress=False))
    if counted:  # before anything is written; a base without safetensors is checked once merged
        figures["disk_needed_bytes"] = check_disk(out, counted, quants, extra=reference_bytes)
    merged_dir = out / f".merged.tmp-{os.getpid()}"
    try:
        started = time.perf_counter()
        log("merging the LoRA adapter into the base weights...")
        model, n_params = merge(run_dir, meta, merged_dir)
        figures["merge_seconds"] = round(time.perf_counter() - started, 2)
        figures["n_params"] = n_params
        if not counted:
            figures["disk_needed_bytes"] = check_disk(out, n_params, quants, extra=reference_bytes, merged_written=True)

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
        tmp = temp_sibling(f16)
        convert_to_gguf(merged_dir, tmp, "f16", metadata=metadata)
        load_checked(tmp, f16)
        figures["convert_seconds"] = round(time.perf_counter() - started, 2)
    finally:
        shutil.rmtree(merged_dir, ignore_errors=True)

    files = {REFERENCE: f16}
    figures["quantize_seconds"] = {}
    for quant in quants:
        if quant == REFERENCE:
            continue
        started = time.perf_counter()
        log(f"quantizing to {quant}...")
        final = out / f"{name}.{quant}.gguf"
        tmp = temp_sibling(final)
        try:
            quantize(f16, tmp, quant)
            files[quant] = load_checked(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        figures["quantize_seconds"][quant] = round(time.perf_counter() - started, 2)
    return files, model, n_params


def make_adapter(run_dir: Path, meta: dict, out: Path, name: str, base_gguf: Path | None, chat_template,
                 log) -> dict | str:
    """The adapter form: {"adapter": {"base": ..., "adapter": ...}}, or why it was not made (one sentence).

    The base is `base_gguf`, else the bundled GGUF when the run was trained on the bundled model; a run
    with an end-of-turn repair gets a copy of that base with the repaired row(s) (productqa.adapter)."""
    from productqa.adapter import repair_base, write_lora_gguf
    from productqa.models import BUNDLED

    bundled = base_gguf is None
    if bundled:
        if meta.get("base_model") != BUNDLED:
            return f"no GGUF of the base {meta.get('base_model')}: pass --base-gguf FILE.gguf to make one"
        from productqa.gguf import bundled_gguf

        base_gguf = bundled_gguf()
    started = time.perf_counter()
    log(f"writing the LoRA adapter as a llama.cpp LoRA GGUF for {Path(base_gguf).name}...")
    entry: dict = {"base": str(Path(base_gguf).resolve()), "bundled_base": bundled}
    if meta.get("token_repair"):
        repaired = out / f"{name}{REPAIRED_BASE_SUFFIX}"
        tmp = temp_sibling(repaired)
        repair_base(base_gguf, tmp, meta["token_repair"])
        base_gguf = load_checked(tmp, repaired)
        entry = {"base": repaired.name, "base_from": entry["base"], "token_repair": meta["token_repair"]}
    final = out / f"{name}{ADAPTER_SUFFIX}"
    tmp = temp_sibling(final)
    write_lora_gguf(Path(run_dir) / ADAPTER, base_model_path(meta, progress=False), tmp,
                    chat_template=chat_template if isinstance(chat_template, str) else None, name=name)
    load_checked(tmp, final, base=Path(base_gguf))
    entry.update(adapter=final.name, adapter_bytes=final.stat().st_size,
                 write_seconds=round(time.perf_counter() - started, 2))
    return {"adapter": entry}


def write_modelfile(out: Path, gguf_file: str, meta: dict, system_prompt: str | None) -> None:
    from productqa.modelfile import modelfile_text

    with atomic_open(out / "Modelfile") as handle:
        handle.write(modelfile_text(gguf_file, meta.get("chat_template"), system_prompt,
                                    num_ctx=meta.get("max_seq_length"), why=OLLAMA_WHY))


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
