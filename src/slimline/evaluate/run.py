"""Evaluate one stage's checkpoint on the evaluation split."""

from __future__ import annotations

from pathlib import Path

from slimline.config import EvalConfig
from slimline.errors import SlimlineError


def load_checkpoint(model_dir: Path):
    """Model and tokenizer from a stage's checkpoint directory, in eval mode on CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not (Path(model_dir) / "config.json").exists():
        raise SlimlineError(f"{model_dir} is not a checkpoint (no config.json): run its stage "
                            "first (`dvc repro`).")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    model.eval()
    return model, tokenizer


def evaluate_checkpoint(model_dir: Path, texts: list[str], cfg: EvalConfig) -> dict[str, float]:
    """Run the suite on `model_dir`; return flat metric names to values."""
    from slimline.evaluate.perplexity import perplexity

    model, tokenizer = load_checkpoint(model_dir)
    return perplexity(model, tokenizer, texts, seq_len=cfg.seq_len, batch_size=cfg.batch_size,
                      max_tokens=cfg.max_tokens)
