"""Register the workspace's artifacts as one logged run: what the `register` stage and
`slimline register` both do.

The stage runs it with the default (aliases move unless inside `dvc exp run`); the command
runs it with `move_aliases=True`, which is how an applied experiment becomes the candidate.
Either way the run, `registry.json` and the printed lines say which experiment made the
versions and whether the aliases moved.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slimline._atomic import write_text_atomic
from slimline.lineage.tags import (
    ALIASES_MOVED,
    CANDIDATE_VERSION,
    ORIGIN,
    REGISTERED_MODEL,
    REGISTERED_VERSIONS,
    RUNS_NOT_IN_STORE,
    STAGE_RUN_ID,
)
from slimline.paths import REGISTRY_FILE
from slimline.registry.experiment import EXPERIMENT, current_experiment
from slimline.registry.graph import draw_lineage
from slimline.registry.refs import lineage_chain
from slimline.registry.register import Registered, register_pipeline


@dataclass
class RegisterSummary:
    """What one registration did, as written to `registry.json`."""

    registered_model: str
    final_version: str
    aliases_moved: bool
    experiment: str | None
    baseline_rev: str | None
    registered: list[Registered] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "registered_model": self.registered_model,
            "candidate": self.final_version if self.aliases_moved else None,
            "final_version": self.final_version,
            "aliases_moved": self.aliases_moved,
            "experiment": self.experiment,
            "baseline_rev": self.baseline_rev,
            "stages": {r.stage: {"version": r.version.version, "created": r.created,
                                 "skipped": r.skipped, "adopted": r.adopted,
                                 "digest": r.version.digest,
                                 "experiment": r.version.tags.get(EXPERIMENT)}
                       for r in self.registered},
        }

    def lines(self) -> list[str]:
        """One line per stage and one about the aliases, for the terminal."""
        out = []
        for r in self.registered:
            state = "skipped (same artifact)" if r.skipped else (
                "new" if r.created else "adopted" if r.adopted else "exists")
            out.append(f"{r.stage:<10} {self.registered_model} v{r.version.version}  {state}")
        pulled = [r.stage for r in self.registered if r.version.tags.get(ORIGIN)]
        if pulled:
            out.append(f"registered from dvc.lock and slimline.json: {', '.join(pulled)} "
                       "(their original runs are not in this store)")
        if self.aliases_moved:
            out.append(f"aliases moved: stage aliases and @candidate → v{self.final_version}")
        else:
            out.append(f"aliases NOT moved: made in DVC experiment {self.experiment}. To make "
                       f"it the candidate: `dvc exp apply {self.experiment}` then "
                       "`slimline register`.")
        return out


@contextmanager
def _register_lock(root: Path) -> Iterator[None]:
    """One registration at a time per store: queued experiments (`slimline sweep -j N`)
    register in parallel, and two that made the same artifact must find one version, not
    create two (find-by-digest then create is not atomic)."""
    from slimline._atomic import file_lock
    from slimline.lineage.tracking import store_dir

    with file_lock(store_dir(root) / "register.lock"):
        yield


def register_workspace(root: Path, *, model_name: str | None = None,
                       move_aliases: bool | None = None) -> RegisterSummary:
    """Register `root`'s stage artifacts in one `register` run and write `registry.json`.

    Args:
        root: the project directory.
        model_name: the registered model (default: `registry.model_name` of params.yaml).
        move_aliases: see `register_pipeline`; None moves them except inside `dvc exp run`.
    """
    from slimline.config import RegistryConfig, parse_section
    from slimline.lineage.tracking import stage_run
    from slimline.pipeline import load_params, tracking_experiment

    root = Path(root)
    section = load_params(root)["registry"]
    name = model_name or section["model_name"]
    parse_section(RegistryConfig, {"model_name": name}, "registry")
    exp = current_experiment()
    move = exp is None if move_aliases is None else move_aliases
    params = {"registry": {"model_name": name}}
    with stage_run("register", params=params, experiment=tracking_experiment(root),
                   root=root) as run:
        with _register_lock(root):
            registered = register_pipeline(root, name, tracking_experiment(root),
                                           move_aliases=move)
        final = registered[-1].version
        summary = RegisterSummary(name, final.version, move, exp.name if exp else None,
                                  exp.baseline_rev if exp else None, registered)
        record = summary.as_dict()
        run.set_tags({REGISTERED_MODEL: name, CANDIDATE_VERSION: final.version,
                      ALIASES_MOVED: str(move).lower(), EXPERIMENT: summary.experiment,
                      REGISTERED_VERSIONS: json.dumps(record["stages"], sort_keys=True),
                      RUNS_NOT_IN_STORE: ",".join(r.stage for r in registered
                                                  if r.version.tags.get(ORIGIN))})
        with tempfile.TemporaryDirectory() as tmp:
            image = draw_lineage(lineage_chain(final), Path(tmp) / "lineage.png")
            run.log_artifact(image, "lineage")
            # Empty for versions rebuilt from pulled artifacts (the run is in another store).
            stage_run_id = final.tags.get(STAGE_RUN_ID)
            if stage_run_id:
                from mlflow.tracking import MlflowClient

                MlflowClient().log_artifact(stage_run_id, str(image), "lineage")
        write_text_atomic(root / REGISTRY_FILE, json.dumps(record, indent=2) + "\n")
    return summary
