"""04_export on a tiny Gemma 3 run: GGUF round trip, chat template, parity, the adapter form, the KLD gate."""
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from productqa.errors import UserError
from productqa.paths import ROOT
from productqa.train import TARGET_MODULES

SYSTEM = "You are productqa, a product catalog assistant."
REPAIR = {"rows": [106], "source": 1, "scale": 1.05}  # <end_of_turn> from <eos>, as tokens.py plans it


def make_run(folder: Path, base_dir: Path, seed: int = 0, lora_std: float = 0.05) -> Path:
    """A run folder as 02_train writes it: adapter/ (LoRA + tokenizer with the gemma3 template) + meta.json."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from unsloth.chat_templates import get_chat_template

    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=TARGET_MODULES))
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
    run = make_run(tmp_path_factory.mktemp("runs") / "tiny", tiny_model_dir)
    meta = json.loads((run / "meta.json").read_text())
    (run / "meta.json").write_text(json.dumps({**meta, "token_repair": REPAIR}), encoding="utf-8")
    return run


@pytest.fixture(scope="module")
def tiny_base_gguf(tiny_model_dir, tmp_path_factory):
    """The tiny base as a GGUF (Q8_0 like the bundled base's embedding): what the adapter form loads on."""
    from productqa.gguf import convert_to_gguf

    return convert_to_gguf(tiny_model_dir, tmp_path_factory.mktemp("base") / "tiny-base.gguf", "q8_0")


@pytest.fixture(scope="module")
def exported(tiny_run, tiny_base_gguf, prepared_sample, tmp_path_factory):
    from productqa.export import export
    from productqa.runs import run_meta

    out = tmp_path_factory.mktemp("export") / "tiny"
    figures = export(tiny_run, run_meta(tiny_run), out, "tiny", ["q8_0", "q4_0"], prepared_sample,
                     gate_tokens=120, base_gguf=tiny_base_gguf, keep_f16=True, parity_samples=2, parity_tokens=12,
                     max_tokens=48, log=lambda *a: None)
    return out, figures


def test_round_trip_gguf_loads_with_template_and_matches_hf(exported):
    from llama_cpp import Llama

    out, figures = exported
    merged = out / figures["default_file"]  # the one-file form (Ollama's)
    assert merged.is_file() and not list(out.glob(".*tmp*"))
    llm = Llama(model_path=str(merged), n_ctx=64, verbose=False)
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
                     adapter=False, log=lambda *a: None)
    parity = figures["parity"]
    assert parity["samples"] == 2 and parity["exact"] == 2, parity["answers"]
    assert figures["forms"]["q8_0"]["passed"], figures["table"]
    assert not (tmp_path / "out" / "bundled.f16.gguf").exists() and figures["forms"]["f16"]["kept"] is False


def test_export_files_and_forms_table(exported):
    out, figures = exported
    saved = json.loads((out / "export.json").read_text())
    forms = saved["forms"]
    assert set(forms) == {"f16", "q8_0", "q4_0", "adapter"}
    assert forms["f16"]["kld_mean"] == 0 and forms["f16"]["top1"] == 1 and forms["f16"]["ppl_ratio"] == 1
    for form in forms.values():
        assert {"bytes", "kld_mean", "kld_p99", "top1", "ppl_ratio", "passed"} <= set(form)
    assert forms["q8_0"]["passed"] and forms["q8_0"]["bytes"] < forms["f16"]["bytes"]
    adapter = forms["adapter"]  # the run has a token repair: the base is a repaired copy beside the adapter
    assert adapter["base"] == "tiny.base.gguf" and adapter["adapter"] == "tiny.lora.gguf"
    assert adapter["bytes"] == (out / "tiny.base.gguf").stat().st_size + (out / "tiny.lora.gguf").stat().st_size
    assert saved["default"] in forms and saved["default"] != "f16"
    assert saved["gate"]["answer_tokens"] >= 120 and saved["gate"]["enough_tokens"]
    assert (out / "tiny.f16.gguf").is_file() and "kept" not in forms["f16"]  # --keep-f16
    assert (out.parent / "latest").resolve() == out.resolve()
    for key in ("merge_seconds", "convert_seconds", "quantize_seconds", "n_params"):
        assert key in saved
    modelfile = (out / "Modelfile").read_text()
    assert f"FROM ./{saved['ollama']['file']}" in modelfile and "file" in forms[saved["ollama"]["form"]]
    assert 'PARAMETER stop "<end_of_turn>"' in modelfile and SYSTEM in modelfile


def test_served_opens_the_default_form_of_an_export_folder(exported):
    from productqa.served import open_llama, resolve_served

    out, figures = exported
    served = resolve_served(out)
    llm = open_llama(served, n_ctx=64)
    try:
        assert served.form == figures["default"] and served.folder == out
        assert "<start_of_turn>" in llm.metadata["tokenizer.chat_template"]  # the adapter's, when the base has none
    finally:
        llm.close()


def kl(p, q) -> float:
    return sum(a * math.log(a / b) for a, b in zip(p, q) if a > 0)


def test_kld_top1_and_ppl_ratio_by_hand():
    import numpy as np

    from productqa.gate import kld_stats, summarize

    p, q = [0.5, 0.25, 0.25], [0.25, 0.5, 0.25]
    ref = np.log([p, p]) + [[3.0], [-7.0]]  # logits: any shift per row gives the same distribution
    form = np.log([q, p])
    stats = kld_stats(ref, form, np.array([0, 2]))
    assert stats["kld"] == pytest.approx([kl(p, q), 0.0], abs=1e-12)  # 0.25 ln 2, then identical
    assert stats["kld"][0] == pytest.approx(0.25 * math.log(2))
    assert stats["same_top1"].tolist() == [False, True]
    summary = summarize({**stats, "last_top1": [1, 0]}, ended=[True, False], stops={1})
    assert summary["kld_mean"] == pytest.approx(0.125 * math.log(2))
    assert summary["kld_p99"] == pytest.approx(0.99 * 0.25 * math.log(2))  # numpy's linear interpolation
    assert summary["top1"] == 0.5 and summary["tokens"] == 2 and summary["stops"] == 1.0
    # perplexity ratio: exp(mean NLL of the form - mean NLL of the reference)
    expected = math.exp((-math.log(0.25) - math.log(0.25)) / 2 - (-math.log(0.5) - math.log(0.25)) / 2)
    assert summary["ppl_ratio"] == pytest.approx(expected)


def test_gate_serves_the_most_faithful_passing_form():
    from productqa.gate import gate, ollama_form

    forms = {"f16": {"bytes": 400, "kld_mean": 0.0, "top1": 1.0, "file": "m.f16.gguf"},
             "q8_0": {"bytes": 200, "kld_mean": 0.012, "top1": 0.96, "file": "m.q8_0.gguf"},
             "q6_k": {"bytes": 190, "kld_mean": 0.012, "top1": 0.95, "file": "m.q6_k.gguf"},
             "q4_k_m": {"bytes": 120, "kld_mean": 1.8, "top1": 0.44, "file": "m.q4_k_m.gguf"},
             "adapter": {"bytes": 160, "kld_mean": 0.006, "top1": 0.97, "base": "b.gguf", "adapter": "m.lora.gguf"}}
    assert gate(forms, max_kld=0.05, min_top1=0.9) == "adapter"
    assert not forms["q4_k_m"]["passed"] and forms["q8_0"]["passed"]
    assert ollama_form(forms, "adapter") == "q6_k"  # one merged file: as faithful as q8_0, and smaller
    forms["adapter"]["top1"] = 0.8
    assert gate(forms, max_kld=0.05, min_top1=0.9) == "q6_k"
    assert gate(forms, max_kld=0.001, min_top1=0.9) == "f16"  # nothing passes: serve the reference
    assert ollama_form(forms, "f16") == "f16"


def test_adapter_gguf_on_the_repaired_base_computes_the_merged_model(exported, tiny_base_gguf):
    """llama.cpp: base GGUF + LoRA GGUF = the merged f16, provided the base carries the end-of-turn repair."""
    import numpy as np

    from productqa.gate import kld_stats
    from productqa.served import Served, open_llama

    out, _ = exported
    ids = [2, 105, 2364, 107, 9259, 106, 107, 105, 4368, 107, 818, 5279, 106]  # a turn, <end_of_turn> in the prompt

    def logits(served):
        llm = open_llama(served, n_ctx=32, need_template=False, logits_all=True, seed=0)
        llm.eval(ids)
        scores = np.array(llm.scores[:len(ids)])
        llm.close()
        return scores

    reference = logits(Served(out / "tiny.f16.gguf"))
    forms = {"repaired": Served(out / "tiny.base.gguf", out / "tiny.lora.gguf"),
             "unrepaired": Served(tiny_base_gguf, out / "tiny.lora.gguf"), "no adapter": Served(out / "tiny.base.gguf")}
    kld = {name: kld_stats(reference, logits(served), np.array(ids))["kld"].mean() for name, served in forms.items()}
    print(kld)
    assert kld["repaired"] < 1e-4, kld
    assert kld["unrepaired"] > 30 * kld["repaired"] and kld["no adapter"] > 30 * kld["repaired"], kld


def test_repair_base_rewrites_one_row_in_the_tensor_type(tmp_path):
    import gguf
    import numpy as np

    from productqa.adapter import repair_base

    rng = np.random.default_rng(0)
    embedding, other = rng.normal(size=(200, 64)).astype(np.float32), rng.normal(size=(8, 64)).astype(np.float32)
    writer = gguf.GGUFWriter(tmp_path / "base.gguf", "gemma3")
    writer.add_tensor("token_embd.weight", gguf.quants.quantize(embedding, gguf.GGMLQuantizationType.Q8_0),
                      raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    writer.add_tensor("blk.0.attn_q.weight", other)
    for write in (writer.write_header_to_file, writer.write_kv_data_to_file, writer.write_tensors_to_file, writer.close):
        write()
    repair_base(tmp_path / "base.gguf", tmp_path / "repaired.gguf", {"rows": [106], "source": 1, "scale": 1.05})
    before, after = (tmp_path / "base.gguf").read_bytes(), (tmp_path / "repaired.gguf").read_bytes()
    assert len(before) == len(after) and sum(a != b for a, b in zip(before, after)) <= 68  # one Q8_0 row: 2 x 34 bytes
    rows = {}
    for name in ("base", "repaired"):
        tensor = next(t for t in gguf.GGUFReader(tmp_path / f"{name}.gguf").tensors if t.name == "token_embd.weight")
        rows[name] = gguf.quants.dequantize(np.asarray(tensor.data), tensor.tensor_type)
    assert np.allclose(rows["repaired"][106], 1.05 * rows["base"][1], atol=1e-3)
    assert np.array_equal(np.delete(rows["repaired"], 106, 0), np.delete(rows["base"], 106, 0))


def test_served_resolves_folders_files_and_refuses_a_bare_adapter(tmp_path):
    from productqa.served import resolve_served

    for name, size in (("m.q8_0.gguf", 30), ("m.q4_k_m.gguf", 20), ("m.lora.gguf", 5)):
        (tmp_path / name).write_bytes(b"GGUF" + bytes(size))
    assert resolve_served(tmp_path).model.name == "m.q4_k_m.gguf"  # no export.json: the smallest model, not the adapter
    (tmp_path / "export.json").write_text(json.dumps({"default_file": "m.q8_0.gguf"}))  # an older export.json
    assert resolve_served(tmp_path).model.name == "m.q8_0.gguf"
    forms = {"q8_0": {"file": "m.q8_0.gguf"}, "adapter": {"base": "/models/base.gguf", "adapter": "m.lora.gguf"}}
    (tmp_path / "export.json").write_text(json.dumps({"forms": forms, "default": "adapter"}))
    served = resolve_served(tmp_path)
    assert (served.model, served.adapter, served.form) == (Path("/models/base.gguf"), tmp_path / "m.lora.gguf", "adapter")
    assert resolve_served(tmp_path / "m.q8_0.gguf").folder == tmp_path
    with pytest.raises(UserError, match="LoRA adapter"):
        resolve_served(tmp_path / "m.lora.gguf")


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


def test_disk_is_checked_before_anything_is_written(tiny_run, prepared_sample, tmp_path, monkeypatch):
    """Too little free disk stops the export before the merge writes its checkpoint (it used to be after)."""
    import shutil

    from productqa import export as E
    from productqa.runs import run_meta

    def no_merge(*args):
        raise AssertionError("merged before the disk check")

    monkeypatch.setattr(E, "merge", no_merge)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    out = tmp_path / "export" / "tiny"
    with pytest.raises(UserError, match="not enough free disk space"):
        E.export(tiny_run, run_meta(tiny_run), out, "tiny", ["q8_0"], prepared_sample, gate_tokens=16,
                 log=lambda *a: None)
    assert not out.exists() or not any(out.iterdir())


def test_an_out_that_is_a_file_is_one_sentence(tiny_run, prepared_sample, tmp_path):
    from productqa import export as E
    from productqa.runs import run_meta

    taken = tmp_path / "taken"
    taken.write_text("mine")
    with pytest.raises(UserError, match="--out .* is a file, not a folder"):
        E.export(tiny_run, run_meta(tiny_run), taken, "tiny", ["q8_0"], prepared_sample, gate_tokens=16,
                 log=lambda *a: None)
    assert taken.read_text() == "mine"


def test_an_out_elsewhere_is_linked_from_the_exports_folder_not_beside_it(tmp_path):
    """04_export --out elsewhere/x used to create elsewhere/latest; export/latest must point at it instead."""
    from productqa.runs import point_latest

    exports, elsewhere = tmp_path / "export", tmp_path / "elsewhere" / "x"
    elsewhere.mkdir(parents=True)
    point_latest(elsewhere, exports)
    assert not (elsewhere.parent / "latest").exists()
    assert (exports / "latest").resolve() == elsewhere.resolve()
    inside = exports / "y"
    inside.mkdir()
    point_latest(inside, exports)
    assert (exports / "latest").readlink() == Path("y")  # relative inside: the folder can move as a whole
    point_latest(exports / "latest", exports)  # --out export/latest: the folder the link points to
    assert (exports / "latest").readlink() == Path("y") and (exports / "latest").is_dir()


def test_export_reads_the_run_s_data_folder_and_base_model(tmp_path, tiny_model_dir):
    """04_export used to read data/processed and meta["base_model_path"] whatever the run was trained on."""
    from productqa.runs import base_model_path, data_folder

    meta = {"args": {"data": str(tmp_path / "mine")}, "base_model": str(tiny_model_dir),
            "base_model_path": str(tmp_path / "gone")}
    assert data_folder(meta) == tmp_path / "mine" and data_folder(meta, tmp_path / "given") == tmp_path / "given"
    assert base_model_path(meta, progress=False) == str(tiny_model_dir)  # the recorded folder is gone: resolved again
