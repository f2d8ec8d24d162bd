"""What a DVC stage entry point needs: exactly the params its `dvc.yaml` entry declares.

Reading the declared keys (rather than whole sections) keeps three things in step: what
DVC watches, what the stage uses and what MLflow records as the run's params.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from slimline.errors import SlimlineError
from slimline.paths import project_root

PARAMS_FILE = "params.yaml"


def declared_params(stage: str, root: Path | None = None) -> list[str]:
    """The params.yaml keys `dvc.yaml` declares for `stage` (`name` or `name@item`)."""
    root = root or project_root()
    dvc_yaml = yaml.safe_load((root / "dvc.yaml").read_text())
    name = stage.split("@", 1)[0]
    entry = dvc_yaml.get("stages", {}).get(name)
    if entry is None:
        raise SlimlineError(f"dvc.yaml has no stage {name!r}.")
    entry = entry.get("do", entry)
    keys: list[str] = []
    for item in entry.get("params", []):
        if isinstance(item, str):
            keys.append(item)
        elif isinstance(item, dict) and PARAMS_FILE in item:
            keys.extend(item[PARAMS_FILE])
    return keys


def _get(tree: dict, dotted: str) -> Any:
    node: Any = tree
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise SlimlineError(f"{PARAMS_FILE} has no key {dotted!r}: run `slimline compose`.")
        node = node[part]
    return node


def _set(tree: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        tree = tree.setdefault(part, {})
    tree[last] = value


def load_params(root: Path | None = None) -> dict:
    root = root or project_root()
    path = root / PARAMS_FILE
    if not path.exists():
        raise SlimlineError(f"{path} is missing: run `slimline compose` to write it from conf/.")
    return yaml.safe_load(path.read_text()) or {}


def stage_params(stage: str, root: Path | None = None) -> dict:
    """The declared params of `stage`, as a nested dict shaped like params.yaml."""
    params = load_params(root)
    out: dict = {}
    for key in declared_params(stage, root):
        _set(out, key, _get(params, key))
    return out


def tracking_experiment(root: Path | None = None) -> str:
    """MLflow experiment for stage runs. Read but not declared: renaming the experiment
    changes where lineage goes, not what a stage computes, so it must not re-run stages."""
    return _get(load_params(root), "registry.experiment")
