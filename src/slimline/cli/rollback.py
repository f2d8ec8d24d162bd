"""`slimline rollback`: put an alias back on the version it had before the last promotion."""

from __future__ import annotations

import argparse

from slimline.cli._registry import open_registry

HELP = "restore the previously promoted version of an alias (production)"
EXAMPLES = """examples:
  slimline rollback                                # this project's model, @production
  slimline rollback slimline --alias staging --reason "latency regression"

Rolls back one promotion per call; the rollback itself is recorded in the alias history."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rollback", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", default=None, metavar="NAME",
                   help="registered model (default: registry.model_name of params.yaml)")
    p.add_argument("--alias", default="production")
    p.add_argument("--reason", default=None, help="why (recorded)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.errors import SlimlineError
    from slimline.registry.promote import rollback

    ctx = open_registry(args.name)
    if not ctx.model_name:
        raise SlimlineError("name the registered model (no params.yaml here).")
    event = rollback(ctx.model_name, args.alias, reason=args.reason)
    print(f"{ctx.model_name}@{args.alias} → v{event.version} (rolled back from "
          f"v{event.replaced})")
