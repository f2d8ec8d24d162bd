"""The results files of the model stages, one owner for their format.

`metrics/<stage>.json` holds a stage's evaluation, nested `{task: {metric: value}}` plus the
model's size (DVC shows the keys as `task.metric`); `evals/<stage>.json` holds lm-eval's full
results (each metric's standard error among them) with the device and each metric's
direction. The evaluation stage writes them; the report and the registry read them here.
lm-eval's metrics say their own direction; the directions of slimline's own numbers are
declared next to what measures them (`checkpoint.SIZE_DIRECTIONS`,
`evaluate.speed.DIRECTIONS`, which the evaluation writes into `evals/<stage>.json`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from slimline._atomic import write_text_atomic
from slimline.checkpoint import SIZE_DIRECTIONS
from slimline.lineage.metadata import ArtifactMetadata
from slimline.paths import EVALS, METRICS

SIZE_KEYS = tuple(SIZE_DIRECTIONS)
# Directions of the numbers no evaluation document states (the model's size).
KNOWN_DIRECTIONS: dict[str, bool | None] = {f"size.{k}": v for k, v in SIZE_DIRECTIONS.items()}


def metrics_file(root: Path, stage: str) -> Path:
    return Path(root) / METRICS / f"{stage}.json"


def evals_file(root: Path, stage: str) -> Path:
    return Path(root) / EVALS / f"{stage}.json"


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


def flatten(tree: dict, prefix: str = "") -> dict[str, float]:
    """Nested numbers as `a.b.c` keys (non-numbers and booleans left out)."""
    out: dict[str, float] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = float(value)
    return out


def flatten_directions(tree: dict) -> dict[str, bool | None]:
    """An evaluation's `{task: {metric: higher_is_better}}` as `task.metric` keys."""
    return {f"{task}.{metric}": value for task, metrics in tree.items()
            for metric, value in metrics.items()}


def flatten_stderrs(evaluation: dict) -> dict[str, float]:
    """Each metric's standard error as `task.metric` keys, read from lm-eval's results kept in
    an evaluation document (`evals/<stage>.json`); none for metrics lm-eval gives none
    (speed, size, perplexities)."""
    from slimline.evaluate.suite import flatten_stderrs as lm_eval_stderrs  # no import cycle

    return flatten(lm_eval_stderrs(evaluation.get("lm_eval") or {}))


def retention(value: float, base: float, higher_is_better: bool | None) -> float | None:
    """How much of the base's quality a value keeps: 1.0 = as good, < 1 = worse.

    value/base when higher is better, base/value when lower is better; None when the
    direction is unknown. A base of 0 that is higher-better (or a value of 0 that is
    lower-better) leaves nothing to lose: 1.0."""
    if higher_is_better is None:
        return None
    if higher_is_better:
        return value / base if base else 1.0
    return base / value if value else 1.0


def read_stage_results(root: Path, stage: str) -> tuple[dict[str, float], dict] | None:
    """A stage's flat metrics (`metrics/<stage>.json`) and its evaluation document
    (`evals/<stage>.json`, empty if absent); None if the stage was not evaluated."""
    path = metrics_file(root, stage)
    if not path.exists():
        return None
    results = evals_file(root, stage)
    evaluation = json.loads(results.read_text()) if results.exists() else {}
    return flatten(json.loads(path.read_text())), evaluation
