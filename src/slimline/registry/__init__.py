"""The model registry: register every stage, promote behind gates, roll back, trace lineage
and bisect regressions."""

from slimline.registry.graph import draw_lineage
from slimline.registry.refs import lineage_chain, resolve
from slimline.registry.register import register_pipeline
from slimline.registry.versions import VersionInfo

__all__ = ["VersionInfo", "draw_lineage", "lineage_chain", "register_pipeline", "resolve"]
