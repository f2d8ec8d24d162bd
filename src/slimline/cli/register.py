"""`slimline register`: register the workspace's artifacts and move the aliases to them."""

from __future__ import annotations

import argparse

from slimline.cli._registry import add_model_option

HELP = "register the workspace's stage artifacts and move the stage aliases and @candidate"
EXAMPLES = """examples:
  dvc exp apply stoic-pita && slimline register     # make an experiment the candidate
  slimline register --model slimline

Does what the `register` stage does (the same library call), except that it always moves
the stage aliases and @candidate: inside `dvc exp run` the stage registers versions tagged
slimline.experiment=NAME without moving any alias. Versions that already exist (same
content digest) are reused and lose their slimline.experiment_only mark. Writes
registry.json and logs a `register` run."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("register", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_model_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.errors import SlimlineError
    from slimline.paths import project_root
    from slimline.pipeline import PARAMS_FILE
    from slimline.registry.workspace import register_workspace

    root = project_root()
    if not (root / PARAMS_FILE).exists():
        raise SlimlineError(f"{root / PARAMS_FILE} is missing: run `slimline register` in a "
                            "slimline project (after `slimline compose` and `dvc repro`).")
    summary = register_workspace(root, model_name=args.model, move_aliases=True)
    print("\n".join(summary.lines()))
