"""Death and replication on a Hugging Face LLaMA (a small random one; use your own).

    python examples/huggingface_llama.py [OUT_DIR]

Finds the gated FFN of every layer (act(gate(x)) * up(x) -> down), prunes a quarter of each
with least-squares compensation (down_proj has no bias: one is added and recorded in the
plan), saves, and loads back through the constructor.
"""

from __future__ import annotations

import sys
import tempfile

import torch
from transformers import LlamaConfig, LlamaForCausalLM

import neuroplast

CONFIG = LlamaConfig(hidden_size=64, intermediate_size=172, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, vocab_size=256)


def forward(model: torch.nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """How the model runs on one batch of token ids (several inputs go here too)."""
    return model(input_ids=tokens).logits


def main(out_dir: str) -> None:
    torch.manual_seed(0)
    model = LlamaForCausalLM(CONFIG).eval()
    calibration = [torch.randint(0, 256, (4, 32)) for _ in range(4)]  # your token batches

    sites = neuroplast.find_sites(model, calibration[0], forward=forward)
    for site in sites:
        result = neuroplast.prune(model, site, calibration, rule="lstsq", amount=0.25,
                                  forward=forward)
        print(f"{site.name}: {result.width_before} -> {result.width_after} "
              f"(bias added: {result.bias_added})")

    neuroplast.save(model, f"{out_dir}/llama-pruned")
    loaded = neuroplast.load(f"{out_dir}/llama-pruned", lambda: LlamaForCausalLM(CONFIG)).eval()
    with torch.no_grad():
        same = torch.equal(forward(loaded, calibration[0]), forward(model, calibration[0]))
    print("loaded model equal:", same)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
