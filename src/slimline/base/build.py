"""Build `artifacts/base`: train the tiny default or bring in an existing checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from slimline.config import HFModelConfig, TinyModelConfig
from slimline.lineage.metadata import Provenance
from slimline.model_stage import Made, StageResult, build_model_stage
from slimline.stages import model_stage

STAGE = model_stage("base")


def _build_tiny(cfg: TinyModelConfig, out: Path) -> tuple[dict[str, str], dict, list[float]]:
    import torch

    from slimline.base import _tiny
    from slimline.checkpoint import token_stream
    from slimline.data.corpus import build_corpus

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    corpus = build_corpus()
    tokenizer = _tiny.train_tokenizer(corpus.train, cfg.vocab_size)
    model = _tiny.build_model(cfg, tokenizer)
    result = _tiny.train(model, token_stream(tokenizer, corpus.train), cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    metrics = {"train_loss": result.final_loss, "train_steps": result.steps,
               "train_tokens": result.tokens_seen, "train_seconds": result.seconds,
               "train_tokens_per_s": result.tokens_seen / result.seconds}
    return {"corpus": corpus.digest()}, metrics, result.losses


def build_base(cfg: TinyModelConfig | HFModelConfig, out_dir: Path, *,
               params: dict[str, Any], run_id: str | None = None) -> StageResult:
    """Write the base checkpoint, its `slimline.json` and model card to `out_dir` atomically.

    Args:
        cfg: the `model` section of params.yaml.
        out_dir: target directory (replaced only when everything succeeded).
        params: the params the stage read, recorded in `slimline.json`.
        run_id: MLflow run of this stage execution, if any.

    Returns:
        The built stage; `extra["train_losses"]` holds the tiny model's per-step loss.
    """
    def transform(tmp: Path) -> Made:
        if isinstance(cfg, TinyModelConfig):
            inputs, metrics, losses = _build_tiny(cfg, tmp)
            return Made(metrics=metrics, inputs=inputs, extra={"train_losses": losses})
        from slimline.base._hf import materialise

        hashes = materialise(cfg, tmp)
        return Made(inputs={"source": cfg.source, "source_revision": cfg.revision or "default"},
                    known=hashes)

    def story(parent_digest: str | None, metrics: dict[str, float]) -> str:
        if isinstance(cfg, TinyModelConfig):
            return (f"The embedded tiny default `{cfg.name}`: a {cfg.num_hidden_layers}-layer "
                    "Llama trained from scratch on slimline's built-in corpus.")
        return f"Base checkpoint `{cfg.source}` brought in unchanged as `{cfg.name}`."

    return build_model_stage(STAGE, None, out_dir, transform=transform, story=story,
                             record=Provenance(params=params, run_id=run_id),
                             title=f"{cfg.name} (base)")
