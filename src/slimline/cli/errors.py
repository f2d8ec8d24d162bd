"""The one error boundary: known failures become a message, tracebacks need SLIMLINE_DEBUG."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from slimline.errors import SlimlineError


def run_main(fn: Callable[..., Any], *args: Any) -> None:
    """Call `fn`; on a SlimlineError (or a known outside failure: a tracking server that stopped
    answering) print `error: ...` and exit 1 (the traceback if debugging)."""
    try:
        fn(*args)
    except Exception as exc:
        message = str(exc) if isinstance(exc, SlimlineError) else _known(exc)
        if message is None or os.environ.get("SLIMLINE_DEBUG"):
            raise
        print(f"error: {message}", file=sys.stderr)
        print("(set SLIMLINE_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(1)


def _known(exc: Exception) -> str | None:
    """A message for a failure that is not ours but has a known cause and fix."""
    from slimline.lineage.tracking import lost_server

    return lost_server(exc)
