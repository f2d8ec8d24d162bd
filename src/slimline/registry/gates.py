"""Quality gates: each gated metric's retention against a reference version: the base
version of the same lineage, or on request the version holding an alias (production)."""

from __future__ import annotations

from dataclasses import dataclass

from slimline.registry.versions import VersionInfo
from slimline.results import retention


@dataclass
class GateResult:
    metric: str
    least: float
    value: float | None
    base: float | None
    retention: float | None

    @property
    def passed(self) -> bool:
        return self.retention is not None and self.retention >= self.least

    @property
    def reason(self) -> str:
        if self.value is None or self.base is None:
            return "not evaluated on this version or its reference"
        if self.retention is None:
            return "direction unknown (no higher_is_better in its evaluation)"
        return "ok" if self.passed else f"keeps {self.retention:.1%} < {self.least:.0%}"


def check_gates(version: VersionInfo, base: VersionInfo, gates: dict[str, float]
                ) -> list[GateResult]:
    """One result per gate against `base` (the reference version); a missing metric or
    direction fails (never passes silently)."""
    results = []
    for metric, least in sorted(gates.items()):
        value, ref = version.metrics.get(metric), base.metrics.get(metric)
        direction = version.directions.get(metric, base.directions.get(metric))
        kept = retention(value, ref, direction) if value is not None and ref is not None \
            else None
        results.append(GateResult(metric, least, value, ref, kept))
    return results


def gate_table(results: list[GateResult], reference: str = "base") -> str:
    """Fixed-width table of gate results; `reference` heads the compared-with column."""
    rows = [("metric", "value", reference, "retention", "least", "result")]
    for r in results:
        rows.append((r.metric, "–" if r.value is None else f"{r.value:.4g}",
                     "–" if r.base is None else f"{r.base:.4g}",
                     "–" if r.retention is None else f"{r.retention:.1%}",
                     f"{r.least:.0%}", "pass" if r.passed else "FAIL: " + r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
