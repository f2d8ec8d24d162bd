"""`slimline promote`: move an alias (production) to a version that passes the gates."""

from __future__ import annotations

import argparse

from slimline.cli._registry import REF_HELP, add_model_option, open_registry

HELP = "point an alias (production) at a version that passes the quality gates"
EXAMPLES = """examples:
  slimline promote @candidate                      # → @production if the gates pass
  slimline promote models:/slimline/4 --alias staging
  slimline promote @candidate --against production  # gate against today's production
  slimline promote 4 --force --reason "accepted: facts recall dip is known"
  slimline promote @candidate --git-tag            # also quantized@vN.0.0, quantized#production#K

Gates are registry.gates in conf/registry/ (each metric's least retention against the base
version of the same lineage, or with --against ALIAS against the version holding that
alias). A refusal prints the failing metrics and what they were compared with and exits 1;
a failure says whether its difference is beyond 2 standard errors of the two evaluations
(lm-eval's stderr) or within them: within noise it still fails, and --force is defensible.
--force overrides and records the reason. Every move is recorded (who, when, why, what it
replaced) so `slimline rollback` can undo it."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("promote", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", metavar="MODEL_REF", help=REF_HELP)
    p.add_argument("--alias", default="production", help="alias to move (default production)")
    p.add_argument("--force", action="store_true", help="promote even if gates fail")
    p.add_argument("--reason", default=None, help="why (required with --force; recorded)")
    p.add_argument("--against", default=None, metavar="ALIAS",
                   help="gate against the version holding ALIAS (e.g. production) instead "
                   "of the candidate's own base")
    p.add_argument("--git-tag", action="store_true",
                   help="also tag the commit whose dvc.lock holds the version in DVC's model "
                   "registry convention (STAGE@vN.0.0, STAGE#ALIAS#K; annotated, by GTO), so "
                   "`dvc artifacts get . STAGE --stage ALIAS` fetches it")
    add_model_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.registry import resolve
    from slimline.registry.gates import gate_table
    from slimline.registry.promote import promote

    ctx = open_registry(args.model)
    version = resolve(args.ref, default_name=ctx.model_name, root=ctx.root)
    if args.git_tag:
        from slimline.registry.git_tags import taggable_commit

        taggable_commit(ctx.root, version)  # refuse before the alias moves
    event, results = promote(version, args.alias, ctx.gates, force=args.force,
                             reason=args.reason, against=args.against)
    if results:
        print(f"gates against {event.compared_with}:")
        print(gate_table(results, f"@{args.against}" if args.against else "base"))
    forced = " (FORCED past failing gates)" if event.forced else ""
    replaced = f", replacing v{event.replaced}" if event.replaced else ""
    print(f"{version.name}@{args.alias} → v{version.version} ({version.stage}){forced}"
          f"{replaced}")
    if args.git_tag:
        from slimline.registry.git_tags import tag_promotion

        tags = tag_promotion(ctx.root, version, args.alias,
                             message=args.reason or f"promoted to @{args.alias}")
        print(f"git tags: {', '.join(tags)} (push them: git push origin --tags)")
