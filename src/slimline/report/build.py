"""Write the report's files (atomically, as one directory) and log them to MLflow."""

from __future__ import annotations

import json
from pathlib import Path

from slimline._atomic import atomic_directory
from slimline.paths import REPORTS
from slimline.report.plots import hardware_fit, save, size_vs_quality, stage_bars
from slimline.report.table import Report

FILES = ("report.md", "report.json", "size_vs_quality.png", "stage_metrics.png",
         "hardware_fit.png")


def write_report(report: Report, out_dir: Path) -> list[Path]:
    """report.md (the tables), report.json (the same with deltas and retention) and the
    figures, replacing `out_dir` whole."""
    with atomic_directory(out_dir) as tmp:
        (tmp / "report.md").write_text("# slimline report\n\n" + report.markdown())
        (tmp / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n")
        for name, make in (("size_vs_quality.png", size_vs_quality),
                           ("stage_metrics.png", stage_bars),
                           ("hardware_fit.png", hardware_fit)):
            save(make(report), tmp / name)
    return [Path(out_dir) / f for f in FILES]


def log_report(run, report: Report, files: list[Path]) -> None:
    """Attach the files to the run and log each stage's retention against the base."""
    for path in files:
        run.log_artifact(path, "report")
    metrics = {}
    for row in report.rows():
        for stage, cell in row["stages"].items():
            if stage != report.base.stage and cell.get("retention") is not None:
                metrics[f"retention.{stage}.{row['metric']}"] = cell["retention"]
    run.log_metrics(metrics)


def fit_settings(root: Path):
    """`report.fit` of the project's params.yaml (the defaults where it has none)."""
    from slimline.config import FitConfig, parse_section
    from slimline.pipeline import PARAMS_FILE, load_params

    if not (Path(root) / PARAMS_FILE).exists():
        return FitConfig()
    section = (load_params(root).get("report") or {}).get("fit") or {}
    return parse_section(FitConfig, section, "report.fit")


def publish_report(root: Path, out_dir: Path | None = None, *,
                   log: bool = True) -> tuple[Report, list[Path]]:
    """Load every evaluated stage of the project at `root`, write the report files and
    (with `log`) record them as a `report` run in the project's MLflow experiment."""
    from slimline.pipeline import tracking_experiment
    from slimline.report.sections import FitSection, SpeedSection
    from slimline.report.table import load_report

    def build() -> tuple[Report, list[Path]]:
        report = load_report(root)
        report.sections = [SpeedSection.load(root, report),
                           FitSection.load(root, report, fit_settings(root))]
        return report, write_report(report, out_dir or Path(root) / REPORTS)

    if not log:
        return build()
    from slimline.lineage.tracking import stage_run

    # The run opens first, like every stage's: its inputs are checked before they are read
    # and its wall time is the report's own work.
    with stage_run("report", params={}, experiment=tracking_experiment(root),
                   root=root) as run:
        report, files = build()
        log_report(run, report, files)
    return report, files
