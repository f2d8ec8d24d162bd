"""slimline: reproducible LLM compression pipelines with lineage."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("slimline")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"


def load(ref: str, **kwargs):
    """Model and tokenizer of a registered version, verified by digest.

    `slimline.load("models:/slimline@production")`; see
    `slimline.registry.load.load` for the arguments.
    """
    from slimline.registry.load import load as _load

    return _load(ref, **kwargs)


__all__ = ["__version__", "load"]
