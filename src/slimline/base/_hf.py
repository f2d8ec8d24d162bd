"""Materialise an existing Hugging Face checkpoint (local directory or hub id) as the base."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import shutil
from pathlib import Path

from slimline.config import HFModelConfig
from slimline.errors import SlimlineError

# What a causal-LM checkpoint is made of; anything else (other frameworks' weights, git
# metadata, images) stays behind.
_KEEP = ("config.json", "generation_config.json", "*.safetensors", "*.safetensors.index.json",
         "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
         "tokenizer.model", "vocab.json", "merges.txt", "added_tokens.json",
         "chat_template.jinja", "chat_template.json")
_CHUNK = 1 << 20


def resolve_source(cfg: HFModelConfig) -> Path:
    """A local directory for `model.source`: the path itself, or the hub snapshot in cache."""
    local = Path(cfg.source).expanduser()
    if local.is_dir():
        return local
    if local.is_absolute() or cfg.source.startswith((".", "~")) or cfg.source.count("/") > 1:
        raise SlimlineError(f"model.source={cfg.source!r} does not exist (or is not a "
                            "directory): point it at a local checkpoint directory, or at a hub "
                            "id such as org/name.")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    try:
        path = snapshot_download(cfg.source, revision=cfg.revision, allow_patterns=list(_KEEP))
    except LocalEntryNotFoundError:
        raise SlimlineError(
            f"model.source={cfg.source!r} is not in the local Hugging Face cache and the hub "
            "cannot be reached (offline). Download it where there is network "
            f"(`hf download {cfg.source}`) and copy the cache here, or set model.source to a "
            "local checkpoint directory."
        ) from None
    except HfHubHTTPError as exc:
        raise SlimlineError(f"model.source={cfg.source!r}: the hub refused it ({exc}). Check "
                            "the id and model.revision, or log in for gated models.") from None
    return Path(path)


def _copy_hashed(src: Path, dst: Path, link: bool) -> str:
    """Link (or copy) one file and return its sha256, reading it exactly once."""
    src = src.resolve()  # hub snapshots are symlinks into the blob store
    h = hashlib.sha256()
    if link:
        try:
            os.link(src, dst)
        except OSError:
            link = False
    if link:
        with open(src, "rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
        return h.hexdigest()
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        while chunk := fin.read(_CHUNK):
            h.update(chunk)
            fout.write(chunk)
    shutil.copystat(src, dst)
    return h.hexdigest()


def _read_config(src: Path, source: str) -> dict:
    config = src / "config.json"
    if not config.is_file():
        raise SlimlineError(f"model.source={source} ({src}) has no config.json: it is not a "
                            "Hugging Face checkpoint directory; point model.source at the "
                            "directory save_pretrained wrote.")
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SlimlineError(f"{config} is not JSON ({exc}): fetch the checkpoint's config.json "
                            "again or re-save the model with save_pretrained.") from None
    if not isinstance(cfg, dict):
        raise SlimlineError(f"{config} holds a JSON {type(cfg).__name__}, not an object: fetch "
                            "the checkpoint's config.json again.")
    return cfg


def _check_architecture(cfg: dict, source: str) -> None:
    from transformers import CONFIG_MAPPING, __version__

    model_type = cfg.get("model_type")
    if model_type not in CONFIG_MAPPING:
        raise SlimlineError(
            f"model.source={source}: config.json has model_type={model_type!r}, which "
            f"transformers {__version__} does not know, so the checkpoint cannot be loaded. "
            "Use a checkpoint of a supported architecture (e.g. llama, mistral, qwen2) or "
            "upgrade transformers if the architecture is newer.")


def _check_weights(files: list[Path], source: str) -> dict[str, list[int]]:
    """Open every safetensors header; return {tensor name: shape}."""
    from safetensors import SafetensorError, safe_open

    if not files:
        raise SlimlineError(
            f"model.source={source} has no .safetensors weights. Convert it once with "
            "`AutoModelForCausalLM.from_pretrained(...).save_pretrained(dir)` and point "
            "model.source at that directory.")
    shapes: dict[str, list[int]] = {}
    for path in files:
        try:
            with safe_open(path, "np") as fh:
                names = fh.keys()  # safe_open handles are not iterable
                shapes.update({name: fh.get_slice(name).get_shape() for name in names})
        except SafetensorError as exc:
            raise SlimlineError(
                f"{path} is not a complete safetensors file ({exc}): the download or copy was "
                "cut short or the file is damaged; fetch it again.") from None
    return shapes


def _check_vocabulary(src: Path, cfg: dict, shapes: dict[str, list[int]], source: str) -> None:
    from transformers import AutoTokenizer

    embeddings = [shape for name, shape in shapes.items()
                  if name.endswith(("embed_tokens.weight", "wte.weight"))]
    rows = embeddings[0][0] if embeddings else cfg.get("vocab_size")
    try:
        tokenizer = AutoTokenizer.from_pretrained(src)
    except (OSError, ValueError) as exc:
        raise SlimlineError(f"model.source={source} has no usable tokenizer ({exc}): save the "
                            "model's tokenizer into the directory (tokenizer.save_pretrained)."
                            ) from None
    if rows is not None and len(tokenizer) > rows:
        raise SlimlineError(
            f"model.source={source}: the tokenizer has {len(tokenizer)} tokens but the model's "
            f"embedding has {rows} rows, so ids from {rows} on have no embedding. The tokenizer "
            "belongs to another model: save the tokenizer this model was trained with into "
            "the directory.")


def check_checkpoint(src: Path, source: str) -> dict:
    """Refuse a checkpoint directory slimline cannot use, naming the file and the fix.

    Reads config.json, every safetensors header and the tokenizer; no weights are loaded.

    Returns:
        The checkpoint's config.json.
    """
    cfg = _read_config(src, source)
    shapes = _check_weights(sorted(src.glob("*.safetensors")), source)
    _check_architecture(cfg, source)
    _check_vocabulary(src, cfg, shapes, source)
    return cfg


def materialise(cfg: HFModelConfig, out: Path) -> dict[str, str]:
    """Bring the checkpoint's files into `out`, once checked; return {relative path: sha256}."""
    src = resolve_source(cfg)
    check_checkpoint(src, cfg.source)
    names = sorted(p.name for p in src.iterdir()
                   if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in _KEEP))
    return {name: _copy_hashed(src / name, out / name, cfg.link) for name in names}
