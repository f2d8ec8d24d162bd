"""Every model stage's metrics side by side, with deltas against the base."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from slimline.errors import SlimlineError
from slimline.lineage.metadata import ArtifactMetadata
from slimline.paths import artifact_dir
from slimline.results import (
    KNOWN_DIRECTIONS,
    flatten_directions,
    read_stage_results,
    retention,
)
from slimline.stages import MODEL_STAGES

# Each evaluation also times its model where and when it runs; those numbers come from
# separate processes at different times, so the table never compares them across stages
# (speed is compared only within one side-by-side measurement: slimline.report.sections).
SEPARATELY_MEASURED = "speed."


@dataclass
class StageMetrics:
    stage: str
    metrics: dict[str, float]
    digest: str | None = None
    skipped: bool = False


@dataclass
class Report:
    """The table behind `slimline report`: stages in pipeline order and their metrics."""

    stages: list[StageMetrics]
    higher_is_better: dict[str, bool | None] = field(default_factory=dict)
    device: str | None = None
    sections: list = field(default_factory=list)  # more sections: markdown() and to_json()

    @property
    def base(self) -> StageMetrics:
        return self.stages[0]

    def metric_names(self) -> list[str]:
        names: list[str] = []
        for stage in self.stages:
            names += [m for m in stage.metrics if m not in names]
        return names

    def is_quality(self, metric: str) -> bool:
        """An evaluation suite's metric (not size or speed) with a known direction."""
        return (not metric.startswith(("size.", "speed."))
                and self.higher_is_better.get(metric) is not None)

    def quality_metrics(self) -> list[str]:
        """The evaluation suite's metrics (not size or speed) with a known direction."""
        return [m for m in self.metric_names() if self.is_quality(m)]

    def rows(self) -> list[dict]:
        """One row per metric: each stage's value, delta and retention against the base."""
        out = []
        for name in self.metric_names():
            base = self.base.metrics.get(name)
            row = {"metric": name, "higher_is_better": self.higher_is_better.get(name),
                   "stages": {}}
            for stage in self.stages:
                value = stage.metrics.get(name)
                cell: dict = {"value": value}
                if value is not None and base is not None:
                    cell["delta"] = value - base
                    cell["relative"] = value / base - 1 if base else None
                    cell["retention"] = retention(value, base, row["higher_is_better"])
                    # Neural Magic's model-card "recovery": quality kept against the base.
                    cell["recovery"] = cell["retention"] if self.is_quality(name) else None
                row["stages"][stage.stage] = cell
            out.append(row)
        return out

    def to_json(self) -> dict:
        return {"base": self.base.stage, "device": self.device,
                "stages": [{"stage": s.stage, "digest": s.digest, "skipped": s.skipped}
                           for s in self.stages],
                "rows": self.rows(),
                **{section.key: section.to_json() for section in self.sections}}

    def markdown(self) -> str:
        """The table as Markdown: value and change against the base in every cell, and each
        later stage's recovery of the base's quality; then the extra sections."""
        head = ["metric", ""]
        for s in self.stages:
            head.append(s.stage + (" (skipped)" if s.skipped else ""))
            if s is not self.base:
                head.append("recovery")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for row in self.rows():
            arrow = {True: "↑", False: "↓", None: ""}[row["higher_is_better"]]
            cells = [row["metric"], arrow]
            for stage in self.stages:
                cell = row["stages"][stage.stage]
                if cell["value"] is None:
                    cells.append("–")
                elif stage is self.base or cell.get("relative") is None:
                    cells.append(_number(cell["value"]))
                else:
                    cells.append(f"{_number(cell['value'])} ({cell['relative']:+.1%})")
                if stage is not self.base:
                    recovery = cell.get("recovery")
                    cells.append("–" if recovery is None else f"{recovery:.1%}")
            lines.append("| " + " | ".join(cells) + " |")
        note = ((f"\nEvaluated on {self.device}. " if self.device else "\n")
                + f"↑ higher is better, ↓ lower is better; changes are against "
                f"{self.base.stage}. Recovery is the share of the base's quality kept "
                "(value / base when higher is better, base / value when lower is better).\n")
        text = "\n".join(lines) + "\n" + note
        return text + "".join("\n" + section.markdown() for section in self.sections)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def load_report(root: Path, stages: tuple[str, ...] = MODEL_STAGES) -> Report:
    """Read `metrics/<stage>.json` and `evals/<stage>.json` of each evaluated stage."""
    found: list[StageMetrics] = []
    directions = dict(KNOWN_DIRECTIONS)
    device = None
    for stage in stages:
        results = read_stage_results(root, stage)
        if results is None:
            continue
        metrics, evaluation = results
        metrics = {k: v for k, v in metrics.items() if not k.startswith(SEPARATELY_MEASURED)}
        meta_dir = artifact_dir(stage, root)
        meta = ArtifactMetadata.read(meta_dir) if (meta_dir / "slimline.json").exists() else None
        found.append(StageMetrics(stage, metrics, meta.digest if meta else None,
                                  meta.skipped if meta else False))
        directions.update(flatten_directions(evaluation.get("higher_is_better", {})))
        device = device or evaluation.get("device")
    if not found:
        raise SlimlineError(f"no metrics/<stage>.json under {root}: run the pipeline first "
                            "(`dvc repro`).")
    return Report(found, directions, device)

