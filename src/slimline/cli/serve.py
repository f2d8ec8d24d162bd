"""`slimline serve`: start vLLM on a registered version's verified checkpoint."""

from __future__ import annotations

import argparse
import shlex

from slimline.cli._registry import REF_HELP, add_model_option, open_registry

HELP = "serve a registered version with vLLM (arguments read from its checkpoint)"
EXAMPLES = """examples:
  slimline serve @production
  slimline serve models:/slimline@candidate --dry-run       # print the vllm command only
  slimline serve @quantized --vllm-args="--port 8001 --tensor-parallel-size 2"

Resolves the ref like `slimline load`, verifies the checkpoint's sha256, then runs
`vllm serve PATH` with --served-model-name, --quantization (from config.json's
quantization_config), --dtype and --max-model-len (from config.json); --vllm-args adds
more. vLLM is an optional extra: pip install 'slimline[gpu]'."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", metavar="MODEL_REF", help=REF_HELP)
    p.add_argument("--dry-run", action="store_true",
                   help="print the vllm command instead of starting it")
    p.add_argument("--served-model-name", default=None,
                   help="the name clients request (default: NAME and NAME/VERSION)")
    p.add_argument("--vllm-args", default="", metavar="'ARGS'",
                   help="more arguments for `vllm serve`, as one quoted string "
                   "(--vllm-args='--port 8001')")
    add_model_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.serve import INSTALL_HINT, serve_command, start, vllm_executable

    ctx = open_registry(args.model)
    extra = shlex.split(args.vllm_args)
    argv = serve_command(args.ref, root=ctx.root, default_name=ctx.model_name,
                         served_name=args.served_model_name, extra=extra)
    if args.dry_run:
        print(shlex.join(argv))
        if vllm_executable() is None:
            print(f"# {INSTALL_HINT}.")
        return
    print(f"$ {shlex.join(argv)}", flush=True)
    start(argv)
