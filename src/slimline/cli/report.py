"""`slimline report`: one table of every model stage's metrics, deltas against the base."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "tabulate and plot every stage's metrics against the base"
EXAMPLES = """examples:
  slimline report                     # reports/ from metrics/*.json, logged to MLflow
  slimline report --out /tmp/rep --no-mlflow

Reads metrics/<stage>.json and evals/<stage>.json (written by the eval stages),
metrics/speed.json (the `speed` stage: the only speed compared across stages) and each
stage's artifacts/<stage>/config.json (hardware fit, report.fit in params.yaml), and writes
report.md, report.json, size_vs_quality.png, stage_metrics.png and hardware_fit.png.
`dvc repro` runs it as the `report` stage."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=None,
                   help="directory for the report files (default: reports/ of the project)")
    p.add_argument("--no-mlflow", action="store_true",
                   help="only write files; do not log a report run to MLflow")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.paths import project_root
    from slimline.report.build import publish_report

    report, files = publish_report(project_root(), args.out, log=not args.no_mlflow)
    print(report.markdown())
    print(f"wrote {', '.join(str(f) for f in files)}")
