"""`slimline sweep`: a grid of recipes on DVC's experiment queue; the smallest model that
passes every gate becomes the candidate."""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys
from pathlib import Path

HELP = "sweep a grid of recipes on DVC's queue and make the smallest passing model @candidate"
EXAMPLES = """examples:
  slimline sweep prune.channel_ratio=0.25,0.375,0.5 quantize=gptq,rtn -j 2
  slimline sweep quantize=rtn quantize.group_size=32,64,128 --alias smallest
  slimline sweep --file channels            # conf/sweep/channels.yaml (grid: {key: [values]})

Overrides use Hydra's sweep syntax (a=1,2, range(...), choice(...)) on top of what
`slimline compose` chose. Each point is a DVC experiment named from its overrides (sw-...),
queued with `dvc exp run --queue` and run by `dvc queue start -j N`, in waves so a stage
shared by several points runs once (DVC's run cache serves the others). Every point is
registered by the pipeline's register stage; the sweep's MLflow run groups their pipeline
runs. The frontier goes to sweeps/<id>/frontier.{md,json,png} and the sweep run. Running
the same sweep again (after an interruption, say) runs only the points not yet finished."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sweep", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", metavar="KEY=V1,V2",
                   help="Hydra sweep overrides; the grid is their cartesian product")
    p.add_argument("-f", "--file", default=None, metavar="NAME",
                   help="a sweep file: conf/sweep/NAME.yaml or a path (its overrides come "
                   "first)")
    p.add_argument("-j", "--jobs", type=int, default=None,
                   help="parallel queue workers (default: the file's jobs, else 2)")
    p.add_argument("--alias", default=None,
                   help="alias for the winner (default: the file's alias, else candidate)")
    p.add_argument("--poll", type=float, default=5.0, help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.errors import SlimlineError
    from slimline.paths import project_root
    from slimline.sweep import run_sweep
    from slimline.sweep.grid import load_grid_file

    root = project_root()
    overrides, defaults = [], {}
    if args.file:
        path = Path(args.file)
        if not path.suffix:
            path = root / "conf" / "sweep" / f"{args.file}.yaml"
        overrides, defaults = load_grid_file(path)
    overrides += args.overrides
    if not overrides:
        raise SlimlineError("nothing to sweep: give overrides (prune.channel_ratio=0.25,0.5) "
                            "or --file NAME.")
    jobs = args.jobs or int(defaults.get("jobs", 2))
    if jobs < 1:
        raise SlimlineError("--jobs must be at least 1.")
    # A sweep waits for hours: `kill -USR1 PID` prints where it is waiting.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        run_sweep(root, overrides, jobs=jobs,
                  alias=args.alias or defaults.get("alias", "candidate"), poll_s=args.poll)
    except KeyboardInterrupt:
        print("\ninterrupted: points already queued keep running on DVC's queue (`dvc queue "
              "status`); run the same `slimline sweep` again to continue.", file=sys.stderr,
              flush=True)
        sys.stdout.flush()
        # The points belong to DVC's workers and the sweep run is closed: nothing is left
        # to finish, so exit now rather than wait on library threads and exit hooks.
        os._exit(130)
