"""Options and set-up shared by the registry commands."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

# Seconds a tracking server gets to answer before a command gives up on it. MLflow's own
# client retries a refused connection for minutes (MLFLOW_HTTP_REQUEST_MAX_RETRIES=7 with
# backoff), which suits a busy server mid-pipeline, not a URI that is wrong or down.
PROBE_TIMEOUT_S = 5

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


def check_server(uri: str) -> None:
    """Fail in seconds, naming `uri`, when an HTTP tracking server does not answer.

    One GET of the server's /health without retries; any HTTP answer (even an error status)
    shows the server is there, and the real requests keep MLflow's retries.
    """
    if not uri.startswith(("http://", "https://")):
        return
    from mlflow.exceptions import MlflowException
    from mlflow.utils.credentials import get_default_host_creds
    from mlflow.utils.rest_utils import http_request
    from requests.exceptions import RequestException

    from slimline.errors import SlimlineError

    try:
        http_request(get_default_host_creds(uri), "/health", "GET", max_retries=0,
                     backoff_factor=0, timeout=PROBE_TIMEOUT_S, raise_on_status=False)
    except (MlflowException, RequestException) as exc:
        text = str(exc).lower()
        reason = ("connection refused" if "refused" in text else
                  f"no answer within {PROBE_TIMEOUT_S} s" if "timed out" in text else
                  "the host is unknown" if "resolve" in text or "not known" in text else
                  str(exc).splitlines()[0][:160])
        raise SlimlineError(
            f"the MLflow tracking server MLFLOW_TRACKING_URI={uri} does not answer ({reason}). "
            "Start it or fix the URI, or unset MLFLOW_TRACKING_URI to use the project's own "
            "store (mlruns/).") from None


def open_registry(model: str | None) -> Context:
    """Point MLflow at the project's store; read the model name and gates from params.yaml."""
    from slimline.config import RegistryConfig, parse_section
    from slimline.lineage.tracking import tracking_uri, use_store
    from slimline.paths import project_root
    from slimline.pipeline import PARAMS_FILE, load_params

    root = project_root()
    check_server(tracking_uri(root))
    use_store(root)
    gates: dict[str, float] = {}
    name = model
    if (root / PARAMS_FILE).exists():
        registry = parse_section(RegistryConfig, load_params(root)["registry"], "registry")
        gates = registry.gate_items()
        name = name or registry.model_name
    return Context(root, name, gates)
