"""What a DVC stage entry point needs: exactly the params its `dvc.yaml` entry declares.

Reading the declared keys (rather than whole sections) keeps three things in step: what
DVC watches, what the stage uses and what MLflow records as the run's params.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml

from slimline.errors import SlimlineError
from slimline.lineage.metadata import CARD_FILE, METADATA_FILE, Provenance
from slimline.lineage.tags import SKIPPED
from slimline.paths import artifact_dir, project_root

if TYPE_CHECKING:
    from slimline.config import RuntimeConfig
    from slimline.data import SplitInfo
    from slimline.lineage.tracking import StageRun
    from slimline.model_stage import StageResult
    from slimline.stages import ModelStage

T = TypeVar("T")

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


@dataclass
class ModelStageContext:
    """What a model stage's entry point works with: its declared params, its open run, the
    data split it reads and the directories of the chain."""

    stage: ModelStage
    root: Path
    params: dict
    run: StageRun
    split: SplitInfo | None = None
    texts: list[str] = field(default_factory=list)

    def artifact(self, name: str) -> Path:
        return artifact_dir(name, self.root)

    @property
    def out(self) -> Path:
        return self.artifact(self.stage.name)

    @property
    def parent(self) -> Path:
        return self.artifact(self.stage.parent or "")

    @property
    def data_dir(self) -> Path:
        return self.artifact("data")

    def section(self, model: type[T]) -> T:
        """The stage's params section, validated."""
        from slimline.config import parse_section

        return parse_section(model, self.params[self.stage.section], self.stage.section)

    def runtime(self) -> RuntimeConfig:
        from slimline.config import RuntimeConfig, parse_section

        return parse_section(RuntimeConfig, self.params["runtime"], "runtime")

    @property
    def record(self) -> Provenance:
        """The params read, the split read (by its name and sha256) and the run."""
        inputs = {self.split.name: self.split.sha256} if self.split else {}
        return Provenance(self.params, inputs, self.run.run_id)


def run_model_stage(name: str, build: Callable[[ModelStageContext], StageResult], *,
                    files: tuple[str, ...] = ()) -> StageResult:
    """The entry point of a model stage after the base: read its declared params and its
    split, open its run (named for its method), `build`, then record the artifact on the
    run: digests, skipped, runtime, metrics, and `slimline.json`, the card, `config.json`
    and `files`."""
    from slimline.data import read_split
    from slimline.lineage.tracking import stage_run
    from slimline.stages import model_stage

    stage = model_stage(name)
    root = project_root()
    params = stage_params(stage.dvc_stage, root)
    split, texts = (read_split(artifact_dir("data", root), stage.reads_split)
                    if stage.reads_split else (None, []))
    with stage_run(stage.dvc_stage, params=params, experiment=tracking_experiment(root),
                   run_name=f"{stage.dvc_stage} {params[stage.section]['method']}",
                   root=root) as run:
        result = build(ModelStageContext(stage, root, params, run, split, texts))
        run.record_artifact(result, files=(METADATA_FILE, CARD_FILE, "config.json", *files),
                            tags={SKIPPED: str(result.skipped).lower()})
    return result
