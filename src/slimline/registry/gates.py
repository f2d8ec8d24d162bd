"""Quality gates: each gated metric's retention against a reference version: the base
version of the same lineage, or on request the version holding an alias (production).

A gate also knows the noise of its comparison: the combined standard error of the two
evaluations (lm-eval's per-metric stderr, recorded at registration), so a failure says
whether the difference is beyond noise (more than `Z` standard errors) or within it. A
failure within noise still fails: the gate is the user's threshold, and a smaller difference
than the evaluation can resolve is no evidence the model is fine; the table says so, which
is when `--force --reason` (or a larger evaluation, `eval.limit`) is the defensible step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from slimline.registry.versions import VersionInfo
from slimline.results import retention

Z = 2.0  # a difference beyond Z combined standard errors (≈95%) is beyond noise


def combined_stderr(a: float | None, b: float | None) -> float | None:
    """The standard error of a difference between two independent evaluations:
    sqrt(se_a² + se_b²); None unless both record one."""
    if a is None or b is None:
        return None
    return math.hypot(a, b)


@dataclass
class GateResult:
    metric: str
    least: float
    value: float | None
    base: float | None
    retention: float | None
    noise: float | None = None  # combined standard error of value and base (σ of Δ)

    @property
    def passed(self) -> bool:
        return self.retention is not None and self.retention >= self.least

    @property
    def delta(self) -> float | None:
        return None if self.value is None or self.base is None else self.value - self.base

    @property
    def beyond_noise(self) -> bool | None:
        """Whether |Δ| exceeds `Z`σ; None where no standard error is recorded."""
        if self.noise is None or self.delta is None:
            return None
        return abs(self.delta) > Z * self.noise

    def noise_note(self) -> str:
        """`beyond noise (Δ -0.08 > 2σ 0.03)`, `within noise (…)` or '' when unknown."""
        beyond = self.beyond_noise
        if beyond is None or self.delta is None or self.noise is None:
            return ""
        sign = ">" if beyond else "≤"
        return (f"{'beyond' if beyond else 'within'} noise "
                f"(Δ {self.delta:+.3g} {sign} {Z:g}σ {Z * self.noise:.3g})")

    @property
    def shortfall(self) -> str:
        """Why the gate fails, without the noise: `keeps 80.0% < 95%`."""
        if self.value is None or self.base is None:
            return "not evaluated on this version or its reference"
        if self.retention is None:
            return "direction unknown (no higher_is_better in its evaluation)"
        return "ok" if self.passed else f"keeps {self.retention:.1%} < {self.least:.0%}"

    @property
    def reason(self) -> str:
        note = "" if self.passed else self.noise_note()
        return self.shortfall + (f", {note}" if note else "")


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
        noise = combined_stderr(version.stderrs.get(metric), base.stderrs.get(metric))
        results.append(GateResult(metric, least, value, ref, kept, noise))
    return results


def _result(r: GateResult) -> str:
    if r.passed:
        return "pass"
    note = r.noise_note()
    return f"FAIL {note}: {r.shortfall}" if note else "FAIL: " + r.shortfall


def gate_table(results: list[GateResult], reference: str = "base") -> str:
    """Fixed-width table of gate results; `reference` heads the compared-with column. A
    failure says whether its difference is beyond the evaluations' noise, and a closing line
    explains a failure within it."""
    rows = [("metric", "value", reference, "retention", "least", "result")]
    for r in results:
        rows.append((r.metric, "–" if r.value is None else f"{r.value:.4g}",
                     "–" if r.base is None else f"{r.base:.4g}",
                     "–" if r.retention is None else f"{r.retention:.1%}",
                     f"{r.least:.0%}", _result(r)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                      for row in rows)
    within = [r.metric for r in results if not r.passed and r.beyond_noise is False]
    if within:
        table += (f"\n{', '.join(within)}: the difference is within {Z:g} standard errors of "
                  "the two evaluations (lm-eval's stderr), so the evaluation cannot tell it "
                  "from noise. The gate still fails; a larger evaluation (eval.limit) would "
                  "settle it, or --force --reason TEXT is defensible.")
    return table
