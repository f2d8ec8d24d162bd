"""`slimline load`: load a registered version (verifying its digest) and try it."""

from __future__ import annotations

import argparse

from slimline.cli._registry import REF_HELP, add_model_option, open_registry

HELP = "load a registered version by reference, verify its digest, optionally generate"
EXAMPLES = """examples:
  slimline load models:/slimline@production
  slimline load @candidate --prompt "Every map of Vaidaith marks its capital city:"

In Python: model, tokenizer = slimline.load("models:/slimline@production")"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("load", help=HELP, description=HELP, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("ref", metavar="MODEL_REF", help=REF_HELP)
    p.add_argument("--prompt", default=None, help="generate a short greedy completion")
    p.add_argument("--max-new-tokens", type=int, default=16)
    add_model_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> None:
    from slimline.checkpoint import load_checkpoint
    from slimline.registry import resolve
    from slimline.registry.load import locate

    ctx = open_registry(args.model)
    version = resolve(args.ref, default_name=ctx.model_name, root=ctx.root)
    directory = locate(version, ctx.root)  # hashes the files once
    print(f"{version.ref} ({version.stage}) → {directory} "
          f"(sha256 {version.digest[:12]} verified)")
    model, tokenizer = load_checkpoint(directory)
    print(f"loaded {type(model).__name__} ({model.config.model_type})")
    if args.prompt:
        ids = tokenizer(args.prompt, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=args.max_new_tokens, do_sample=False)
        print(tokenizer.decode(out[0], skip_special_tokens=True))
