"""Serve a registered version with vLLM: the `vllm serve` command that fits its checkpoint.

The version is found and its sha256 verified the way `slimline load` does
(`slimline.registry.load.locate`); the command's arguments come from the checkpoint's own
`config.json`, so what vLLM is told matches what is on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from slimline.errors import SlimlineError

INSTALL_HINT = ("vLLM is not installed here: install it with `pip install 'slimline[gpu]'` "
                "(needs a CUDA GPU), or run the command `slimline serve --dry-run` prints "
                "where vLLM is")
# Quantization formats vLLM reads from `quantization_config.quant_method` under these names.
_VLLM_QUANTIZATION = {"compressed-tensors": "compressed-tensors", "gptq": "gptq",
                      "awq": "awq", "fp8": "fp8"}


def vllm_command(directory: Path, served_names: list[str],
                 extra: list[str] | None = None) -> list[str]:
    """`vllm serve` for the checkpoint in `directory`.

    Args:
        directory: a Hugging Face checkpoint (config.json, safetensors, tokenizer).
        served_names: model names clients ask for (the first is the one vLLM reports).
        extra: more vLLM arguments, appended as given (e.g. `--tensor-parallel-size 2`).

    Returns:
        argv: `--quantization` when config.json has a quantization_config, `--dtype` from its
        torch dtype (bfloat16 for a quantized float32 checkpoint: vLLM's quantized kernels
        need 16-bit activations) and `--max-model-len` from max_position_embeddings.
    """
    path = Path(directory) / "config.json"
    if not path.exists():
        raise SlimlineError(f"{directory} is not a checkpoint (no config.json): serve a "
                            "registered version whose stage has run (`dvc repro`).")
    config = json.loads(path.read_text())
    argv = ["vllm", "serve", str(directory), "--served-model-name", *served_names]
    quantization = (config.get("quantization_config") or {}).get("quant_method")
    if quantization:
        if quantization not in _VLLM_QUANTIZATION:
            raise SlimlineError(f"{path} has quantization_config.quant_method={quantization!r}, "
                                "which slimline does not know how to serve; pass vLLM's "
                                "--quantization yourself after `--`.")
        argv += ["--quantization", _VLLM_QUANTIZATION[quantization]]
    dtype = config.get("dtype") or config.get("torch_dtype")  # transformers 5 writes `dtype`
    if dtype == "float32" and quantization:
        # vLLM's quantized kernels take 16-bit activations only (compressed-tensors W4A16 and
        # FP8 refuse float32), so a float32 checkpoint's quantized child runs in bfloat16.
        dtype = "bfloat16"
    if dtype:
        argv += ["--dtype", str(dtype)]
    if config.get("max_position_embeddings"):
        argv += ["--max-model-len", str(config["max_position_embeddings"])]
    return argv + list(extra or [])


def vllm_executable() -> str | None:
    """The `vllm` console script: next to this Python (an unactivated venv), else on PATH."""
    beside = Path(sys.executable).parent / "vllm"
    if beside.exists():
        return str(beside)
    return shutil.which("vllm")


def serve_command(ref: str, *, root: Path, default_name: str | None,
                  served_name: str | None = None, extra: list[str] | None = None) -> list[str]:
    """Resolve `ref`, verify its checkpoint and return the `vllm serve` command for it.

    Args:
        ref: `models:/NAME@alias`, `models:/NAME/3`, `@alias`, a run id or a git revision.
        root: the slimline project holding the weights (artifacts/ or the DVC cache).
        default_name: the registered model a bare `@alias` or version refers to.
        served_name: the name clients use (default: NAME and NAME/VERSION).
        extra: more vLLM arguments.
    """
    from slimline.lineage.tracking import use_store
    from slimline.registry.load import locate
    from slimline.registry.refs import resolve

    use_store(root)
    version = resolve(ref, default_name=default_name, root=root)
    directory = locate(version, root)  # hashes the files: a tampered checkpoint is refused
    names = [served_name] if served_name else [version.name, f"{version.name}/{version.version}"]
    return vllm_command(directory, names, extra)


def start(argv: list[str]) -> None:
    """Replace this process with `argv` (a `vllm serve` command); say how to install vLLM
    when it is missing."""
    executable = vllm_executable()
    if executable is None:
        raise SlimlineError(INSTALL_HINT + ".")
    os.execv(executable, [executable, *argv[1:]])
