"""The one exception the CLI and the stages turn into a message with a next step."""

from __future__ import annotations


class SlimlineError(Exception):
    """A failure caused by an input: the message names the input and what to do about it."""
