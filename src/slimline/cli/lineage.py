"""`slimline lineage`: one version's chain from its base, with metrics and deltas."""

from __future__ import annotations

import argparse
from pathlib import Path

from slimline.cli._registry import REF_HELP, add_model_option, open_registry
from slimline.lineage.tags import EXPERIMENT, EXPERIMENT_ONLY, STAGES_SKIPPED

HELP = ("show a version's lineage (base → ... → it) with per-stage metrics and deltas; speed "
        "only from the speed stage's one side-by-side measurement")
EXAMPLES = """examples:
  slimline lineage @candidate
  slimline lineage models:/slimline@production --image lineage.png"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("lineage", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", metavar="MODEL_REF", help=REF_HELP)
    p.add_argument("--image", type=Path, default=None, help="also draw the graph to this PNG")
    add_model_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.registry import draw_lineage, lineage_chain, resolve
    from slimline.report.lineage import lineage_report

    ctx = open_registry(args.model)
    chain = lineage_chain(resolve(args.ref, default_name=ctx.model_name, root=ctx.root))
    for v in chain:
        aliases = " ".join("@" + a for a in sorted(v.aliases))
        print(f"{v.label:<14} sha256 {v.digest[:12]}  {aliases}")
        skipped = v.tags.get(STAGES_SKIPPED)
        if skipped:
            print(f"{'':<14} (skipped before it: {skipped})")
        if exp := v.tags.get(EXPERIMENT):
            only = v.tags.get(EXPERIMENT_ONLY) == "true"
            print(f"{'':<14} (made in DVC experiment {exp}"
                  + ("; not adopted: `dvc exp apply` it, then `slimline register`)" if only
                     else ")"))
    print(f"base: {chain[0].describe_base()}")
    print()
    print(lineage_report(chain, ctx.root).markdown())
    if args.image:
        print(f"wrote {draw_lineage(chain, args.image)}")
