"""Every registered version loadable by MLflow's own API: a pyfunc model holding a manifest.

A stage's logged model carries no weights (they live in `artifacts/<stage>/` and the DVC
cache). Its MLflow Model is a manifest: the artifact's content digest, its project-relative
location, the project it was logged from and the logged model's id. Loading it
(`mlflow.pyfunc.load_model("models:/NAME@production")`, `mlflow models serve -m ...`)
finds the checkpoint the way `slimline load` does — the workspace, slimline's model cache,
then the DVC cache (`slimline.registry.load.locate`) —, refuses it unless its content
matches the digest, and `predict` answers prompts with greedy generated text.

The project is the first of `$SLIMLINE_ROOT`, the current directory's slimline project and
the directory it was logged from that is a project (has dvc.yaml or params.yaml).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import mlflow.pyfunc

MODEL_TYPE = "slimline-checkpoint"
DEFAULT_NEW_TOKENS = 32


def manifest(*, digest: str, stage: str, location: str, root: Path, model_id: str) -> dict:
    """What the loader needs to find and verify the checkpoint (stored in the MLmodel)."""
    return {"artifact_digest": digest, "stage": stage, "location": location,
            "project": str(Path(root).resolve()), "model_id": model_id}


def _project(recorded: str) -> Path:
    from slimline.paths import project_root

    candidates = [os.environ.get("SLIMLINE_ROOT"), str(project_root()), recorded]
    for candidate in filter(None, candidates):
        if any((Path(candidate) / name).exists() for name in ("dvc.yaml", "params.yaml")):
            return Path(candidate)
    return Path(recorded)


def _dvc_md5(model_id: str) -> str:
    """The DVC md5 the register stage recorded on the logged model ('' before it did)."""
    from mlflow.exceptions import MlflowException

    from slimline.lineage.tags import DVC_MD5

    try:
        return mlflow.MlflowClient().get_logged_model(model_id).tags.get(DVC_MD5, "")
    except MlflowException:
        return ""


class CheckpointModel(mlflow.pyfunc.PythonModel):
    """Loads the verified checkpoint a manifest names; predicts greedy completions."""

    def load_context(self, context: Any) -> None:
        from slimline.checkpoint import load_checkpoint
        from slimline.lineage.tags import DVC_MD5, LOCATION
        from slimline.registry.load import locate
        from slimline.registry.versions import VersionInfo

        m = context.model_config
        root = _project(m["project"])
        version = VersionInfo(
            name=f"models:/{m['model_id']}", version=m["stage"], stage=m["stage"],
            digest=m["artifact_digest"], parent_digest=None, parent_version=None,
            tags={LOCATION: m["location"], DVC_MD5: _dvc_md5(m["model_id"])})
        self.model, self.tokenizer = load_checkpoint(locate(version, root))

    def predict(self, context, model_input, params=None):  # no hints: pyfunc reads them as a schema
        import torch

        prompts = _prompts(model_input)
        new_tokens = int((params or {}).get("max_new_tokens", DEFAULT_NEW_TOKENS))
        out = []
        for prompt in prompts:
            ids = self.tokenizer(prompt, return_tensors="pt")
            with torch.no_grad():
                generated = self.model.generate(
                    **ids, max_new_tokens=new_tokens, do_sample=False,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
            out.append(self.tokenizer.decode(generated[0, ids["input_ids"].shape[1]:],
                                             skip_special_tokens=True))
        return out


def _prompts(model_input: Any) -> list[str]:
    """Prompts from what pyfunc hands over: a list of strings, a string, or a DataFrame
    (`mlflow models serve` turns `{"inputs": [...]}` into one) whose first column holds them."""
    if isinstance(model_input, str):
        return [model_input]
    if hasattr(model_input, "iloc"):
        return [str(v) for v in model_input.iloc[:, 0].tolist()]
    return [str(v) for v in model_input]


def log_manifest_model(model_id: str, config: dict) -> None:
    """Write the manifest pyfunc into logged model `model_id` (an external logged model
    becomes a loadable one: MLflow drops its external tag)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    signature = ModelSignature(
        inputs=Schema([ColSpec("string")]), outputs=Schema([ColSpec("string")]),
        params=ParamSchema([ParamSpec("max_new_tokens", "long", DEFAULT_NEW_TOKENS)]))
    mlflow.pyfunc.log_model(
        name=config["stage"], python_model=CheckpointModel(), model_config=config,
        model_id=model_id, signature=signature, pip_requirements=_requirements())


def _requirements() -> list[str]:
    """The libraries the loader imports, pinned to what logged it (slimline itself is
    installed from the project: serve with `--env-manager local`)."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for package in ("mlflow", "torch", "transformers", "safetensors", "compressed-tensors",
                    "dvc"):
        try:
            pins.append(f"{package}=={version(package)}")
        except PackageNotFoundError:
            continue
    return pins
