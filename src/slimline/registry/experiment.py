"""Versions made inside `dvc exp run` belong to the experiment, not to the pipeline's aliases.

DVC runs every stage of an experiment (`dvc exp run`, queued or `--temp` runs included) with
`DVC_EXP_NAME` (the experiment's name, generated when none is given) and
`DVC_EXP_BASELINE_REV` (the commit it branched from) in the environment; see
`dvc/repo/experiments/queue/base.py`. A version first registered there records both in
tags and in its description, and gets no managed alias (stage aliases, `candidate`): a
throw-away experiment must not move them. `dvc exp apply NAME` followed by
`slimline register` adopts it: the aliases move and the experiment-only mark goes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from slimline.lineage.tags import EXPERIMENT, EXPERIMENT_BASELINE, EXPERIMENT_ONLY

EXP_NAME_ENV = "DVC_EXP_NAME"
EXP_BASELINE_ENV = "DVC_EXP_BASELINE_REV"
NOTE_PREFIX = "Experiment: "  # the description line that says so


@dataclass(frozen=True)
class ExperimentRun:
    """The DVC experiment this process runs in."""

    name: str
    baseline_rev: str

    @property
    def label(self) -> str:
        return f"{self.name} (baseline {self.baseline_rev[:7] or '?'})"

    def tags(self, *, only: bool) -> dict[str, str]:
        """Version tags naming the experiment; `only` marks it as not yet adopted."""
        tags = {EXPERIMENT: self.name, EXPERIMENT_BASELINE: self.baseline_rev}
        if only:
            tags[EXPERIMENT_ONLY] = "true"
        return tags

    def note(self, *, only: bool) -> str:
        """The description line for a version first registered in this experiment."""
        if not only:
            return f"{NOTE_PREFIX}made in DVC experiment {self.label}."
        return (f"{NOTE_PREFIX}made in DVC experiment {self.label}; no alias was moved. "
                f"To make it the candidate: `dvc exp apply {self.name}` then "
                "`slimline register`.")


def current_experiment() -> ExperimentRun | None:
    """The experiment DVC runs this process in, or None outside `dvc exp run`."""
    name = os.environ.get(EXP_NAME_ENV, "").strip()
    if not name:
        return None
    return ExperimentRun(name, os.environ.get(EXP_BASELINE_ENV, "").strip())


def adoption_note(description: str | None, when: str) -> str:
    """`description` with its experiment line saying the version was adopted at `when`."""
    lines = (description or "").splitlines()
    adopted = f"adopted by `slimline register` at {when} (aliases moved to it)."
    for i, line in enumerate(lines):
        if line.startswith(NOTE_PREFIX):
            head = line.split("; no alias was moved", 1)[0].rstrip(".")
            lines[i] = f"{head}; {adopted}"
            return "\n".join(lines)
    return "\n".join([*lines, f"{NOTE_PREFIX}{adopted}"])
