"""The sweep in MLflow: one `sweep` run that groups each point's pipeline run (its
`mlflow.parentRunId`), holds the frontier, and names the winner; the winner's alias and
description in the registry.

Why link afterwards instead of through the environment: a queued point's stages inherit the
environment of the DVC queue worker, which is whoever started it first (DVC passes only
`DVC_EXP_NAME`, `DVC_EXP_BASELINE_REV` and `DVC_ROOT` to an experiment), so a variable set by
the sweep may never reach them. Every pipeline run made inside `dvc exp run` carries its
experiment's name (`slimline.experiment`), and the sweep adopts the runs of its points.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from slimline.lineage.tags import EXPERIMENT, EXPERIMENT_ONLY, STAGE, SWEEP
from slimline.sweep.frontier import Outcome

PARENT = "mlflow.parentRunId"
NOTE = "Sweep: "  # the description line the sweep writes on its winner


def sweep_run(client: Any, experiment_id: str, sweep_id: str, params: dict[str, str]) -> str:
    """The sweep's run: found again by its id when a sweep is resumed, else created."""
    found = client.search_runs([experiment_id], filter_string=f"tags.`{SWEEP}` = '{sweep_id}' "
                               f"and tags.`{STAGE}` = 'sweep'", max_results=1)
    if found:
        client.update_run(found[0].info.run_id, status="RUNNING")
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"sweep {sweep_id}",
                            tags={SWEEP: sweep_id, STAGE: "sweep"})
    for key, value in params.items():
        client.log_param(run.info.run_id, key, value[:6000])
    return run.info.run_id


def adopt_runs(client: Any, experiment_id: str, run_id: str, sweep_id: str,
               names: Iterable[str]) -> int:
    """Nest the pipeline runs of the points `names` under the sweep run; return how many
    were newly adopted."""
    wanted = set(names)
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{STAGE}` = 'pipeline' "
                              f"and tags.`{EXPERIMENT}` LIKE 'sw-%'", max_results=5000)
    adopted = 0
    for run in runs:
        tags = run.data.tags
        if tags.get(EXPERIMENT) in wanted and tags.get(PARENT) != run_id:
            client.set_tag(run.info.run_id, PARENT, run_id)
            client.set_tag(run.info.run_id, SWEEP, sweep_id)
            adopted += 1
    return adopted


def finish_run(client: Any, run_id: str, files: list[Path], metrics: dict[str, float],
               tags: dict[str, str]) -> None:
    for path in files:
        client.log_artifact(run_id, str(path), "sweep")
    for key, value in metrics.items():
        client.log_metric(run_id, key, float(value))
    for key, value in tags.items():
        client.set_tag(run_id, key, value)
    client.set_terminated(run_id, "FINISHED")


def crown(client: Any, model_name: str, alias: str, winner: Outcome, runner_up: Outcome | None,
          sweep_id: str, points: int, passing: int) -> None:
    """Point `alias` at the winner and say why in its description (one line per sweep,
    replaced when the same sweep runs again). The version stops being experiment-only: an
    alias now points at it."""
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    runner = (f"runner-up {runner_up.name} v{runner_up.version} "
              f"({runner_up.size_bytes:,.0f} bytes; {runner_up.label})"
              if runner_up else "no runner-up (no other point passed)")
    line = (f"{NOTE}{sweep_id} chose it as @{alias} at {when}: the smallest of {points} "
            f"point(s), {passing} passing every gate ({winner.label}; "
            f"{winner.size_bytes:,.0f} bytes); {runner}. "
            f"Its workspace: `dvc exp apply {winner.name}`.")
    mv = client.get_model_version(model_name, winner.version)
    lines = [x for x in (mv.description or "").splitlines()
             if not x.startswith(f"{NOTE}{sweep_id} ")]
    client.update_model_version(model_name, winner.version,
                                description="\n".join([*lines, line]))
    client.set_model_version_tag(model_name, winner.version, SWEEP, sweep_id)
    client.set_model_version_tag(model_name, winner.version, f"{SWEEP}_runner_up",
                                 f"v{runner_up.version}" if runner_up else "")
    if (mv.tags or {}).get(EXPERIMENT_ONLY):
        client.delete_model_version_tag(model_name, winner.version, EXPERIMENT_ONLY)
    client.set_registered_model_alias(model_name, alias, winner.version)
