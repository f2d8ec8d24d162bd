"""DVC stage `register`: each model stage becomes a version of the pipeline's registered
model; the lineage graph goes to the register run and the final stage's run.

Inside `dvc exp run` new versions carry the experiment's name and no alias moves; after
`dvc exp apply NAME`, `slimline register` (the same library call) moves them.
"""

from __future__ import annotations

from slimline.warm import hand_off

hand_off(__name__)  # in a process forked with the libraries imported (slimline.warm)

from slimline.paths import project_root
from slimline.registry.workspace import register_workspace


def main() -> None:
    summary = register_workspace(project_root())
    print("\n".join(summary.lines()))


if __name__ == "__main__":
    from slimline.cli.errors import run_main

    run_main(main)
