"""Page contents: which numbers and charts go where, one module per group of pages.

Each page is ``f(ctx, page) -> (title, subtitle)``: it draws its body on ``page`` (see
:mod:`clvmodel.report.layout`) from the numbers and charts in ``ctx`` (see
:mod:`clvmodel.report.context`), and returns the section title and a one-sentence subtitle
that :mod:`clvmodel.report.render` frames it with.
"""

from __future__ import annotations

from collections.abc import Callable

from ..context import ReportContext
from ..layout import Page
from .actions import page_actions
from .definitions import page_definitions
from .model import page_diagnostics, page_expectations, page_heterogeneity
from .summary import page_summary
from .value import page_segments, page_value

PageFunction = Callable[[ReportContext, Page], tuple[str, str]]

PAGES: tuple[PageFunction, ...] = (
    page_summary,
    page_diagnostics,
    page_heterogeneity,
    page_expectations,
    page_value,
    page_segments,
    page_actions,
    page_definitions,
)

__all__ = [
    "PAGES",
    "PageFunction",
    "page_actions",
    "page_definitions",
    "page_diagnostics",
    "page_expectations",
    "page_heterogeneity",
    "page_segments",
    "page_summary",
    "page_value",
]
