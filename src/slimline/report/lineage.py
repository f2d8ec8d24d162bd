"""A registered lineage as a report table: each version's metrics with deltas against the
base (`slimline lineage`)."""

from __future__ import annotations

from slimline.lineage.tags import DEVICE
from slimline.registry.versions import VersionInfo
from slimline.report.table import Report, StageMetrics
from slimline.results import KNOWN_DIRECTIONS


def lineage_report(chain: list[VersionInfo]) -> Report:
    directions: dict[str, bool | None] = {}
    for v in chain:
        directions.update(v.directions)
    for key, value in KNOWN_DIRECTIONS.items():
        directions.setdefault(key, value)
    devices = {v.tags.get(DEVICE) for v in chain} - {None}
    device = devices.pop() if len(devices) == 1 else None  # mixed devices: no single label
    return Report([StageMetrics(v.label, v.metrics, v.digest) for v in chain], directions,
                  device)
