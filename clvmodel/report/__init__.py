"""Figures and a PDF report from a run directory, without refitting anything.

The report reads only the files ``clvmodel run`` writes (see :mod:`clvmodel.pipeline`):
``run.json``, ``summary.csv``, ``scores.csv``, ``models/KEY.json``, ``metrics.json`` and
``tracking.csv``. Charts come from :mod:`clvmodel.plotting`, ranking metrics from
:mod:`clvmodel.clv_metrics`. Every file is written atomically. The package keeps three
things apart:

- the numbers (:mod:`.run` reads the folder, :mod:`.context` computes what pages share);
- the page contents (:mod:`.pages`: which numbers and charts go where);
- the layout (:mod:`.layout`: pages, grids, cards, tables; :mod:`.render` frames them).

Pages of ``report.pdf`` (A4 landscape), each with the same header and footer:

1. Summary: the data (customers, purchase days, period, unit, row ledger), the chosen model
   and why, parameters with standard errors and 95% intervals, headline CLV figures, holdout
   accuracy (or a plain statement that there is no holdout) and key points in words.
2. Model fit: repeat-purchase histogram, holdout purchases by calibration frequency, weekly
   and cumulative tracking with the calibration/holdout boundary; a model comparison table
   when several models were fitted.
3. How customers differ: the fitted mixing distributions, and P(alive) since the last
   purchase of three example customers.
4. What the model expects: P(alive) and expected purchases by frequency and recency.
5. Customer value: CLV distribution, gains curve with Gini, value by decile (chart and table).
6. Segments: value tiers with counts and shares, and the top customers.
7. Definitions and formulas, with references.

Pages 5 and 6 are left out when the run has no CLV (no spend model).
"""

from __future__ import annotations

from .charts import Chart, charts, example_customers, write_figures
from .context import ReportContext, report_context
from .formatting import fmt_count, fmt_money, fmt_number, fmt_pct
from .layout import Page, grid, new_figure
from .pages import PAGES
from .render import iter_report_pages, render_report, report_pages, write_report
from .run import ReportWarning, RunFiles, load_run

#: The old private name, kept for callers of the single-module report.
_new_figure = new_figure

__all__ = [
    "PAGES",
    "Chart",
    "Page",
    "ReportContext",
    "ReportWarning",
    "RunFiles",
    "charts",
    "example_customers",
    "fmt_count",
    "fmt_money",
    "fmt_number",
    "fmt_pct",
    "grid",
    "iter_report_pages",
    "load_run",
    "new_figure",
    "render_report",
    "report_context",
    "report_pages",
    "write_figures",
    "write_report",
]
