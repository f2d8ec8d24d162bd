"""The `prune` section: structured pruning, or none."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from slimline.config._section import SkippedStage, _Section


class PruneConfig(_Section):
    """Structured pruning in the manner of LLM-Pruner, uniform over all layers.

    Example (conf/prune/taylor.yaml)::

        method: structured
        estimator: taylor_first
        channel_ratio: 0.25
    """

    method: Literal["structured"] = "structured"
    estimator: Literal["taylor_first", "taylor_vector", "taylor_second", "magnitude",
                       "random"] = Field("taylor_first", description="Importance estimator.")
    channel_ratio: float = Field(0.25, description="Share of MLP channels removed per layer.")
    head_ratio: float = Field(0.0, description="Share of query heads removed per kv group.")
    kv_group_ratio: float = Field(0.0, description="Share of whole kv groups removed.")
    round_to: int = Field(128, description="Pruned widths are multiples of this (use the "
                          "quantization group size).")
    num_batches: int = Field(8, gt=0, description="Calibration batches for the gradients.")
    batch_size: int = Field(4, gt=0, description="Sequences per calibration batch.")
    seq_len: int = Field(128, gt=1, description="Tokens per calibration sequence.")
    seed: int = Field(0, description="Seed (the random estimator uses it).")


PruneStageConfig = Annotated[SkippedStage | PruneConfig, Field(discriminator="method")]
