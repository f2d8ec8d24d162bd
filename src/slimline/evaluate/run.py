"""Evaluate one stage's checkpoint on the evaluation split."""

from __future__ import annotations

from pathlib import Path

from slimline.checkpoint import load_checkpoint
from slimline.config import EvalConfig


def evaluate_checkpoint(model_dir: Path, texts: list[str], cfg: EvalConfig) -> dict[str, float]:
    """Run the suite on `model_dir`; return flat metric names to values."""
    from slimline.evaluate.perplexity import perplexity

    model, tokenizer = load_checkpoint(model_dir)
    return perplexity(model, tokenizer, texts, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
                      max_tokens=cfg.max_tokens)
