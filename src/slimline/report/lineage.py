"""A registered lineage as a report table: each version's metrics with deltas against the
base (`slimline lineage`).

Speed is not in the table: each version's evaluation timed its model in its own process at
its own time, so those numbers are not comparable. With a project at hand, the speed stage's
one side-by-side measurement (`metrics/speed.json`) follows the table for the versions whose
weights it measured (same digest), as in `slimline report`."""

from __future__ import annotations

from pathlib import Path

from slimline.lineage.tags import DEVICE
from slimline.registry.versions import VersionInfo
from slimline.report.sections import SpeedSection
from slimline.report.table import SEPARATELY_MEASURED, Report, StageMetrics
from slimline.results import KNOWN_DIRECTIONS


def lineage_report(chain: list[VersionInfo], root: Path | None = None) -> Report:
    """The chain's evaluation metrics (speed left out) with deltas against its base; with
    `root`, the project's side-by-side speed measurement of the chain's versions after it."""
    directions: dict[str, bool | None] = {}
    for v in chain:
        directions.update(v.directions)
    for key, value in KNOWN_DIRECTIONS.items():
        directions.setdefault(key, value)
    devices = {v.tags.get(DEVICE) for v in chain} - {None}
    device = devices.pop() if len(devices) == 1 else None  # mixed devices: no single label
    stages = [StageMetrics(v.label, {k: x for k, x in v.metrics.items()
                                     if not k.startswith(SEPARATELY_MEASURED)}, v.digest)
              for v in chain]
    report = Report(stages, directions, device)
    if root is not None:
        # The measurement names stages; a version is shown only if it holds the same weights.
        measured = Report([StageMetrics(v.stage, {}, v.digest) for v in chain])
        report.sections.append(SpeedSection.load(root, measured))
    return report
