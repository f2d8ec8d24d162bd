"""The one error boundary: known failures become a message, tracebacks need SLIMLINE_DEBUG."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from slimline.errors import SlimlineError


def run_main(fn: Callable[..., Any], *args: Any) -> None:
    """Call `fn`; on a SlimlineError print `error: ...` and exit 1 (traceback if debugging)."""
    try:
        fn(*args)
    except SlimlineError as exc:
        if os.environ.get("SLIMLINE_DEBUG"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        print("(set SLIMLINE_DEBUG=1 for the traceback)", file=sys.stderr)
        sys.exit(1)
