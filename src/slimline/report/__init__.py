"""`slimline report`: every model stage's metrics with deltas against the base, and plots."""

from slimline.report.build import REPORTS, write_report
from slimline.report.table import MODEL_STAGES, Report, load_report, retention

__all__ = ["MODEL_STAGES", "REPORTS", "Report", "load_report", "retention", "write_report"]
