"""The `prune` section: structured (width) pruning, depth pruning, 2:4 sparsity, or none."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from slimline.config._section import SkippedStage, _Section


class PruneConfig(_Section):
    """Structured pruning in the manner of LLM-Pruner, uniform over all layers.

    Example (conf/prune/taylor.yaml)::

        method: structured
        estimator: taylor_first
        channel_ratio: 0.25
    """

    method: Literal["structured"] = "structured"
    # The names of `slimline.prune.importance.ESTIMATORS` (kept equal by a test; config does
    # not import torch).
    estimator: Literal["taylor_first", "taylor_vector", "taylor_second", "magnitude", "random",
                       "activation"] = Field("taylor_first", description="Importance estimator.")
    channel_ratio: float = Field(0.25, ge=0, lt=1,
                                 description="Share of MLP channels removed per layer.")
    head_ratio: float = Field(0.0, ge=0, lt=1,
                              description="Share of query heads removed per kv group.")
    kv_group_ratio: float = Field(0.0, ge=0, lt=1, description="Share of whole kv groups removed.")
    round_to: int = Field(128, gt=0, description="Pruned widths are multiples of this (use the "
                          "quantization group size).")
    num_batches: int = Field(8, gt=0, description="Calibration batches for the gradients or "
                             "activations.")
    batch_size: int = Field(4, gt=0, description="Sequences per calibration batch.")
    seq_len: int = Field(128, gt=1, description="Tokens per calibration sequence.")
    seed: int = Field(0, description="Seed (the random estimator uses it).")


class DepthPruneConfig(_Section):
    """Remove whole decoder blocks, the least important first, ranked by ShortGPT's Block
    Influence (Men et al., "ShortGPT: Layers in Large Language Models are More Redundant Than
    You Expect", 2024): 1 - cos(block input, block output) on calibration tokens.

    Example (conf/prune/depth.yaml)::

        method: depth
        depth_ratio: 0.25
    """

    method: Literal["depth"] = "depth"
    depth_ratio: float | None = Field(0.25, gt=0, lt=1, description="Share of decoder blocks "
                                      "removed (rounded to the nearest count).")
    num_layers: int | None = Field(None, gt=0, description="Blocks removed; set it (and "
                                   "depth_ratio: null) to name the count instead of a share.")
    num_batches: int = Field(8, gt=0, description="Calibration batches for the scores.")
    batch_size: int = Field(4, gt=0, description="Sequences per calibration batch.")
    seq_len: int = Field(128, gt=1, description="Tokens per calibration sequence.")
    seed: int = Field(0, description="Seed of the calibration windows' choice.")

    @model_validator(mode="after")
    def _one_size(self) -> DepthPruneConfig:
        if (self.depth_ratio is None) == (self.num_layers is None):
            raise ValueError("set exactly one of depth_ratio and num_layers (the other null), "
                             "e.g. prune.depth_ratio=0.25 or prune.depth_ratio=null "
                             "prune.num_layers=2")
        return self


class Sparse24PruneConfig(_Section):
    """2:4 semi-structured sparsity: in every group of 4 consecutive input weights of each
    linear layer, 2 are zero. SparseGPT (Frantar, Alistarh, ICML 2023) or Wanda (Sun et al.,
    ICLR 2024) through llm-compressor, calibrated on the calibration split.

    Example (conf/prune/sparse24.yaml)::

        method: sparse24
        algorithm: sparsegpt
        num_samples: 64
        seq_len: 128
    """

    method: Literal["sparse24"] = "sparse24"
    algorithm: Literal["sparsegpt", "wanda"] = Field(
        "sparsegpt", description="llm-compressor's SparseGPTModifier or WandaPruningModifier.")
    num_samples: int = Field(64, gt=0, description="Calibration sequences.")
    seq_len: int = Field(128, gt=1, description="Tokens per calibration sequence.")
    dampening_frac: float = Field(0.01, gt=0, description="SparseGPT's Hessian dampening "
                                  "(share of the mean diagonal).")
    # A plain "lm_head" does not match: llm-compressor 0.14 names it "lm_head." there.
    ignore: list[str] = Field(default_factory=lambda: ["re:.*lm_head"], description="Linear "
                              "layers kept dense (llm-compressor ignore: names or re:patterns).")
    seed: int = Field(0, description="Seed of the calibration windows' choice.")


PruneStageConfig = Annotated[SkippedStage | PruneConfig | DepthPruneConfig | Sparse24PruneConfig,
                             Field(discriminator="method")]
