"""BG/BB: Fader, Hardie & Shang (2010), "Customer-Base Analysis in a Discrete-Time
Noncontractual Setting", Marketing Science 29(6), 1086-1108.

Purchases happen at discrete opportunities (a yearly fund drive, a weekly event). While
alive, a customer buys at each opportunity with probability p ~ Beta(α, β); at the start of
each opportunity they drop out with probability θ ~ Beta(γ, δ). A customer's history after
their first purchase is ``frequency`` (opportunities with a purchase), ``recency`` (the last of
them, 0 if none) and ``periods`` (opportunities observed); customers sharing a history are
usually stored once with a ``weights`` count (:func:`bgbb_summary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Self

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, digamma, exprel, gammaln, polygamma

from ..exceptions import InputError
from ..likelihoods import bgbb_loglik
from ..special import log_hyp2f1
from ..units import check_unit, rate_per_unit
from ..validation import check_rule, plain, require_columns
from .base import Array, PurchaseModel

PARAMS = ("alpha", "beta", "gamma", "delta")


def _log_alive_through(params: Array, x: Array, n: Array, k: ArrayLike) -> Array:
    """``log [B(α+x, β+n-x)/B(α, β) B(γ, δ+k)/B(γ, δ)]``: purchases as observed, alive at k."""
    al, be, ga, de = (float(v) for v in params)
    return betaln(al + x, be + n - x) - betaln(al, be) + betaln(ga, de + k) - betaln(ga, de)


def probability_alive(params: Array, x: Array, tx: Array, n: Array, m: ArrayLike = 0) -> Array:
    """P(alive at opportunity ``n + m`` | x, t_x, n), Fader, Hardie & Shang (2010) eq. (11).

    ``m = 1`` is the paper's P(alive in period n+1); ``m = 0`` is P(alive at the last
    observed opportunity).
    """
    ll = bgbb_loglik(params, x, tx, n)
    return np.minimum(np.exp(_log_alive_through(params, x, n, n + np.asarray(m)) - ll), 1.0)


def _log_survival_gain(gamma: float, delta: float, n: ArrayLike, m: ArrayLike) -> Array:
    """``log {[Γ(1+δ+n)/Γ(γ+δ+n) - Γ(1+δ+n+m)/Γ(γ+δ+n+m)] / (γ-1)}``, stable at γ = 1.

    The bracket and ``γ - 1`` always have the same sign. With
    ``G(c) = log Γ(c+δ+n+m) - log Γ(c+δ+n)`` the quantity is
    ``e^{f(n)} expm1(D) / (1-γ)``, ``f(n) = log Γ(1+δ+n) - log Γ(γ+δ+n)``,
    ``D = G(1) - G(γ)``; the divided difference ``D / (1-γ)`` is taken from a Taylor series
    when ``|γ - 1| < 1e-3``. In logs, so that ``Γ(γ+δ)/Γ(1+δ)`` in front may be huge.
    """
    n = np.asarray(n, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    f_n = gammaln(1.0 + delta + n) - gammaln(gamma + delta + n)
    h = 1.0 - gamma
    if abs(h) >= 1e-3:
        d = (gammaln(1.0 + delta + n + m) - gammaln(1.0 + delta + n)) - (
            gammaln(gamma + delta + n + m) - gammaln(gamma + delta + n)
        )
        ratio = d / h
    else:
        hi, lo = gamma + delta + n + m, gamma + delta + n
        g1 = digamma(hi) - digamma(lo)
        g2 = polygamma(1, hi) - polygamma(1, lo)
        g3 = polygamma(2, hi) - polygamma(2, lo)
        ratio = g1 + g2 * h / 2.0 + g3 * h * h / 6.0
        d = ratio * h
    with np.errstate(divide="ignore"):
        return f_n + np.log(exprel(d)) + np.log(np.maximum(ratio, 0.0))


def expected_purchases(params: Array, m: ArrayLike, x: Array, tx: Array, n: Array) -> Array:
    """E[X(n, n+m) | x, t_x, n]: purchases in the next ``m`` opportunities.

    Fader, Hardie & Shang (2010) eq. (13)::

        B(α+x+1, β+n-x)/B(α, β) * δ/(γ-1) * Γ(γ+δ)/Γ(1+δ)
          * [Γ(1+δ+n)/Γ(γ+δ+n) - Γ(1+δ+n+m)/Γ(γ+δ+n+m)] / L
    """
    al, be, ga, de = (float(v) for v in params)
    ll = bgbb_loglik(params, x, tx, n)
    log_head = (
        betaln(al + x + 1.0, be + n - x)
        - betaln(al, be)
        + np.log(de)
        + gammaln(ga + de)
        - gammaln(1.0 + de)
    )
    return np.exp(log_head - ll + _log_survival_gain(ga, de, n, m))


def expected_purchases_new(params: Array, m: ArrayLike) -> Array:
    """E[X(m)]: purchases in the first ``m`` opportunities after the first purchase.

    Fader, Hardie & Shang (2010) eq. (9)::

        α/(α+β) * δ/(γ-1) * [1 - Γ(γ+δ) Γ(1+δ+m) / (Γ(γ+δ+m) Γ(1+δ))]
    """
    al, be, ga, de = (float(v) for v in params)
    log_head = np.log(al / (al + be) * de) + gammaln(ga + de) - gammaln(1.0 + de)
    return np.exp(log_head + _log_survival_gain(ga, de, 0.0, m))


def dert(params: Array, d: float, x: Array, tx: Array, n: Array) -> Array:
    """Discounted expected residual transactions, Fader, Hardie & Shang (2010) eq. (14)::

        DERT(d) = B(α+x+1, β+n-x)/B(α, β) * B(γ, δ+n+1) / ((1+d) B(γ, δ))
                  * 2F1(1, δ+n+1; γ+δ+n+1; 1/(1+d)) / L

    the expected purchases at opportunities ``n+1, n+2, ...``, each discounted by
    ``(1+d)^-(k)`` for the ``k``-th opportunity from now; ``d`` is the discount rate per
    opportunity. The 2F1 (argument near 1 for small ``d``) is :func:`log_hyp2f1`.
    """
    al, be, ga, de = (float(v) for v in params)
    if not d > 0:
        raise InputError(f"The discount rate d must be > 0. Got {plain(d)} instead.")
    ll = bgbb_loglik(params, x, tx, n)
    c = de + n + 1.0
    log_h = log_hyp2f1(1.0, c, ga + c, 1.0 / (1.0 + d), log1mz=np.log(d) - np.log1p(d))
    log_v = (
        betaln(al + x + 1.0, be + n - x)
        - betaln(al, be)
        + betaln(ga, c)
        - betaln(ga, de)
        - np.log1p(d)
        + log_h
        - ll
    )
    return np.exp(log_v)


def _whole(t: float, name: str) -> int:
    if not np.isscalar(t) or not float(t) >= 0 or float(t) != np.floor(float(t)):
        raise InputError(
            f"The {name!r} parameter counts transaction opportunities and must be a whole "
            f"number >= 0. Got {plain(t)} instead."
        )
    return int(t)


class BetaGeoBetaBinomModel(PurchaseModel):
    """BG/BB model of purchases at discrete opportunities (Fader, Hardie & Shang 2010).

    Data: ``frequency, recency, periods`` per customer or per distinct history with a
    ``weights`` column (used automatically by :meth:`fit`). ``t`` in
    :meth:`expected_purchases` counts future opportunities. :meth:`p_alive` is the
    probability of being alive at the last observed opportunity ``n``;
    :meth:`probability_alive` gives it at ``n + m`` (``m = 1``: the paper's eq. 11).
    """

    name = "bgbb"
    param_names = PARAMS
    columns = ("frequency", "recency", "periods")
    _loglik = staticmethod(bgbb_loglik)

    def fit(
        self,
        data: pd.DataFrame,
        *,
        weights: str | Sequence[float] | Array | None = None,
        time_unit: str | None = None,
    ) -> Self:
        """Estimate the parameters; a ``weights`` column is used when ``weights`` is not given.

        See :meth:`clvmodel.models.base.BaseModel.fit`.
        """
        if weights is None and isinstance(data, pd.DataFrame) and "weights" in data.columns:
            weights = "weights"
        return super().fit(data, weights=weights, time_unit=time_unit)

    def _arrays(
        self, data: pd.DataFrame, columns: Sequence[str] | None = None
    ) -> tuple[tuple[Array, ...], pd.Index]:
        arrays, labels = super()._arrays(data, columns)
        if columns is None:
            x, tx, n = arrays
            check_rule(
                (n < 0) | (n != np.floor(n)),
                "The 'periods' column must hold whole numbers >= 0.",
                labels,
                [n],
                ["periods"],
            )
            check_rule(
                tx != np.floor(tx),
                "The 'recency' column must hold whole numbers (an opportunity).",
                labels,
                [tx],
                ["recency"],
            )
            check_rule(
                tx > n,
                "The 'recency' column must be <= 'periods'.",
                labels,
                [tx, n],
                ["recency", "periods"],
            )
            check_rule(
                x > tx,
                "The 'frequency' column must be <= 'recency'.",
                labels,
                [x, tx],
                ["frequency", "recency"],
            )
        return arrays, labels

    def _default_initial(self, arrays: tuple[Array, ...], weights: Array) -> Array:
        return np.ones(4)

    def _p_alive(self, arrays: tuple[Array, ...]) -> Array:
        return probability_alive(self._params(), *arrays, m=0)

    def _expected_purchases(self, arrays: tuple[Array, ...], t: float) -> Array:
        return expected_purchases(self._params(), _whole(t, "t"), *arrays)

    def probability_alive(self, data: pd.DataFrame, *, periods_ahead: int = 1) -> pd.Series:
        """P(alive at opportunity ``n + periods_ahead``) of each customer (FHS 2010 eq. 11)."""
        m = _whole(periods_ahead, "periods_ahead")
        arrays, labels = self._arrays(data)
        return pd.Series(
            probability_alive(self._params(), *arrays, m=m), index=labels, name="p_alive"
        )

    def expected_purchases_new_customer(self, t: ArrayLike) -> NDArray[np.float64]:
        """Expected purchases in the first ``t`` opportunities after the first purchase."""
        return expected_purchases_new(self._params(), t)

    def discounted_expected_residual_transactions(
        self, data: pd.DataFrame, *, discount_rate: float
    ) -> pd.Series:
        """DERT of each customer (Fader, Hardie & Shang 2010, eq. 14).

        Parameters
        ----------
        data : DataFrame
            ``frequency, recency, periods``.
        discount_rate : float
            Annual discount rate, converted to a rate per opportunity with the model's time
            unit (one opportunity per unit: with yearly opportunities it is used as is).
        """
        self._check_fitted()
        unit = self.time_unit_ or data.attrs.get("time_unit")
        if unit is None:
            raise InputError(
                "A discount rate needs a time unit (the length of one transaction "
                "opportunity): fit with time_unit= or on a summary that has one."
            )
        d = rate_per_unit(discount_rate, check_unit(unit, "time_unit"))
        if not d > 0:
            raise InputError(
                f"The 'discount_rate' parameter must be > 0. Got {discount_rate!r} instead."
            )
        arrays, labels = self._arrays(data)
        return pd.Series(dert(self._params(), d, *arrays), index=labels, name="dert")


_PERIOD_FREQ = {"D": "D", "W": "W", "M": "M", "Y": "Y"}


def bgbb_summary(
    transactions: pd.DataFrame,
    *,
    customer_col: str,
    date_col: str,
    period: str = "Y",
    observation_end: Any = None,
) -> pd.DataFrame:
    """Histories of discrete purchase opportunities, one row per distinct history, for BG/BB.

    Dates are cut into calendar periods (``"D"``, ``"W"``, ``"M"``, ``"Y"``); each period is
    one transaction opportunity. For each customer, with ``p0`` the period of their first
    purchase and ``E`` the period of ``observation_end``:

    - ``periods`` = ``E - p0``: opportunities after the first purchase's period;
    - ``frequency`` = number of those periods with at least one purchase (several purchases
      in a period count once);
    - ``recency`` = the last of them, counted from ``p0`` (0 if ``frequency`` is 0).

    Transactions after ``observation_end`` are ignored. Customers with the same history are
    merged into one row with a ``weights`` count (Fader, Hardie & Shang 2010, Table 1).

    Parameters
    ----------
    transactions : DataFrame
        One row per transaction; not modified.
    customer_col, date_col : str
        Column names of the customer id and the date.
    period : str
        Length of one opportunity; becomes ``attrs["time_unit"]``.
    observation_end : date-like, optional
        End of observation; the last transaction date by default.

    Returns
    -------
    DataFrame
        ``frequency, recency, periods, weights`` (integers), sorted.
    """
    unit = check_unit(period, "period")
    require_columns(transactions, [customer_col, date_col], what="transaction log")
    dates = pd.to_datetime(transactions[date_col], errors="coerce")
    if dates.isna().any():
        bad = int(dates.isna().sum())
        raise InputError(
            f"The {date_col!r} column must hold dates. Got "
            f"{transactions[date_col][dates.isna()].iloc[0]!r} ({bad:,} rows break this rule)."
        )
    end = dates.max() if observation_end is None else pd.Timestamp(observation_end)
    keep = (dates <= end).to_numpy()
    freq = _PERIOD_FREQ[unit]
    per = pd.PeriodIndex(dates[keep], freq=freq).asi8
    end_per = int(pd.Period(end, freq=freq).ordinal)
    frame = pd.DataFrame(
        {"customer": transactions[customer_col].to_numpy()[keep], "p": per}
    ).drop_duplicates()
    first = frame.groupby("customer", sort=False)["p"].transform("min")
    frame["k"] = frame["p"] - first
    per_customer = frame.groupby("customer", sort=False).agg(
        first=("p", "min"), last=("k", "max"), count=("k", "size")
    )
    out = pd.DataFrame(
        {
            "frequency": per_customer["count"].to_numpy() - 1,
            "recency": per_customer["last"].to_numpy(),
            "periods": end_per - per_customer["first"].to_numpy(),
        }
    )
    table = (
        out.groupby(["frequency", "recency", "periods"], sort=True)
        .size()
        .rename("weights")
        .reset_index()
        .astype(np.int64)
    )
    table.attrs["time_unit"] = unit
    return table
