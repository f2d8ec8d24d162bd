"""`slimline compose`: Hydra-compose conf/ into params.yaml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = "compose conf/ with Hydra overrides into params.yaml"
EXAMPLES = """examples:
  slimline compose                                  # the defaults in conf/config.yaml
  slimline compose data=files data.calibration.path=calib.jsonl \\
      data.recovery.path=train.jsonl data.evaluation.path=eval.jsonl
  slimline compose model=hf model.source=/models/llama-3-8b model.name=llama3-8b
  slimline compose eval.limit=100 --print           # show, do not write
  slimline compose                                  # back to the defaults

Overrides use Hydra's grammar (group=option, key=value, +new_key=value). They replace the
previous choices and are kept in conf/choices/current.yaml, which DVC's Hydra composition
reads too: `dvc exp run -S key=value` starts from what you composed (see .dvc/config)."""

HEADER = "# Generated from conf/ by `slimline compose` (or DVC's Hydra composition); the\n" \
         "# `overrides` key lists the choices made on top of conf/'s defaults. Edit conf/ and\n" \
         "# re-compose instead of editing this file.\n"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compose", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. eval.batch_size=4")
    p.add_argument("--conf-dir", type=Path, default=None,
                   help="Hydra config directory (default: conf/ of the project)")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="file to write instead of the project's params.yaml (the choices are "
                   "then not kept in conf/)")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print the composed YAML instead of writing it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import yaml

    from slimline._atomic import write_text_atomic
    from slimline.choices import choices_file, compose_choices
    from slimline.paths import project_root

    root = project_root()
    conf_dir = args.conf_dir or root / "conf"
    # Only the project's own params.yaml is made from the kept choices; --print and
    # --output are previews that leave conf/ as it is.
    persist = not args.print_only and args.output is None
    values, notices = compose_choices(args.overrides, conf_dir, root, persist=persist)
    for notice in notices:
        print(f"notice: {notice}", file=sys.stderr)
    text = yaml.safe_dump(values, sort_keys=False, default_flow_style=False)
    if args.print_only:
        print(text, end="")
        return
    out = args.output or root / "params.yaml"
    write_text_atomic(out, HEADER + text)
    kept = ("not kept: --output" if not persist else
            f"kept in {choices_file(conf_dir)}" if args.overrides else "the defaults")
    print(f"wrote {out} ({kept})")
