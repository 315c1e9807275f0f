"""A tiny Gemma 3 model with the real Gemma tokenizer, built in-process for hermetic tests.

Same architecture and tokenizer as the bundled model (so conversion to GGUF and the chat template
behave the same), but 2 layers of width 64: it trains, exports and generates in seconds.
"""
import shutil
from pathlib import Path


def make_tiny_model(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, Gemma3ForCausalLM, Gemma3TextConfig

    from productqa.models import bundled_checkpoint

    base = bundled_checkpoint(progress=False)
    tokenizer = AutoTokenizer.from_pretrained(base)
    config = Gemma3TextConfig(
        vocab_size=max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, head_dim=32, query_pre_attn_scalar=32, sliding_window=512,
        layer_types=["sliding_attention", "full_attention"], max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    shutil.copy(base / "tokenizer.model", folder)  # SentencePiece model: llama.cpp's converter reads it
    return Path(folder)
