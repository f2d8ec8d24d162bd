"""Which model fits on which GPU: weight bytes plus KV-cache bytes, from `config.json` alone.

Pure arithmetic on a transformers config dict (Llama-style decoders: Llama, Mistral, Qwen2,
...), so a table can be drawn for a model nobody has downloaded. Sizes of GPUs are in GiB
(2**30 bytes) because vendors' memory sizes are binary: an "80GB" A100 has 80 GiB
(81,920 MiB in `nvidia-smi`), a "24GB" RTX 4090 has 24 GiB. Bytes of models are exact.

What counts against a GPU is what vLLM budgets: `gpu_memory_utilization` × capacity must
hold the weights and every sequence's KV cache. Activations, CUDA graphs and the CUDA
context take more (vLLM profiles them at start-up); `reserve_gib` sets that aside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slimline.errors import SlimlineError

GIB = 2**30
# vLLM pages the KV cache in blocks of this many tokens (its default block size).
BLOCK_TOKENS = 16
DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "fp32": 4, "fp16": 2, "bf16": 2,
               "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1}
SCHEMES = ("bf16", "w4a16", "fp8")


@dataclass(frozen=True)
class Shape:
    """The widths of a decoder that decide its bytes."""

    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool
    attention_bias: bool = False
    dtype: str = "bfloat16"
    max_context: int | None = None

    @classmethod
    def from_config(cls, config: dict) -> Shape:
        """Read a transformers `config.json` dict; `head_dim` defaults to hidden / heads."""
        cfg = config.get("text_config", config)  # multimodal configs nest the decoder
        try:
            heads = cfg["num_attention_heads"]
            return cls(
                layers=cfg["num_hidden_layers"], hidden=cfg["hidden_size"],
                intermediate=cfg["intermediate_size"], heads=heads,
                kv_heads=cfg.get("num_key_value_heads") or heads,
                head_dim=cfg.get("head_dim") or cfg["hidden_size"] // heads,
                vocab=cfg["vocab_size"], tied=bool(cfg.get("tie_word_embeddings", False)),
                # Qwen2 has q/k/v biases without saying so in its config.
                attention_bias=bool(cfg.get("attention_bias", cfg.get("model_type") == "qwen2")),
                dtype=str(cfg.get("torch_dtype") or cfg.get("dtype") or "bfloat16"),
                max_context=cfg.get("max_position_embeddings"))
        except KeyError as exc:
            raise SlimlineError(f"config.json lacks {exc.args[0]!r}: the fit table needs a "
                                "decoder config (layers, hidden, intermediate, heads, "
                                "vocab).") from None

    def linears(self) -> list[tuple[int, int]]:
        """(out, in) of one layer's decoder linears: q, k, v, o, gate, up, down."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return [(q, self.hidden), (kv, self.hidden), (kv, self.hidden), (self.hidden, q),
                (self.intermediate, self.hidden), (self.intermediate, self.hidden),
                (self.hidden, self.intermediate)]

    def parameters(self) -> dict[str, int]:
        """Parameter counts: the decoder linears, and the rest (embeddings, lm_head, norms,
        biases), which the quantization schemes keep at 16 bits."""
        linear = self.layers * sum(o * i for o, i in self.linears())
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        norms = self.layers * 2 * self.hidden + self.hidden
        bias = self.layers * (self.heads + 2 * self.kv_heads) * self.head_dim \
            if self.attention_bias else 0
        return {"linear": linear, "other": embeddings + norms + bias}


def weight_bytes(config: dict, scheme: str, *, group_size: int = 128,
                 scale_bytes: int = 2) -> int:
    """Bytes of the weights of `config`'s model stored in `scheme`.

    Args:
        config: a transformers `config.json` dict.
        scheme: `bf16` (every weight 16-bit); `w4a16` (decoder linears 4-bit, one 16-bit
            scale per `group_size` input columns, symmetric so no zero points; embeddings,
            lm_head and norms 16-bit); `fp8` (decoder linears 8-bit, one 16-bit scale per
            output channel; embeddings, lm_head and norms 16-bit), as compressed-tensors
            stores them.
        group_size: input columns sharing one W4A16 scale.
        scale_bytes: bytes of one scale (the checkpoint's 16-bit dtype).
    """
    shape = Shape.from_config(config)
    counts = shape.parameters()
    if scheme == "bf16":
        return 2 * (counts["linear"] + counts["other"])
    if scheme == "w4a16":
        groups = shape.layers * sum(o * math.ceil(i / group_size) for o, i in shape.linears())
        return counts["linear"] // 2 + groups * scale_bytes + 2 * counts["other"]
    if scheme == "fp8":
        channels = shape.layers * sum(o for o, _ in shape.linears())
        return counts["linear"] + channels * scale_bytes + 2 * counts["other"]
    raise SlimlineError(f"unknown weight scheme {scheme!r}: use one of {', '.join(SCHEMES)}.")


def cache_dtype_bytes(cache_dtype: str, shape: Shape) -> int:
    """Bytes of one cached key or value element; `auto` is the model's own dtype (vLLM's
    `--kv-cache-dtype auto`)."""
    name = shape.dtype if cache_dtype == "auto" else cache_dtype
    if name not in DTYPE_BYTES:
        raise SlimlineError(f"unknown KV-cache dtype {name!r}: use auto or one of "
                            f"{', '.join(DTYPE_BYTES)}.")
    return DTYPE_BYTES[name]


def kv_cache_bytes(shape: Shape, tokens: int = 1, batch: int = 1, *,
                   cache_bytes: int = 2) -> int:
    """KV cache of `batch` sequences of `tokens` tokens: 2 (K and V) × layers × kv_heads ×
    head_dim × `cache_bytes` per token, tokens rounded up to whole vLLM blocks."""
    blocks = math.ceil(tokens / BLOCK_TOKENS) * BLOCK_TOKENS
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * cache_bytes * blocks * batch


def max_batch(weights: int, kv_per_sequence: int, gpu_gib: float, *,
              utilization: float = 0.9, reserve_gib: float = 0.0) -> int:
    """The most sequences whose KV cache fits next to the weights (0: not even one)."""
    free = utilization * gpu_gib * GIB - reserve_gib * GIB - weights
    if free <= 0:
        return 0
    return int(free // kv_per_sequence)


@dataclass(frozen=True)
class FitRow:
    """One model at one context length, against every GPU."""

    model: str
    context: int
    weights: int
    kv_per_sequence: int
    totals: dict[int, int]        # batch size -> weights + KV cache bytes
    largest_batch: dict[str, int]  # GPU label -> most sequences that fit (0: does not fit)


def fit_rows(model: str, config: dict, weights: int, *, contexts: list[int],
             batch_sizes: list[int], gpus_gib: list[float], utilization: float = 0.9,
             reserve_gib: float = 0.0, cache_dtype: str = "auto") -> list[FitRow]:
    """The fit of one model (its config and real or estimated weight bytes) at each context.

    Contexts longer than the model's `max_position_embeddings` are clamped to it (and
    repeated ones dropped): a model cannot be served beyond its own context.
    """
    shape = Shape.from_config(config)
    element = cache_dtype_bytes(cache_dtype, shape)
    seen: list[int] = []
    for context in contexts:
        context = min(context, shape.max_context or context)
        if context not in seen:
            seen.append(context)
    rows = []
    for context in seen:
        per_seq = kv_cache_bytes(shape, context, cache_bytes=element)
        rows.append(FitRow(
            model, context, weights, per_seq,
            {b: weights + b * per_seq for b in batch_sizes},
            {gpu_label(g): max_batch(weights, per_seq, g, utilization=utilization,
                                     reserve_gib=reserve_gib) for g in gpus_gib}))
    return rows


def gpu_label(gib: float) -> str:
    return f"{gib:g} GiB"


def gib(n: int) -> str:
    """Bytes as GiB for tables (two decimals), small sizes in MiB."""
    return f"{n / GIB:,.2f} GiB" if n >= GIB / 10 else f"{n / 2**20:,.2f} MiB"


def fit_markdown(rows: list[FitRow], *, utilization: float, reserve_gib: float = 0.0) -> str:
    """The table: per model and context, weights, KV cache per sequence, totals at each batch
    size, and for each GPU the largest batch that fits (✗ when not even one)."""
    if not rows:
        return ""
    batches = list(rows[0].totals)
    gpus = list(rows[0].largest_batch)
    head = (["model", "context", "weights", "KV / sequence"]
            + [f"total, batch {b}" for b in batches] + [f"{g}: batch ≤" for g in gpus])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.model, f"{r.context:,}", gib(r.weights), gib(r.kv_per_sequence)]
        cells += [gib(r.totals[b]) for b in batches]
        cells += [f"{r.largest_batch[g]:,}" if r.largest_batch[g] else "✗" for g in gpus]
        lines.append("| " + " | ".join(cells) + " |")
    reserve = f", less {reserve_gib:g} GiB reserved" if reserve_gib else ""
    note = (f"\nA model fits a GPU when weights + KV cache ≤ {utilization:g} × its memory "
            f"(vLLM's gpu_memory_utilization{reserve}); GPU sizes in GiB (an \"80GB\" A100 has "
            f"80 GiB). Activations and CUDA graphs need more on top. A batch fits when it is "
            f"at most the number shown.\n")
    return "\n".join(lines) + "\n" + note
