"""`slimline bisect`: name the first stage where a good and a bad model diverge."""

from __future__ import annotations

import argparse
import sys

from slimline.cli._registry import REF_HELP, add_model_option, open_registry

HELP = "find the stage (and the input) where a bad model's lineage diverges from a good one"
EXAMPLES = """examples:
  slimline bisect --good @production --bad @candidate
  slimline bisect --good v0.3 --bad HEAD --metric slimline_heldout.word_perplexity
  slimline bisect --good 4 --bad 9 --tolerance 0.005

A metric moves when its difference is beyond 2 combined standard errors of the two
evaluations (lm-eval's stderr, recorded at registration), or by more than 1% where no stderr
is recorded (speed, size, perplexities); --tolerance sets one relative tolerance for all.

Refs: """ + REF_HELP + """. Exit code: 0 = a culprit stage was found,
3 = no stage diverges beyond the tolerance, 1 = error."""

NO_CULPRIT = 3


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bisect", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--good", required=True, metavar="REF")
    p.add_argument("--bad", required=True, metavar="REF")
    p.add_argument("--metric", action="append", default=None,
                   help="metric to compare (task.metric; repeatable; default: every quality "
                   "metric of the evaluation suite)")
    p.add_argument("--tolerance", type=float, default=None,
                   help="relative change that counts as divergence for every metric (default: "
                   "beyond 2σ of lm-eval's stderr where recorded, else 0.01 = 1%%)")
    add_model_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.registry import resolve
    from slimline.registry.bisect import bisect, render

    ctx = open_registry(args.model)
    good = resolve(args.good, default_name=ctx.model_name, root=ctx.root)
    bad = resolve(args.bad, default_name=ctx.model_name, root=ctx.root)
    result = bisect(good, bad, metrics=args.metric, tolerance=args.tolerance)
    print(render(result))
    if result.culprit is None:
        sys.exit(NO_CULPRIT)
