"""`slimline report`: every model stage's metrics with deltas and recovery against the base,
speed from one side-by-side measurement, which model fits which GPU, and plots."""

from slimline.report.build import REPORTS, write_report
from slimline.report.fit import fit_rows, kv_cache_bytes, weight_bytes
from slimline.report.table import Report, load_report

__all__ = ["REPORTS", "Report", "fit_rows", "kv_cache_bytes", "load_report",
           "weight_bytes", "write_report"]
