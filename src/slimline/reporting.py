"""Files DVC compares across runs: one small metrics JSON per model stage."""

from __future__ import annotations

import json
from pathlib import Path

from slimline._atomic import write_text_atomic
from slimline.lineage.metadata import ArtifactMetadata


def write_metrics(path: Path, *, stage: str, metrics: dict[str, float],
                  model: ArtifactMetadata) -> None:
    """Write `metrics/<stage>.json`: evaluation results plus the model's size, flat, so
    `dvc metrics diff` and `dvc exp show` line stages and runs up key by key."""
    row = {k: round(v, 6) for k, v in sorted(metrics.items())}
    for key in ("num_parameters", "size_bytes"):
        if key in model.metrics:
            row[key] = model.metrics[key]
    write_text_atomic(path, json.dumps(row, indent=2) + "\n")
