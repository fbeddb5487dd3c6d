"""A small decoder-only transformer in the LLaMA style, byte-level, written from scratch.

LLaMA's choices: pre-norm RMSNorm, rotary position embeddings (RoPE) on queries and keys,
causal multi-head self-attention, a gated SiLU feed-forward network, no biases anywhere, untied
input embedding and output head. Module names follow Hugging Face's ``LlamaForCausalLM``::

    model.embed_tokens                                   Embedding(vocab, d_model)
    model.layers.{i}.input_layernorm                     RMSNorm(d_model)
    model.layers.{i}.self_attn.{q,k,v,o}_proj            Linear(d_model, d_model), no bias
    model.layers.{i}.post_attention_layernorm            RMSNorm(d_model)
    model.layers.{i}.mlp.{gate_proj, up_proj}            Linear(d_model, d_ff), no bias
    model.layers.{i}.mlp.act_fn                          SiLU
    model.layers.{i}.mlp.down_proj                       Linear(d_ff, d_model), no bias
    model.norm                                           RMSNorm(d_model)
    lm_head                                              Linear(d_model, vocab), no bias

so the sites are the gated FFNs ``model.layers.{i}.mlp`` (``silu(gate_proj(x)) · up_proj(x) →
down_proj``, width d_ff); the attention projections feed the residual stream or mix tokens and
are not sites. RoPE uses Hugging Face's "rotate half" convention (the first and second halves of
each head's dimensions form the rotated pairs) with base θ = 10000, so the weights load into a
``transformers.LlamaForCausalLM`` of the same configuration and give the same logits.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from neuroplast.errors import NeuroplastError


@dataclass(frozen=True)
class LlamaConfig:
    """Shape of a :class:`TinyLlama`.

    Attributes:
        vocab_size: tokens (256: one per byte).
        d_model: residual stream width.
        n_layers: decoder layers.
        n_heads: attention heads (d_model divisible by n_heads, head dim even for RoPE).
        d_ff: width of the gated FFN (the site width).
        context: longest sequence (rotary tables are precomputed up to it).
        rope_theta: RoPE base θ.
        norm_eps: RMSNorm ε.
        init_std: std of the normal initialisation of every Linear and the embedding
            (Hugging Face's ``initializer_range``); RMSNorm gains start at 1.
    """

    vocab_size: int = 256
    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    d_ff: int = 344
    context: int = 128
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    init_std: float = 0.02

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


class RMSNorm(nn.Module):
    """y = x / sqrt(mean(x², last dim) + ε) · g (no mean subtraction, no bias), computed in
    float32 or wider and cast back, as LLaMA does.

    Args:
        dim: size of the last dimension.
        eps: ε inside the square root.
    """

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        h = x.to(torch.promote_types(dtype, torch.float32))
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


def rotary_tables(head_dim: int, context: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(cos, sin) of shape (context, head_dim), float64: angle t·θ^(−2i/head_dim) for
    position t and pair i, repeated for both halves of the head (Hugging Face's layout).
    Computed at each forward (a few kB) rather than kept as buffers, so a float64 model
    rotates with float64 angles."""
    inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.outer(torch.arange(context, dtype=torch.float64), inv_freq)  # (T, hd/2)
    angles = torch.cat([angles, angles], dim=-1)  # (T, hd)
    return angles.cos(), angles.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate (batch, heads, T, head_dim) queries or keys by position: x·cos + rot(x)·sin."""
    return x * cos.to(x.dtype) + _rotate_half(x) * sin.to(x.dtype)


class Attention(nn.Module):
    """Causal multi-head self-attention with RoPE and no biases."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        d = config.d_model
        self.n_heads = config.n_heads
        self.head_dim = d // config.n_heads
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape

        def heads(h: torch.Tensor) -> torch.Tensor:
            return h.view(b, t, self.n_heads, self.head_dim).transpose(1, 2)  # (b, H, t, hd)

        q = apply_rotary(heads(self.q_proj(x)), cos, sin)
        k = apply_rotary(heads(self.k_proj(x)), cos, sin)
        v = heads(self.v_proj(x))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (b, H, t, hd)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, d))


class LlamaMLP(nn.Module):
    """The gated FFN: down_proj(silu(gate_proj(x)) · up_proj(x)), no biases (a gated site)."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(d_model, d_ff, bias=False)
        self.up_proj = nn.Linear(d_model, d_ff, bias=False)
        self.down_proj = nn.Linear(d_ff, d_model, bias=False)
        self.act_fn = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    """x + attn(norm(x)), then + mlp(norm(·)): LLaMA's pre-norm residual block."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.d_model, config.norm_eps)
        self.mlp = LlamaMLP(config.d_model, config.d_ff)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    """Embedding, decoder layers and the final norm: (batch, T) tokens → (batch, T, d_model)."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(config.d_model, config.norm_eps)
        self.head_dim = config.d_model // config.n_heads
        self.context = config.context
        self.rope_theta = config.rope_theta

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        t = tokens.shape[1]
        if t > self.context:
            raise NeuroplastError(f"a sequence of {t} tokens is longer than the model's context "
                                  f"of {self.context}; cut it into windows")
        cos, sin = rotary_tables(self.head_dim, t, self.rope_theta)  # (T, head_dim) float64
        x = self.embed_tokens(tokens)  # (batch, T, d_model)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x)


class TinyLlama(nn.Module):
    """LLaMA-style causal language model: (batch, T) int64 tokens → (batch, T, vocab) logits.

    Args:
        config: the shape (default: byte vocabulary, d_model 128, 4 layers, 4 heads, d_ff 344,
            context 128).
    """

    def __init__(self, config: LlamaConfig | None = None) -> None:
        super().__init__()
        self.config = config or LlamaConfig()
        if self.config.d_model % self.config.n_heads or (
                self.config.d_model // self.config.n_heads) % 2:
            raise NeuroplastError("d_model must be a multiple of n_heads with an even head "
                                  "dimension (RoPE rotates pairs)")
        self.model = LlamaModel(self.config)
        self.lm_head = nn.Linear(self.config.d_model, self.config.vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.model(tokens))
