"""The `slimline` command line: wiring only; each command lives in its own module."""
