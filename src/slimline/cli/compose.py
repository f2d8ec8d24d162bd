"""`slimline compose`: Hydra-compose conf/ into params.yaml."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "compose conf/ with Hydra overrides into params.yaml"
EXAMPLES = """examples:
  slimline compose                                  # the defaults in conf/config.yaml
  slimline compose data=files data.calibration.path=calib.jsonl \\
      data.recovery.path=train.jsonl data.evaluation.path=eval.jsonl
  slimline compose model=hf model.source=/models/llama-3-8b model.name=llama3-8b
  slimline compose eval.limit=100 --print           # show, do not write

Overrides use Hydra's grammar (group=option, key=value, +new_key=value). The same
composition runs inside `dvc exp run -S key=value` (see .dvc/config)."""

HEADER = "# Generated from conf/ by `slimline compose` (or DVC's Hydra composition).\n" \
         "# Edit conf/ and re-compose instead of editing this file.\n"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compose", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. eval.batch_size=4")
    p.add_argument("--conf-dir", type=Path, default=None,
                   help="Hydra config directory (default: conf/ of the project)")
    p.add_argument("--output", "-o", type=Path, default=None,
                   help="file to write (default: params.yaml of the project)")
    p.add_argument("--print", dest="print_only", action="store_true",
                   help="print the composed YAML instead of writing it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    import yaml

    from slimline._atomic import write_text_atomic
    from slimline.config import compose
    from slimline.paths import project_root

    root = project_root()
    values = compose(args.overrides, args.conf_dir or root / "conf")
    text = yaml.safe_dump(values, sort_keys=False, default_flow_style=False)
    if args.print_only:
        print(text, end="")
        return
    out = args.output or root / "params.yaml"
    write_text_atomic(out, HEADER + text)
    print(f"wrote {out}")
