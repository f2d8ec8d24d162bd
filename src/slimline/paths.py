"""Where a slimline project keeps its files."""

from __future__ import annotations

import os
from pathlib import Path

ARTIFACTS = "artifacts"
METRICS = "metrics"
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
