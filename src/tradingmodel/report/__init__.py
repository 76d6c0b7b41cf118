"""Run folders and self-contained HTML reports.

``write_run_folder`` writes ``reports/<run-id>/`` (metrics, trades, series, config, provenance, ``report.html``)
atomically; ``build_report`` rebuilds the HTML from such a folder; ``load_run`` reads one back;
``provenance`` describes the bars, code and versions of a run.
"""

from tradingmodel.report.downsample import minmax_indices
from tradingmodel.report.html import build_report
from tradingmodel.report.provenance import bars_hash, provenance
from tradingmodel.report.runs import RunData, RunOutputs, load_run, new_run_id, write_run_folder

__all__ = [
    "RunData",
    "RunOutputs",
    "bars_hash",
    "build_report",
    "load_run",
    "minmax_indices",
    "new_run_id",
    "provenance",
    "write_run_folder",
]
