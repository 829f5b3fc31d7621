"""The PDF: each page framed (header, section title, footer) and written atomically."""

from __future__ import annotations

import datetime as _dt
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .. import __version__
from ..io import atomic_write_with
from ..plotting import ACTUAL, MUTED
from ..progress import Progress
from ..rundir import note_report_written, restamp, run_dir_name
from .charts import charts, prepare_all, save_charts
from .child import Child, ChildError
from .context import ReportContext, context_of, report_context
from .formatting import DASH, _date
from .layout import GREY, PAGE_SIZE, RULE, Page, new_figure
from .numbers import action_labels
from .pages import PAGES, page_actions, page_segments, page_value
from .pages.actions import customer_lists_path
from .pages.covariates import has_covariates, page_covariates
from .run import ReportWarning, load_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def _frame(
    page: Page, ctx: ReportContext, title: str, subtitle: str, number: int, total: int
) -> None:
    """Header, section title and footer of a page."""
    info = ctx.run.run
    page.text(
        0.04, 0.965, "Customer lifetime value report", fontsize=15, fontweight="bold", color=ACTUAL
    )
    page.text(
        0.96,
        0.962,
        f"{Path(str(info.get('input', ''))).name} · {_date(info.get('first_date'))} {DASH} "
        f"{_date(info.get('observation_end'))}",
        fontsize=8.5,
        color=GREY,
        ha="right",
    )
    page.hline(0.04, 0.96, 0.928, colour=ACTUAL, width=1.4)
    page.text(0.04, 0.907, title, fontsize=13, fontweight="bold")
    page.paragraph(0.04, 0.872, subtitle, 0.92, size=9.3, color=GREY)
    page.hline(0.04, 0.96, 0.045, colour=RULE)
    page.text(
        0.04,
        0.035,
        f"clvmodel {info.get('clvmodel_version', __version__)} · run directory "
        f"{run_dir_name(ctx.run.directory)} · report rendered "
        f"{_dt.date.today().isoformat()} from the saved run files",
        fontsize=7.3,
        color=MUTED,
    )
    page.text(0.96, 0.035, f"Page {number} of {total}", fontsize=7.3, color=MUTED, ha="right")


def report_pages(ctx: ReportContext) -> list[Callable[[ReportContext, Page], tuple[str, str]]]:
    """The pages of this run's report: the CLV pages only when there is CLV, the
    covariates page (second) only for a model with covariates."""
    pages = list(PAGES)
    if ctx.clv is None:
        pages = [p for p in pages if p not in (page_value, page_segments, page_actions)]
    if has_covariates(ctx.run.purchase_model):
        pages.insert(1, page_covariates)
    return pages


def iter_report_pages(ctx: ReportContext) -> Iterator[tuple[str, Figure]]:
    """Yield ``(section title, page figure)`` for each page, one at a time.

    The figures live outside pyplot (nothing global is kept); :func:`render_report` writes
    them to the PDF, and tests inspect them for overlapping text.
    """
    pages = report_pages(ctx)
    for number, draw in enumerate(pages, start=1):
        fig = new_figure(PAGE_SIZE)
        page = Page(fig, fig.canvas.get_renderer())
        title, subtitle = draw(ctx, page)
        _frame(page, ctx, title, subtitle, number, len(pages))
        yield title, fig


def write_customer_lists(ctx: ReportContext) -> Path | None:
    """Write every customer's segment and action (``at risk``, ``win back`` or empty) to
    ``DIR/segments.parquet`` or ``DIR/segments.csv`` (the scores' format), atomically.

    Columns ``customer_id``, ``segment``, ``action``, ``p_alive``, ``past_spend``, ``clv``.
    Nothing is written for a run without CLV.
    """
    numbers = ctx.n
    if numbers.segment_of is None or numbers.past_spend is None:
        return None
    import pyarrow as pa

    scores = ctx.run.scores

    def categorical(values: pd.Categorical) -> pa.Array:
        return pa.DictionaryArray.from_arrays(
            np.asarray(values.codes, dtype=np.int8),
            pa.array([str(c) for c in values.categories], pa.string()),
        ).cast(pa.string())

    table = pa.table(
        {
            "customer_id": pa.array(scores["customer_id"].astype(str), pa.string()),
            "segment": categorical(numbers.segment_of),
            "action": categorical(action_labels(numbers)),
            "p_alive": scores["p_alive"].to_numpy(np.float64),
            "past_spend": numbers.past_spend,
            "clv": scores["clv"].to_numpy(np.float64),
        }
    )
    run_id = ctx.run.run.get("run_id")
    if run_id:  # the run's id, as in every file of the run (clvmodel.rundir)
        table = table.replace_schema_metadata({"clvmodel.run_id": str(run_id)})
    target = customer_lists_path(ctx)

    def write(tmp: Path) -> None:
        if target.suffix == ".parquet":
            import pyarrow.parquet as pq

            # Dictionaries only where values repeat (segments, actions): on ids and
            # floats the encoder tries one, gives up, and costs a second at 10M rows.
            pq.write_table(table, tmp, use_dictionary=["segment", "action"])
        else:
            import pyarrow.csv as pacsv

            pacsv.write_csv(table, tmp)

    atomic_write_with(target, write)
    return target


def render_report(run_dir: str | Path, *, currency: str | None = None) -> Path:
    """Write ``run_dir/report.pdf`` from the run directory's files, atomically, and the
    customer lists of the actions page (:func:`write_customer_lists`).

    Nothing is refitted: the models are read from ``models/``. The customer lists are
    written by a forked child process beside the PDF (see :mod:`.child`); where
    ``run.json`` lists their file, its new size is recorded there
    (:func:`~clvmodel.rundir.restamp`). Charts a model
    cannot support are replaced by a note and reported with a :class:`ReportWarning`.
    ``currency`` labels every money figure (default: the run's, ``run.json``
    ``config.currency``).

    Returns
    -------
    Path
        The PDF written.
    """
    return _render(report_context(run_dir, currency=currency))


def write_report(run_dir: str | Path, *, currency: str | None = None) -> tuple[list[Path], Path]:
    """:func:`~clvmodel.report.write_figures` and :func:`render_report` from one reading of
    the run folder: the charts' PNG files, the customer lists and the PDF.

    The work is spread over both cores in forked child processes (:mod:`.child`), and each
    chart's data is computed once, for its PNG file and its PDF page alike:

    1. a child computes what every chart shows (:meth:`~.charts.Chart.prepare`; small
       results, sent back) while this process computes the report's numbers; a second
       child, started once the numbers are in, writes the customer lists;
    2. a third child draws the PNG charts from that data while this process draws the PDF
       from it.

    The CLV ranking both steps use is made first, and shared. The children's warnings
    (charts left out) are issued here, once each.

    Returns
    -------
    figures : list of Path
        The chart files written, in report order.
    pdf : Path
        The PDF written.
    """
    run = load_run(run_dir)
    currency = currency or run.currency

    def warn_once(message: str, category: type[Warning]) -> None:
        if issubclass(category, ReportWarning):
            run.skip(message, stacklevel=3)
        else:
            warnings.warn(message, category, stacklevel=3)

    todo = charts(run, currency=currency)
    if run.has_clv:
        run.ranked_clv.ranking  # noqa: B018  (one sort, before forking: both steps use it)
    started: list[Child[Any]] = []  # stopped on the way out, whatever happens
    try:
        data = Child(
            lambda: prepare_all(todo), what="the report's chart-data process", on_warning=warn_once
        )
        started.append(data)
        ctx = context_of(run, currency=currency, charts_of_run=todo)
        lists = Child(lambda: write_customer_lists(ctx), what="the report's customer-list process")
        started.append(lists)
        try:
            made = data.result()
        except ChildError:  # killed, or its result unreadable: compute the charts here
            made = prepare_all(todo)
        for chart, result in zip(todo, made, strict=True):
            chart.adopt(result)
        # matplotlib's canvases, which the PNG child and the PDF both draw on: imported once
        # here, before the fork, instead of in each process after it (half a second each).
        import matplotlib.backends.backend_agg
        import matplotlib.figure  # noqa: F401

        pngs = Child(
            lambda: save_charts(run, todo, progress=False),
            what="the report's chart process",
            on_warning=warn_once,
        )
        started.append(pngs)
        pdf = _render(ctx, lists)
        return pngs.result(), pdf
    finally:
        for child in started:
            child.cancel()  # (nothing left to stop once its result is in)


def _render(ctx: ReportContext, lists: Child[Path | None] | None = None) -> Path:
    """Write the PDF, and the customer lists (:func:`write_customer_lists`) in a child
    process beside its pages (``lists`` when already started)."""
    from matplotlib.backends.backend_pdf import PdfPages

    target = ctx.run.directory / "report.pdf"
    if lists is None:
        lists = Child(lambda: write_customer_lists(ctx), what="the report's customer-list process")

    def write(tmp: Path) -> None:
        total = len(report_pages(ctx))
        with PdfPages(tmp) as pdf, Progress("Rendering report", total=total) as progress:
            meta = pdf.infodict()
            meta["Title"] = "Customer lifetime value report"
            meta["Creator"] = f"clvmodel {__version__}"
            for title, fig in iter_report_pages(ctx):
                pdf.savefig(fig)
                progress.advance(detail=title)

    try:
        atomic_write_with(target, write)
        written = lists.result()
        if written is not None:
            restamp(ctx.run.directory, written)
        note_report_written(ctx.run.directory)
    finally:
        lists.cancel()  # (nothing left to stop once its result is in)
    return target
