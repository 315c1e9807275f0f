#!/usr/bin/env python3
"""Write a model folder with a model's architecture and tokenizer but random weights.

    python bench/random_weights.py SOURCE OUT      # SOURCE: config.json + tokenizer files, no weights needed

For throughput benchmarks on a machine the real weights cannot reach (a lent GPU machine takes
64 MiB of files; the bundled base model is 253 MB): tokens/s, step time and memory depend on the
architecture, the shapes and the data, not on the weights' values. Losses from such a model mean
nothing beyond "the configurations agree with each other"; docs/benchmarks.md labels the figures.
"""
import argparse
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a folder with config.json and the tokenizer's files")
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=3407)
    args = parser.parse_args(argv)

    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    config = AutoConfig.from_pretrained(args.source)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(args.out)
    AutoTokenizer.from_pretrained(args.source).save_pretrained(args.out)
    print(f"{args.out}: {config.model_type}, {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters, "
          f"random weights (seed {args.seed})")


if __name__ == "__main__":
    main()
