"""Where a slimline project keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

ARTIFACTS = "artifacts"
METRICS = "metrics"  # metrics/<stage>.json: each model stage's evaluation, for DVC
EVALS = "evals"  # evals/<stage>.json: lm-eval's full results of each model stage
PLOTS = "plots"  # DVC plot data (the recovery loss curve)
REPORTS = "reports"  # the report's tables and figures
REGISTRY_FILE = "registry.json"  # the register stage's summary
MLRUNS = "mlruns"


def project_root(start: Path | None = None) -> Path:
    """The directory holding `dvc.yaml` (or `$SLIMLINE_ROOT`), searched upward from `start`."""
    if env := os.environ.get("SLIMLINE_ROOT"):
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        if (d / "dvc.yaml").exists() or (d / "conf" / "config.yaml").exists():
            return d
    return here


def artifact_dir(stage: str, root: Path | None = None) -> Path:
    return (root or project_root()) / ARTIFACTS / stage
