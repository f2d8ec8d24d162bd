"""Options and set-up shared by the registry commands."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

REF_HELP = ("models:/NAME@ALIAS, models:/NAME/VERSION, @ALIAS or VERSION of this project's "
            "model, an MLflow run id, or a git revision")


def add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=None,
                        help="registered model name (default: registry.model_name of "
                        "params.yaml)")


@dataclass
class Context:
    root: Path
    model_name: str | None
    gates: dict[str, float]


def open_registry(model: str | None) -> Context:
    """Point MLflow at the project's store; read the model name and gates from params.yaml."""
    from slimline.config import RegistryConfig, parse_section
    from slimline.lineage.tracking import use_store
    from slimline.paths import project_root
    from slimline.pipeline import PARAMS_FILE, load_params

    root = project_root()
    use_store(root)  # names an unreachable tracking server in seconds
    gates: dict[str, float] = {}
    name = model
    if (root / PARAMS_FILE).exists():
        registry = parse_section(RegistryConfig, load_params(root)["registry"], "registry")
        gates = registry.gate_items()
        name = name or registry.model_name
    return Context(root, name, gates)
