"""`slimline promote`: move an alias (production) to a version that passes the gates."""

from __future__ import annotations

import argparse

from slimline.cli._registry import REF_HELP, add_model_option, open_registry

HELP = "point an alias (production) at a version that passes the quality gates"
EXAMPLES = """examples:
  slimline promote @candidate                      # → @production if the gates pass
  slimline promote models:/slimline-tiny-llama/4 --alias staging
  slimline promote 4 --force --reason "accepted: facts recall dip is known"

Gates are registry.gates in conf/registry/ (each metric's least retention against the base
version of the same lineage). A refusal prints the failing metrics and exits 1; --force
overrides and records the reason. Every move is recorded (who, when, why, what it
replaced) so `slimline rollback` can undo it."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("promote", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", metavar="MODEL_REF", help=REF_HELP)
    p.add_argument("--alias", default="production", help="alias to move (default production)")
    p.add_argument("--force", action="store_true", help="promote even if gates fail")
    p.add_argument("--reason", default=None, help="why (required with --force; recorded)")
    add_model_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.registry import resolve
    from slimline.registry.gates import gate_table
    from slimline.registry.promote import promote

    ctx = open_registry(args.model)
    version = resolve(args.ref, default_name=ctx.model_name, root=ctx.root)
    event, results = promote(version, args.alias, ctx.gates, force=args.force,
                             reason=args.reason)
    if results:
        print(gate_table(results))
    forced = " (FORCED past failing gates)" if event.forced else ""
    replaced = f", replacing v{event.replaced}" if event.replaced else ""
    print(f"{version.name}@{args.alias} → v{version.version} ({version.stage}){forced}"
          f"{replaced}")
