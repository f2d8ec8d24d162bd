"""Files DVC compares across runs: per model stage, a small metrics JSON and lm-eval's full
results."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slimline._atomic import write_text_atomic
from slimline.lineage.metadata import ArtifactMetadata

SIZE_KEYS = ("num_parameters", "size_bytes")


def metrics_row(metrics: dict[str, dict[str, float]], model: ArtifactMetadata) -> dict:
    """{task: {metric: value}} plus the model's size under "size", rounded for diffs."""
    row: dict[str, Any] = {task: {k: round(v, 6) for k, v in values.items()}
                           for task, values in metrics.items()}
    size = {k: model.metrics[k] for k in SIZE_KEYS if k in model.metrics}
    if size:
        row["size"] = size
    return row


def write_metrics(path: Path, *, metrics: dict[str, dict[str, float]],
                  model: ArtifactMetadata) -> dict:
    """Write `metrics/<stage>.json` (nested; DVC shows keys as `task.metric`), so
    `dvc metrics diff` and `dvc exp show` line stages and runs up key by key."""
    row = metrics_row(metrics, model)
    write_text_atomic(path, json.dumps(row, indent=2) + "\n")
    return row


def write_results(path: Path, *, stage: str, device: str, model: ArtifactMetadata,
                  higher_is_better: dict, lm_eval: dict, root: Path) -> None:
    """Write `evals/<stage>.json`: lm-eval's results (configs, task versions, n-shot, sample
    counts) with the device and the metric directions, paths made project-relative."""
    from lm_eval.utils import handle_non_serializable

    doc = {"stage": stage, "device": device, "artifact_digest": model.digest,
           "higher_is_better": higher_is_better,
           "lm_eval": {k: v for k, v in lm_eval.items() if k != "pretty_env_info"}}
    text = json.dumps(doc, indent=2, default=handle_non_serializable)
    text = text.replace(str(Path(root).resolve()) + "/", "")
    write_text_atomic(path, text + "\n")
