"""DVC stage `report`: every model stage's metrics side by side, to files and MLflow."""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

from slimline.paths import project_root
from slimline.report.build import publish_report


def main() -> None:
    report, _ = publish_report(project_root())
    print(report.markdown())


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
