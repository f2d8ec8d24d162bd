"""Prefill and decode speed of every model stage, measured round-robin in one process.

Numbers taken by separate processes at different times are not comparable on a shared
machine (one busy evaluation once made the pruned model look 71× faster than the base).
Here every stage's model is loaded into one process and timed in turns, `rounds` times, so
drift hits every stage alike, and the ratios to the base come from one measurement.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slimline.config import SideBySideSpeedConfig
from slimline.errors import SlimlineError
from slimline.paths import METRICS

SPEED_FILE = f"{METRICS}/speed.json"
_KEYS = ("prefill_tokens_per_s", "decode_tokens_per_s")


def measure_round_robin(models: dict[str, Any], cfg: SideBySideSpeedConfig, *,
                        seed: int = 0) -> dict[str, dict[str, Any]]:
    """Time each model `cfg.rounds` times in turn (each round: `cfg.repeats` timed runs after
    a warm-up, `slimline.evaluate.speed.measure_speed`); per model the median of its rounds,
    the rounds themselves, and the ratio to the first model (the base)."""
    from slimline.evaluate.speed import measure_speed

    if not models:
        raise SlimlineError("no models to measure: run the model stages first (`dvc repro`).")
    samples: dict[str, list[dict]] = {name: [] for name in models}
    for _ in range(cfg.rounds):
        for name, model in models.items():
            samples[name].append(measure_speed(model, cfg, seed=seed))
    out: dict[str, dict[str, Any]] = {}
    for name, runs in samples.items():
        out[name] = {key: statistics.median(r[key] for r in runs) for key in _KEYS}
        out[name]["rounds"] = {key: [r[key] for r in runs] for key in _KEYS}
    first = out[next(iter(models))]
    for row in out.values():
        for key in _KEYS:
            row[key.replace("_tokens_per_s", "_vs_base")] = row[key] / first[key]
    return out


def runtime_label(device) -> str:
    """What ran the models: transformers on a torch device, with the library versions."""
    import torch
    import transformers

    return (f"transformers {transformers.__version__} on {device.type} "
            f"(torch {torch.__version__}; compressed-tensors checkpoints run dequantized)")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def measure_stages(directories: dict[str, Path], cfg: SideBySideSpeedConfig) -> dict:
    """Load every stage's checkpoint (the base first) and measure them side by side.

    Args:
        directories: stage name → checkpoint directory, in pipeline order, the base first.
        cfg: the `report.speed` section.

    Returns:
        The document of `metrics/speed.json`: one `measurement` (device, runtime, start and
        end, settings) and per stage its digest, speeds, ratios to the base and rounds.
    """
    from slimline.checkpoint import load_checkpoint
    from slimline.evaluate.speed import describe_device
    from slimline.lineage.metadata import ArtifactMetadata
    from slimline.runtime import resolve as resolve_runtime

    device = resolve_runtime(cfg.device)[0]
    models, digests = {}, {}
    for stage, directory in directories.items():
        models[stage] = load_checkpoint(directory)[0].to(device)
        meta = Path(directory) / "slimline.json"
        digests[stage] = ArtifactMetadata.read(directory).digest if meta.exists() else None
    started = _now()
    rows = measure_round_robin(models, cfg)
    measurement = {**cfg.model_dump(exclude={"device"}), "device": describe_device(device),
                   "runtime": runtime_label(device), "started": started, "finished": _now(),
                   "base": next(iter(directories))}
    return {"measurement": measurement,
            "stages": {stage: {"digest": digests[stage], **rows[stage]} for stage in rows}}
