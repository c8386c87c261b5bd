"""Looking at a training run: its pictures (ranked lists, clusters, t-SNE, curves) and a static HTML report."""

from robustreid.report.html import write_report
from robustreid.report.run_inputs import RunInputs

__all__ = ["RunInputs", "write_report"]
