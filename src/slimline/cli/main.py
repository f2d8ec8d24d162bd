"""`slimline` entry point. Heavy libraries are imported inside commands so --help is instant."""

from __future__ import annotations

import argparse
import sys

from slimline import __version__
from slimline.cli import (
    bisect,
    compose,
    lineage,
    load,
    promote,
    register,
    report,
    rollback,
    serve,
    sweep,
    verify,
)
from slimline.cli.errors import run_main

COMMANDS = (compose, report, register, lineage, promote, rollback, bisect, load, serve,
            sweep, verify)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="slimline",
        description="Reproducible LLM compression pipelines with lineage. The pipeline itself "
        "runs with `dvc repro`; these commands prepare and inspect it.",
        epilog="examples:\n  slimline compose\n  slimline compose model=hf "
        "model.source=/models/llama model.name=llama\n  slimline report\n"
        "  slimline register                    # after `dvc exp apply NAME`\n"
        "  slimline lineage @candidate\n  slimline promote @candidate --alias production\n"
        "  slimline bisect --good @production --bad @candidate\n"
        "  slimline verify --all && dvc push    # no damaged file reaches the remote\n"
        "  slimline sweep prune.channel_ratio=0.25,0.5 quantize=gptq,rtn -j 2\n\n"
        "Set SLIMLINE_DEBUG=1 to see tracebacks.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"slimline {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    run_main(args.func, args)


if __name__ == "__main__":
    main(sys.argv[1:])
