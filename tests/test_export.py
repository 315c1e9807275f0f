"""04_export on a tiny Gemma 3 run: GGUF round trip, chat template, parity, the quality gate."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from productqa.errors import UserError
from productqa.paths import ROOT

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SYSTEM = "You are productqa, a product catalog assistant."


def make_run(folder: Path, base_dir: Path, seed: int = 0, lora_std: float = 0.05) -> Path:
    """A run folder as 02_train writes it: adapter/ (LoRA + tokenizer with the gemma3 template) + meta.json."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from unsloth.chat_templates import get_chat_template

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=LORA_TARGETS))
    torch.manual_seed(seed)
    with torch.no_grad():  # a non-trivial adapter: B is zero when freshly initialised
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, lora_std)
    adapter = folder / "adapter"
    model.save_pretrained(adapter)
    tokenizer = get_chat_template(AutoTokenizer.from_pretrained(base_dir), chat_template="gemma3")
    tokenizer.save_pretrained(adapter)
    meta = {"base_model": str(base_dir), "base_model_path": str(base_dir), "chat_template": "gemma3",
            "system_prompt": SYSTEM, "max_seq_length": 256}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def tiny_run(tiny_model_dir, tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs") / "tiny", tiny_model_dir)


@pytest.fixture(scope="module")
def exported(tiny_run, prepared_sample, tmp_path_factory):
    from productqa.export import export
    from productqa.runs import run_meta

    out = tmp_path_factory.mktemp("export") / "tiny"
    figures = export(tiny_run, run_meta(tiny_run), out, "tiny", ["q8_0", "q4_0"], prepared_sample,
                     gate_samples=3, gate_tokens=16, parity_samples=2, parity_tokens=12, max_tokens=48,
                     log=lambda *a: None)
    return out, figures


def test_round_trip_gguf_loads_with_template_and_matches_hf(exported):
    from llama_cpp import Llama

    out, figures = exported
    default = out / figures["default_file"]
    assert default.is_file() and not list(out.glob(".*tmp*"))
    llm = Llama(model_path=str(default), n_ctx=64, verbose=False)
    assert "<start_of_turn>" in llm.metadata["tokenizer.chat_template"]
    assert int(llm.metadata["tokenizer.ggml.eot_token_id"]) == 106  # <end_of_turn>: the model stops itself
    assert figures["gguf_metadata"]["general.name"] == "tiny"
    parity = figures["parity"]
    assert parity["samples"] == 2 and all(len(p["hf"]) > 0 for p in parity["answers"])


@pytest.mark.slow
def test_bundled_model_f16_gguf_greedy_matches_hf(prepared_sample, tmp_path):
    """Parity on the real Gemma 3 270M (the tiny random model's near-flat logits make greedy ties flip)."""
    from productqa.export import export
    from productqa.models import bundled_checkpoint
    from productqa.runs import run_meta

    run = make_run(tmp_path / "run", bundled_checkpoint(progress=False), lora_std=0.005)
    figures = export(run, run_meta(run), tmp_path / "out", "bundled", ["q8_0"], prepared_sample,
                     gate_samples=2, gate_tokens=16, parity_samples=2, parity_tokens=16, max_tokens=48,
                     log=lambda *a: None)
    parity = figures["parity"]
    assert parity["samples"] == 2 and parity["exact"] == 2, parity["answers"]
    assert figures["gate"]["results"]["q8_0"]["passed"]


def test_export_files_and_gate_figures(exported):
    out, figures = exported
    saved = json.loads((out / "export.json").read_text())
    assert saved["default_file"] == figures["default_file"]
    results = saved["gate"]["results"]
    assert set(results) == {"f16", "q8_0", "q4_0"}
    assert results["f16"]["ppl_ratio"] == 1.0 and results["f16"]["agreement"] == 1.0
    assert results["q8_0"]["passed"] and results["q8_0"]["bytes"] < results["f16"]["bytes"]
    assert not (out / "tiny.f16.gguf").exists()  # dropped without --keep-f16
    assert (out.parent / "latest").resolve() == out.resolve()
    for key in ("merge_seconds", "convert_seconds", "quantize_seconds", "n_params"):
        assert key in saved
    modelfile = (out / "Modelfile").read_text()
    assert f"FROM ./{figures['default_file']}" in modelfile
    assert 'PARAMETER stop "<end_of_turn>"' in modelfile and SYSTEM in modelfile


def test_gate_refuses_a_failing_quant():
    from productqa.export import gate

    results = {"f16": {"bytes": 400, "ppl_ratio": 1.0, "agreement": 1.0},
               "q8_0": {"bytes": 200, "ppl_ratio": 1.02, "agreement": 0.97},
               "q4_k_m": {"bytes": 120, "ppl_ratio": 1.35, "agreement": 0.6}}
    assert gate(results, max_ppl_ratio=1.10) == "q8_0"
    assert not results["q4_k_m"]["passed"] and results["q8_0"]["passed"]
    assert gate(results, max_ppl_ratio=1.0) == "f16"  # nothing passes: serve the reference


def test_adapter_base_mismatch_is_one_sentence(tiny_run, tmp_path):
    import torch
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    from productqa.export import merge
    from productqa.runs import run_meta

    other = tmp_path / "other-base"
    config = Gemma3TextConfig(vocab_size=262144, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                              num_attention_heads=2, num_key_value_heads=1, head_dim=16)
    torch.manual_seed(0)
    Gemma3ForCausalLM(config).save_pretrained(other)
    meta = {**run_meta(tiny_run), "base_model_path": str(other)}
    with pytest.raises(UserError, match="does not fit the base model"):
        merge(tiny_run, meta, tmp_path / "merged")


def test_script_errors_without_a_run(tmp_path):
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "04_export.py"), "--run", str(tmp_path / "none")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: no training run at")


def test_bad_quant_name():
    from productqa.export import parse_quants

    assert parse_quants("Q8_0, q4_k_m,q8_0") == ["q8_0", "q4_k_m"]
    with pytest.raises(UserError, match="--quant"):
        parse_quants("q2_zz")
