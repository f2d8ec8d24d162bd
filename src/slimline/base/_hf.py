"""Materialise an existing Hugging Face checkpoint (local directory or hub id) as the base."""

from __future__ import annotations

import fnmatch
import hashlib
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
        raise SlimlineError(f"model.source={cfg.source!r} is not a directory: point it at a "
                            "local checkpoint directory or a hub id such as org/name.")
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


def materialise(cfg: HFModelConfig, out: Path) -> dict[str, str]:
    """Bring the checkpoint's files into `out`; return {relative path: sha256}."""
    src = resolve_source(cfg)
    if not (src / "config.json").exists():
        raise SlimlineError(f"model.source={cfg.source!r} ({src}) has no config.json: it is not "
                            "a Hugging Face checkpoint directory.")
    names = sorted(p.name for p in src.iterdir()
                   if p.is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in _KEEP))
    if not any(n.endswith(".safetensors") for n in names):
        raise SlimlineError(
            f"model.source={cfg.source!r} ({src}) has no .safetensors weights. Convert it "
            "once with `AutoModelForCausalLM.from_pretrained(...).save_pretrained(dir)` and "
            "point model.source at that directory."
        )
    return {name: _copy_hashed(src / name, out / name, cfg.link) for name in names}
