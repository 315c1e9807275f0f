#!/usr/bin/env python3
"""Stage 4: export a training run to GGUF for llama.cpp and Ollama, every form measured against the f16.

    python scripts/04_export.py                                   # runs/latest -> export/<run name>
    python scripts/04_export.py --run runs/my-run --quant q8_0,q6_k --keep-f16
    ollama create productqa -f export/latest/Modelfile && ollama run productqa

Merges the LoRA adapter (16-bit), converts with llama.cpp's converter, quantizes with llama.cpp's
quantizer, writes the adapter as a llama.cpp LoRA GGUF for the base's own GGUF, and measures every
form against the f16 on held-out answers as llama-perplexity --kl-divergence does (KL divergence mean
and 99th percentile, top-1 agreement, perplexity ratio); checks the f16 GGUF's greedy answers against
the merged Hugging Face model's, and writes export/NAME/{NAME.QUANT.gguf, NAME.lora.gguf, Modelfile,
export.json, meta.json}; export/latest points to it. 05_chat serves export.json's default form.
"""
from productqa import paths, stage_args
from productqa.errors import cli


def parse_args(argv=None) -> stage_args.ExportArgs:
    """The flags, generated from ExportArgs (productqa/stage_args.py), where each is declared once."""
    return stage_args.parse(stage_args.ExportArgs, argv, description=__doc__)


@cli
def main(argv=None):
    args = parse_args(argv)
    from productqa.export import export, opens, parse_quants, push_to_hub
    from productqa.meta import write_meta
    from productqa.runs import data_folder, resolve_run, run_meta, writable_out

    quants = parse_quants(args.quant)
    run_dir = resolve_run(args.run)
    name = args.name or run_dir.name
    out = writable_out(args.out or paths.EXPORTS / name)

    meta = run_meta(run_dir)
    figures = export(run_dir, meta, out, name, quants, data_folder(meta, args.data), args, latest_home=paths.EXPORTS)
    write_meta(out / "meta.json", "export", args, run=str(run_dir), default=figures["default"],
               default_file=figures["default_file"])

    # ---------------------------------------------------------------------------------------------
    quant_times = ", ".join(f"{q} {s}s" for q, s in figures["quantize_seconds"].items())
    print(f"\nmerge {figures['merge_seconds']}s, convert {figures['convert_seconds']}s, quantize: {quant_times or 'none'}")
    if figures.get("adapter_skipped"):
        print(f"adapter form skipped: {figures['adapter_skipped']}")
    gate = figures["gate"]
    short = "" if gate["enough_tokens"] else f", fewer than the {gate['wanted_tokens']} wanted: {gate['fewer_because']}"
    print(f"quality gate ({gate['samples']} held-out answers, {gate['answer_tokens']} tokens{short}; "
          f"pass: mean KLD <= {gate['max_kld']}, top-1 >= {gate['min_top1']:.0%}):")
    print(figures["table"])
    parity = figures["parity"]
    print(f"parity f16 GGUF vs Hugging Face (greedy, {parity['max_new_tokens']} tokens): "
          f"{parity['exact']}/{parity['samples']} identical, agreement {parity['agreement']:.0%}")
    if not parity["tokenizer_match"]:
        print("warning: llama.cpp tokenizes text differently from the training tokenizer (see export.json)")
    print(f"-> served by 05_chat: {figures['default']} ({opens(figures['forms'][figures['default']])})\n"
          f"-> Ollama: {out}/Modelfile (FROM {figures['ollama']['file']})\n"
          f"   ollama create productqa -f {out}/Modelfile && ollama run productqa")
    if args.push_to_hub:
        print(f"pushed to {push_to_hub(out, args.push_to_hub)}")


if __name__ == "__main__":
    main()
