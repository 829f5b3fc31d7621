"""Transactions -> RFM summary, with an optional calibration/holdout split.

The summary is defined once, in SQL (:mod:`clvmodel.engines.sql`), and run by DuckDB
(:mod:`clvmodel.engines.duckdb`) on a pandas DataFrame, a CSV (optionally gzipped) or a
Parquet file. Every input row is either used or rejected with a reason; the counts are kept
in a :class:`~clvmodel.ledger.RowLedger` and ``input rows = used + rejected`` is checked on
every call.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

from .engines import DEFAULT_MEMORY_LIMIT, SummaryEngine, is_dataframe
from .engines.duckdb import Bounds, DuckDBSummaryEngine
from .exceptions import InputError, RejectedRowsWarning
from .io import write_frame
from .ledger import RowLedger
from .units import check_unit, unit_days

# pandas is imported inside the functions that need it: `clvmodel run` on a file starts its
# DuckDB queries without it (clvmodel.pipeline.run.LATER_MODULES).
if TYPE_CHECKING:
    import pandas as pd

__all__ = ["SummaryResult", "rfm_summary", "summarise", "tracking_counts", "write_rejects"]

DataSource: TypeAlias = "pd.DataFrame | str | os.PathLike[str]"
DateLike: TypeAlias = "str | _dt.date | pd.Timestamp | np.datetime64 | None"


@dataclass(frozen=True, eq=False)
class SummaryResult:
    """Everything :func:`summarise` knows about one run.

    Attributes
    ----------
    summary : pandas.DataFrame
        The RFM summary, as returned by :func:`rfm_summary`.
    rejects : pandas.DataFrame
        One row per rejected input row, ordered by ``row``: ``row`` (1-based position among
        the data rows: ``data.iloc[row - 1]`` for a DataFrame, line ``row + 1`` of a CSV
        file after its header), the id, date and amount columns under their input names with
        the original values as text, and ``reason``.
    ledger : RowLedger
        Input, used and rejected row counts, and rejects by reason.
    tracking : pandas.DataFrame or None
        Repeat purchase occasions per period, see :func:`tracking_counts`.
    """

    summary: pd.DataFrame
    rejects: pd.DataFrame
    ledger: RowLedger
    tracking: pd.DataFrame | None = None


def summarise(
    data: DataSource,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
    freq: str = "W",
    observation_end: DateLike = None,
    calibration_end: DateLike = None,
    date_format: str | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> SummaryResult:
    """Summarise transactions per customer and account for every input row.

    Takes the same arguments as :func:`rfm_summary` (see there for the definitions) and
    returns the summary together with the rejected rows and the row ledger, without
    warning about rejects.

    Returns
    -------
    SummaryResult
        ``summary``, ``rejects``, ``ledger`` and ``tracking`` (see :func:`tracking_counts`).

    Raises
    ------
    MissingColumnError
        A named column is absent; the message lists the columns present.
    InputError
        Bad arguments, an unreadable file, no usable row, ``observation_end`` before
        ``calibration_end``, or no customer left in the calibration period.
    """
    engine, source, unit, obs_arg, cal_arg = open_log(
        data,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        freq=freq,
        observation_end=observation_end,
        calibration_end=calibration_end,
        date_format=date_format,
        memory_limit=memory_limit,
    )
    with _engine_errors(), engine:
        bounds, obs, ledger = account_rows(engine, source, obs_arg, cal_arg)
        frame, stats = engine.summary(
            observation_end=obs, calibration_end=cal_arg, unit_days=unit_days(unit)
        )
        rejects = engine.rejects(obs)
        assert bounds.first_date is not None  # there are used rows
        periods, period_counts = engine.tracking(
            observation_end=obs,
            calibration_end=cal_arg,
            first_date=bounds.first_date,
            unit_days=unit_days(unit),
        )

    check_summary(len(rejects), len(frame), ledger, stats, bounds, cal_arg)
    summary = _finish(frame, source, customer_col)
    summary.attrs.update(summary_attrs(unit, obs, cal_arg, bounds, ledger, stats))
    rejects["row"] = rejects["row"].astype(np.int64)
    tracking = _tracking_table(periods, period_counts, bounds.first_date, obs, unit_days(unit))
    return SummaryResult(summary=summary, rejects=rejects, ledger=ledger, tracking=tracking)


def open_log(
    data: DataSource,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    freq: str,
    observation_end: DateLike,
    calibration_end: DateLike,
    date_format: str | None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> tuple[DuckDBSummaryEngine, pd.DataFrame | Path, str, _dt.date | None, _dt.date | None]:
    """The start of :func:`summarise` (and of the streaming commands' summary): its
    arguments checked (:func:`check_arguments`) and a DuckDB engine over ``data``, not yet
    entered (DuckDB's errors on opening it as :class:`InputError`).

    Returns
    -------
    engine, source, unit, observation_end, calibration_end
        The engine, the data as a DataFrame or a path, the time unit, and the two ends as
        dates (``None``: not given).
    """
    unit, obs_arg, cal_arg = check_arguments(
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        freq=freq,
        observation_end=observation_end,
        calibration_end=calibration_end,
        date_format=date_format,
    )
    source = _source(data)
    with _engine_errors():
        engine = DuckDBSummaryEngine(
            source,
            customer_col=customer_col,
            date_col=date_col,
            amount_col=amount_col,
            date_format=date_format,
            memory_limit=memory_limit,
        )
    return engine, source, unit, obs_arg, cal_arg


def account_rows(
    engine: SummaryEngine,
    source: pd.DataFrame | Path,
    observation_end: _dt.date | None,
    calibration_end: _dt.date | None,
) -> tuple[Bounds, _dt.date, RowLedger]:
    """Bounds, the observation end and the checked row ledger of an engine's input.

    Raises :class:`InputError` when no row is usable or ``calibration_end`` is after the
    observation end (the last valid date when ``observation_end`` is ``None``).
    """
    bounds = engine.bounds()
    obs = observation_end if observation_end is not None else (bounds.last_date or _dt.date.max)
    # Without an explicit observation end, rows dated after today are rejected (a typo such
    # as 9999-12-31 must not move the observation end for everyone).
    today = _dt.date.today()
    if observation_end is None and bounds.last_date is not None and bounds.last_date > today:
        last_until = getattr(engine, "last_date_until", None)
        obs = (last_until(today) if last_until is not None else None) or today
        warnings.warn(
            f"transactions dated after today ({today.isoformat()}, the last one "
            f"{bounds.last_date.isoformat()}) are rejected as 'after observation end'; "
            f"pass observation_end (--observation-end) to keep them",
            RejectedRowsWarning,
            stacklevel=3,
        )
    if bounds.first_date is not None and (obs - bounds.first_date).days > MAX_SPAN_DAYS:
        raise InputError(
            f"The observation end {obs.isoformat()} is more than 200 years after the first "
            f"transaction ({bounds.first_date.isoformat()}): pass a realistic "
            f"observation_end (--observation-end)."
        )
    counts = engine.row_counts(obs)
    by_reason = {str(k): n for k, n in counts.items() if k is not None}
    ledger = RowLedger(
        input_rows=bounds.input_rows,
        used_rows=counts.get(None, 0),
        rejected_rows=sum(by_reason.values()),
        by_reason=by_reason,
    ).check()
    if is_dataframe(source) and ledger.input_rows != len(source):
        raise AssertionError(
            f"The summary read {ledger.input_rows:,} rows of a {len(source):,}-row DataFrame."
        )
    if ledger.used_rows == 0:
        raise InputError(f"The data has no usable rows: {ledger.describe()}.{_hint(ledger)}")
    if calibration_end is not None and calibration_end > obs:
        raise InputError(
            f"The 'calibration_end' parameter must be on or before observation_end "
            f"({obs.isoformat()}, the last transaction date). "
            f"Got {calibration_end.isoformat()} instead."
        )
    return bounds, obs, ledger


def check_arguments(
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None,
    freq: str,
    observation_end: DateLike,
    calibration_end: DateLike,
    date_format: str | None,
) -> tuple[str, _dt.date | None, _dt.date | None]:
    """Check the arguments of :func:`summarise` before any work (shared by the engines):
    the time unit and the observation and calibration ends as dates (``None``: not given)."""
    unit = check_unit(freq)
    _check_columns(customer_col, date_col, amount_col)
    obs_arg = _as_date(observation_end, "observation_end", date_format)
    cal_arg = _as_date(calibration_end, "calibration_end", date_format)
    if obs_arg is not None and cal_arg is not None and obs_arg < cal_arg:
        raise InputError(
            f"The 'observation_end' parameter must be on or after calibration_end "
            f"({cal_arg.isoformat()}). Got {obs_arg.isoformat()} instead."
        )
    return unit, obs_arg, cal_arg


def check_summary(
    n_rejects: int,
    n_customers: int,
    ledger: RowLedger,
    stats: dict[str, int],
    bounds: Bounds,
    cal_arg: _dt.date | None,
) -> None:
    """Check the rejects listed against the ledger, and that some customer is summarised."""
    if n_rejects != ledger.rejected_rows:
        raise AssertionError(
            f"{n_rejects:,} rejected rows listed but {ledger.rejected_rows:,} counted."
        )
    if n_customers == 0:
        raise InputError(
            f"No customer made a first purchase on or before calibration_end "
            f"({cal_arg}); the first transaction is dated {bounds.first_date}. "
            f"All {stats['excluded_customers']:,} customers would be left out."
        )


def summary_attrs(
    unit: str,
    obs: _dt.date,
    cal_arg: _dt.date | None,
    bounds: Bounds,
    ledger: RowLedger,
    stats: dict[str, int],
) -> dict[str, Any]:
    """The scalars a summary carries (``attrs`` of :func:`rfm_summary`'s result)."""
    return {
        "time_unit": unit,
        "observation_end": obs.isoformat(),
        "calibration_end": cal_arg.isoformat() if cal_arg is not None else None,
        "first_date": bounds.first_date.isoformat() if bounds.first_date else None,
        "input_rows": ledger.input_rows,
        "used_rows": ledger.used_rows,
        "rejected_rows": ledger.rejected_rows,
        "rows_after_observation_end": ledger.by_reason.get("after observation end", 0),
        "n_transactions": stats["n_transactions"],
        "excluded_customers": stats["excluded_customers"],
    }


def rfm_summary(
    data: DataSource,
    *,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
    freq: str = "W",
    observation_end: DateLike = None,
    calibration_end: DateLike = None,
    date_format: str | None = None,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
) -> pd.DataFrame:
    """Per-customer frequency, recency, T and monetary value from a transaction log.

    Parameters
    ----------
    data : pandas.DataFrame or path-like
        One row per transaction: a DataFrame, or the path of a CSV (``.csv``,
        ``.csv.gz``) or Parquet (``.parquet``, ``.pq``) file. CSV columns are all read as
        text, so customer ids keep leading zeros (``"00001"``); a DataFrame's or Parquet
        file's customer id keeps its type. The input is never changed.
    customer_col, date_col : str
        Names of the customer id and transaction date columns.
    amount_col : str or None
        Name of the amount column; ``None`` for no monetary value.
    freq : {"D", "W", "M", "Y"}
        Time unit of recency, T and the holdout duration: day, week (7 days), month
        (365.25/12 days) or year (365.25 days). Durations are whole days divided by the
        unit's length, never rounded to whole periods: 10 days are 10/7 weeks.
    observation_end : date-like, optional
        Last day observed; defaults to the last valid transaction date. Valid transactions
        dated after it are not used: they are rejected with reason
        ``after observation end``, counted in ``attrs["rows_after_observation_end"]`` and,
        like every reject, reported by :class:`~clvmodel.exceptions.RejectedRowsWarning`.
    calibration_end : date-like, optional
        Last day of the calibration period. The summary then describes the transactions on
        or before it, and the holdout columns the ones after it, up to ``observation_end``.
        It must not be after ``observation_end`` (equal gives an empty holdout).
    date_format : str, optional
        strptime format of text dates (e.g. ``"%Y%m%d"``); ``None`` reads ISO 8601
        (``1997-01-01``, ``1997-01-01 10:30:00``). Also used for ``observation_end`` and
        ``calibration_end`` given as text that is not ISO 8601.
    memory_limit : str
        DuckDB's memory limit for the summary (e.g. ``"1GB"``); beyond it DuckDB spills to
        disk. ``"auto"``: :data:`~clvmodel.engines.AUTO_MEMORY_RULE`. Raise it when the
        summary runs out of memory (``duckdb.OutOfMemoryException``).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``customer_id``, sorted by it, one row per customer, with columns:

        ``frequency`` (int64)
            Number of repeat purchase occasions: occasions after the first, up to the
            calibration end if given, else the observation end.
        ``recency`` (float64)
            Time from the first to the last of those occasions (0 when frequency is 0).
        ``T`` (float64)
            Time from the first occasion to the calibration end if given, else to the
            observation end. It is 0 for a customer first seen on that day.
        ``monetary_value`` (float64, with ``amount_col``)
            Mean amount of the repeat occasions; 0 when there are none. The first
            occasion's amount is not included.
        ``frequency_holdout`` (int64, with ``calibration_end``)
            Number of occasions after calibration_end and on or before observation_end.
        ``monetary_value_holdout`` (float64, with both)
            Mean amount of those holdout occasions; 0 when there are none.
        ``duration_holdout`` (float64, with ``calibration_end``)
            observation_end minus calibration_end, the same for every customer.

        ``attrs`` holds scalars: ``time_unit``, ``observation_end`` and ``calibration_end``
        (ISO dates, the latter ``None`` without a split), ``first_date`` (first used
        transaction), ``input_rows``, ``used_rows``, ``rejected_rows``,
        ``rows_after_observation_end``, ``n_transactions`` (purchase occasions of the
        customers in the summary, holdout included) and ``excluded_customers``.

    Raises
    ------
    MissingColumnError
        A named column is absent; the message lists the columns present.
    InputError
        Bad arguments, an unreadable file, no usable row, ``observation_end`` before
        ``calibration_end``, or no customer left in the calibration period.

    Warns
    -----
    RejectedRowsWarning
        When rows were rejected, counting them by reason; :func:`summarise` returns them.

    Notes
    -----
    - A *purchase occasion* is a customer's calendar day with at least one used
      transaction. Timestamps are truncated to their date (a DataFrame's time-zone-aware
      timestamps and text timestamps with a UTC offset to the date on their own clock, a
      Parquet file's time-zone-aware timestamps to the UTC date), and all of a customer's
      transactions on one day count once, with their amounts summed. Times
      are measured from the customer's first occasion, as in Fader, Hardie & Lee (2005),
      "Counting your customers the easy way", Marketing Science 24(2), section 2.
    - Rejected rows, each with the first reason that applies: ``missing customer id``
      (missing, empty or blank), ``missing date``, ``unparseable date``,
      ``missing amount``, ``non-numeric amount``, ``non-finite amount`` (NaN or
      infinite), ``amount out of range`` (absolute value of 10**15 or more),
      ``after observation end``. ``input_rows = used_rows + rejected_rows`` always.
    - Amounts are added as exact decimals (18 decimal places), so the sums, and hence the
      summary, are the same to the last bit whatever the row order, the input path (file or
      DataFrame) or the number of threads; they agree with floating-point sums to about
      1e-16 relative.
    - Negative amounts (returns, refunds) are kept and enter the sums: a return on a
      purchase day lowers that occasion's amount, and a return on a day of its own is an
      occasion (it is a contact with the customer). Filter them out beforehand if the
      spend model needs positive amounts.
    - Customers whose first occasion is after ``calibration_end`` are left out and counted
      in ``attrs["excluded_customers"]``; their rows count as used.
    - Customer ids are kept exactly as given, apart from blank ones being missing: ``"7"``
      and ``" 7"`` are different customers. Text ids sort by code point.
    - The calibration split follows ``lifetimes.utils.calibration_and_holdout_data`` with
      ``freq="D"`` except that ``monetary_value_holdout`` averages occasions (same-day
      amounts summed) rather than single transactions.

    Examples
    --------
    >>> rfm_summary("data/cdnow_transactions.csv.gz", freq="W")  # doctest: +SKIP
    """
    result = summarise(
        data,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        freq=freq,
        observation_end=observation_end,
        calibration_end=calibration_end,
        date_format=date_format,
        memory_limit=memory_limit,
    )
    if result.ledger.rejected_rows:
        warnings.warn(
            f"{result.ledger.describe()}. clvmodel.data.summarise() returns them with their "
            "row numbers, and write_rejects() saves them.",
            RejectedRowsWarning,
            stacklevel=2,
        )
    return result.summary


def tracking_counts(result: SummaryResult) -> pd.DataFrame:
    """Repeat purchase occasions of the summarised customers, per period of one time unit.

    Periods start at ``summary.attrs["first_date"]`` and last one unit each; the last one is
    cut at the end of the observation end's day. Every customer in the summary counts with
    all their repeat occasions (occasions after their first) up to the observation end,
    calibration and holdout alike. This is the "tracking" comparison of Fader, Hardie & Lee
    (2005), figure 2.

    Parameters
    ----------
    result : SummaryResult
        What :func:`summarise` returned.

    Returns
    -------
    pandas.DataFrame
        One row per period, periods without purchases included: ``t`` (float64, end of the
        period in units since the first date), ``date`` (ISO date of the period's last
        day) and ``actual`` (int64, repeat occasions in the period).
    """
    if not isinstance(result, SummaryResult) or result.tracking is None:
        raise InputError(
            "The 'result' argument must be the SummaryResult returned by summarise(). "
            f"Got {type(result).__name__} instead."
        )
    return result.tracking.copy()


def write_rejects(result: SummaryResult, path: str | os.PathLike[str]) -> Path:
    """Write the rejected rows of ``result`` to ``path`` atomically.

    The format follows the suffix (``.csv``, ``.csv.gz`` or ``.parquet``); a CSV always
    has its header, even with no rejected rows.

    Parameters
    ----------
    result : SummaryResult
        What :func:`summarise` returned.
    path : path-like
        Target file.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    if not isinstance(result, SummaryResult):
        raise InputError(
            "The 'result' argument must be the SummaryResult returned by summarise(). "
            f"Got {type(result).__name__} instead."
        )
    return write_frame(result.rejects, path)


# -- helpers -----------------------------------------------------------------------------


def _check_columns(customer_col: str, date_col: str, amount_col: str | None) -> None:
    named = {"customer_col": customer_col, "date_col": date_col, "amount_col": amount_col}
    for arg, value in named.items():
        if value is None and arg == "amount_col":
            continue
        if not isinstance(value, str) or not value:
            raise InputError(
                f"The {arg!r} parameter must be a column name (a non-empty string). "
                f"Got {value!r} instead."
            )
    columns = tuple(c for c in (customer_col, date_col, amount_col) if c is not None)
    if len(set(columns)) != len(columns):
        raise InputError(
            "The 'customer_col', 'date_col' and 'amount_col' parameters must name different "
            f"columns. Got {customer_col!r}, {date_col!r} and {amount_col!r} instead."
        )


def _source(data: DataSource) -> pd.DataFrame | Path:
    if is_dataframe(data):
        _check_object_types(data)
        return data
    if isinstance(data, str | os.PathLike):
        return Path(os.fspath(data))
    raise InputError(
        "The 'data' argument must be a pandas DataFrame or the path of a CSV or Parquet file. "
        f"Got {type(data).__name__} instead."
    )


#: An observation period longer than this is a typo (a date such as 9999-12-31).
MAX_SPAN_DAYS = 200 * 366


@contextlib.contextmanager
def _engine_errors() -> Iterator[None]:
    """DuckDB's own errors (conversion, overflow of huge sums) as :class:`InputError`;
    running out of memory stays ``duckdb.OutOfMemoryException``."""
    import duckdb

    try:
        yield
    except duckdb.OutOfMemoryException:
        raise  # not the data's fault: the memory limit is too low (the CLI names the option)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"The data cannot be summarised: {first}") from exc


def _check_object_types(frame: pd.DataFrame) -> None:
    """Refuse object columns mixing Python types (``1`` and ``"1"`` would merge silently)."""
    import pandas as pd

    for name in frame.columns:
        col = frame[name]
        if isinstance(col.dtype, pd.PeriodDtype):
            raise InputError(
                f"The column {str(name)!r} holds pandas Periods; convert it with "
                f".dt.to_timestamp() or pass ISO date strings."
            )
        if col.dtype != object:
            continue
        kinds = {type(v).__name__ for v in col.dropna().tolist()}
        if ("bool" in kinds and len(kinds) > 1) or len(kinds - {"bool"}) > 1:
            raise InputError(
                f"The column {str(name)!r} mixes Python types ({', '.join(sorted(kinds))}); "
                f"values such as 1 and '1' would be merged or refused unpredictably. Convert it "
                f"to one type (for example .astype(str))."
            )


def _as_date(value: DateLike, name: str, date_format: str | None) -> _dt.date | None:
    """A date argument as a calendar date (any time of day dropped)."""
    if value is None:
        return None
    if isinstance(value, str) and date_format is not None:
        try:
            return _dt.datetime.strptime(value.strip(), date_format).date()
        except ValueError:
            pass  # fall back to ISO 8601 below
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return value
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise InputError(
            f"The {name!r} parameter must be a date (e.g. '1997-09-30'). Got {value!r} instead."
        )
    return stamp.date()


def _finish(frame: pd.DataFrame, source: pd.DataFrame | Path, customer_col: str) -> pd.DataFrame:
    """Index by customer id (with the DataFrame's dtype) and fix the column dtypes."""
    summary = frame.set_index("customer_id")
    if is_dataframe(source):
        dtype = source[customer_col].dtype
        if summary.index.dtype != dtype:
            try:
                summary.index = summary.index.astype(dtype)
            except (TypeError, ValueError):
                pass  # e.g. an object column of mixed types, compared as text
    summary.index.name = "customer_id"
    dtypes = {c: np.int64 if c.startswith("frequency") else np.float64 for c in summary.columns}
    return summary.astype(dtypes)


def _tracking_table(
    periods: np.ndarray,
    counts: np.ndarray,
    first_date: _dt.date,
    observation_end: _dt.date,
    days: float,
) -> pd.DataFrame:
    """Zero-filled per-period counts: ``t``, ``date`` and ``actual``."""
    import pandas as pd

    span = ((observation_end - first_date).days + 1) / days  # through the end of the last day
    n = int(np.ceil(span))
    actual = np.zeros(n, dtype=np.int64)
    inside = (periods >= 0) & (periods < n)
    if not inside.all():
        raise AssertionError(f"Tracking periods {periods[~inside]} outside 0..{n - 1}.")
    actual[periods] = counts
    t = np.minimum(np.arange(1, n + 1, dtype=np.float64), span)
    last_day = np.ceil(t * days - 1e-9).astype(np.int64) - 1
    dates = pd.Timestamp(first_date) + pd.to_timedelta(last_day, unit="D")
    return pd.DataFrame({"t": t, "date": dates.strftime("%Y-%m-%d"), "actual": actual})


def _hint(ledger: RowLedger) -> str:
    if ledger.by_reason.get("unparseable date", 0) == ledger.input_rows:
        return " No date parsed: pass date_format (e.g. '%Y%m%d') for dates that are not ISO 8601."
    return ""
