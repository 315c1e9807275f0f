"""The LoRA adapter as a llama.cpp LoRA GGUF, to load on top of the base model's own GGUF.

The bundled base is itself a Q4_K_M GGUF and training ran on its dequantized weights, so the
base GGUF + the adapter computes what was trained with nothing re-quantized (a merged q4_k_m puts
the weights back on the base's grid and rounds the small LoRA delta away).

The file follows llama.cpp's convert_lora_to_gguf.py: general.type "adapter", adapter.type "lora",
adapter.lora.alpha (float32); each adapted weight is the base tensor's GGUF name + ".lora_a" /
".lora_b", PEFT's lora_A (r, in) and lora_B (out, r) as they are (llama.cpp scales by alpha / r).

The end-of-turn repair (productqa.tokens) changes base weights, which an adapter cannot carry:
llama.cpp accepts a LoRA on token_embd for the input side, but with tied embeddings (Gemma) the
output layer looks the same pair up and aborts the process on the shape mismatch. So a run with a
repair gets a copy of the base GGUF with the repaired row(s) rewritten in place (`repair_base`).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from productqa.errors import UserError
from productqa.files import atomic_path

PEFT_PREFIX = "base_model.model."
TIED_ROWS = ("token_embd.weight", "output.weight")  # the rows a token repair changes, when present


def lora_pairs(adapter_dir: Path) -> tuple[dict, dict]:
    """(PEFT adapter_config.json, {module name: (lora_A, lora_B)}) of a saved PEFT LoRA adapter."""
    from safetensors.numpy import load_file

    adapter_dir = Path(adapter_dir)
    config_path, weights = adapter_dir / "adapter_config.json", adapter_dir / "adapter_model.safetensors"
    if not config_path.is_file() or not weights.is_file():
        raise UserError(f"{adapter_dir} holds no PEFT LoRA adapter (adapter_config.json + adapter_model.safetensors)")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("peft_type", "LORA") != "LORA" or config.get("use_dora") or config.get("rank_pattern") \
            or config.get("alpha_pattern") or config.get("modules_to_save") or config.get("trainable_token_indices"):
        raise UserError(f"{adapter_dir}: only plain LoRA adapters (one rank and alpha, no DoRA, no trained "
                        f"embeddings or extra modules) can be written as a llama.cpp LoRA GGUF")
    halves: dict = {}
    for key, value in load_file(weights).items():
        module, _, half = key.removeprefix(PEFT_PREFIX).rpartition(".lora_")
        if half not in ("A.weight", "B.weight"):
            raise UserError(f"{weights}: unexpected tensor {key} (not a lora_A / lora_B weight)")
        halves.setdefault(module, {})[half[0]] = value
    return config, {module: (pair["A"], pair["B"]) for module, pair in sorted(halves.items())}


def gguf_layout(base_dir: Path):
    """(gguf MODEL_ARCH, block count) of a Hugging Face base folder, as llama.cpp's converter sees it."""
    from conversion import get_model_class

    config = json.loads((Path(base_dir) / "config.json").read_text(encoding="utf-8"))
    text = config.get("text_config") or config
    try:
        model_class = get_model_class((config.get("architectures") or ["?"])[0])
    except NotImplementedError:
        raise UserError(f"llama.cpp's converter does not support the base model in {base_dir}") from None
    return model_class.model_arch, int(text["num_hidden_layers"])


def lora_alpha(config: dict) -> float:
    """The alpha llama.cpp needs for PEFT's scale: alpha / r, or alpha / sqrt(r) with rsLoRA."""
    alpha, rank = float(config["lora_alpha"]), int(config["r"])
    return alpha * rank ** 0.5 if config.get("use_rslora") else alpha


def write_lora_gguf(adapter_dir: Path, base_dir: Path, out: Path, dtype: str = "f16",
                    chat_template: str | None = None, name: str | None = None) -> Path:
    """PEFT adapter (trained on the Hugging Face base in `base_dir`) -> llama.cpp LoRA GGUF at `out`.

    Tensor names come from gguf's name map for the base's architecture, as in convert_lora_to_gguf.py;
    llama.cpp checks every pair against the base GGUF's shapes when it loads the adapter. A and B are
    written as they are: right for Gemma 3, whose converter leaves projections unchanged (an
    architecture whose converter permutes them would show up as a high KLD in the export's gate).
    `chat_template` is stored as tokenizer.chat_template: llama.cpp ignores it in an adapter, and
    productqa.served prompts the base with it (the bundled base GGUF has none).
    """
    import gguf
    import numpy as np

    config, pairs = lora_pairs(adapter_dir)
    arch, blocks = gguf_layout(base_dir)
    names = gguf.get_tensor_name_map(arch, blocks)
    numpy_type = {"f16": np.float16, "f32": np.float32}[dtype]
    writer_tensors = []
    for module, (lora_a, lora_b) in pairs.items():
        target = names.get_name(f"{module}.weight", try_suffixes=(".weight",))
        if target is None:
            raise UserError(f"the adapter in {adapter_dir} adapts {module}, which has no llama.cpp tensor name")
        writer_tensors += [(f"{target}.lora_a", lora_a.astype(numpy_type)), (f"{target}.lora_b", lora_b.astype(numpy_type))]
    with atomic_path(out) as tmp:
        writer = gguf.GGUFWriter(tmp, gguf.MODEL_ARCH_NAMES[arch])
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, lora_alpha(config))
        if name:
            writer.add_name(name)
        if chat_template:
            writer.add_chat_template(chat_template)
        for tensor_name, data in writer_tensors:
            writer.add_tensor(tensor_name, data)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
    return Path(out)


def repair_base(base_gguf: Path, out: Path, repair: dict) -> Path:
    """A copy of `base_gguf` with a tokens.py repair applied: each repaired row of the embedding (and
    of a separate output layer) = the source row x scale, re-encoded in the tensor's own type.

    The bytes of one row are rewritten in place, so every other tensor stays bit-identical.
    """
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(base_gguf)
    patches = []
    for tensor in (t for t in reader.tensors if t.name in TIED_ROWS):
        n_rows = int(tensor.shape[-1])
        row_bytes = tensor.n_bytes // n_rows
        raw = np.asarray(tensor.data).reshape(n_rows, -1).view(np.uint8)
        try:
            source = gguf.quants.dequantize(raw[repair["source"]:repair["source"] + 1], tensor.tensor_type)
            row = gguf.quants.quantize((source * repair["scale"]).astype(np.float32), tensor.tensor_type)
        except NotImplementedError:
            raise UserError(f"{base_gguf}: cannot re-encode a row of {tensor.name} ({tensor.tensor_type.name}) "
                            f"for the end-of-turn repair") from None
        row = np.ascontiguousarray(row).view(np.uint8).tobytes()
        assert len(row) == row_bytes, (len(row), row_bytes)
        patches += [(tensor.data_offset + target * row_bytes, row) for target in repair["rows"]]
    if not patches:
        raise UserError(f"{base_gguf} has no token_embd.weight to repair")
    del reader
    with atomic_path(out) as tmp:
        shutil.copyfile(base_gguf, tmp)
        with open(tmp, "r+b") as handle:
            for offset, row in patches:
                handle.seek(offset)
                handle.write(row)
    return Path(out)
