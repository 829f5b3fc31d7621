"""Samplers from each model's generative story: for tests, parameter recovery and demos.

Every sampler takes a :class:`numpy.random.Generator` (or a seed) and returns plain pandas
objects; nothing here fits or predicts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from .units import unit_days

Seed = int | np.random.Generator | None


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _ages(n: int, T: ArrayLike) -> NDArray[np.float64]:
    T = np.broadcast_to(np.asarray(T, dtype=np.float64), (n,)).copy()
    if np.any(T <= 0):
        raise ValueError("T must be > 0")
    return T


def _order_stat_times(
    x: NDArray[np.int64],
    n_events: NDArray[np.int64],
    T: NDArray[np.float64],
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """Time of the x-th of n uniform events on (0, T]: T * Beta(x, n - x + 1); 0 where x == 0."""
    has = x > 0
    out = np.zeros_like(T)
    out[has] = T[has] * rng.beta(x[has], n_events[has] - x[has] + 1)
    return out


def bgnbd_summary(
    n_customers: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: ArrayLike,
    seed: Seed = None,
) -> pd.DataFrame:
    """Simulate RFM summaries from the BG/NBD story (Fader, Hardie & Lee 2005).

    Each customer buys at Poisson rate λ ~ Gamma(r, rate α) from time 0 (the first
    purchase) and, after each repeat purchase, drops out with probability p ~ Beta(a, b).

    Parameters
    ----------
    n_customers : int
        Number of customers.
    r, alpha, a, b : float
        BG/NBD parameters (``alpha`` in the unit of ``T``).
    T : float or array
        Observation length of each customer.
    seed : int or Generator, optional
        Random source.

    Returns
    -------
    DataFrame
        ``frequency, recency, T`` plus the latent ``lambda_``, ``p_`` and ``alive``, indexed
        by ``customer_id`` 0..n-1.
    """
    rng = _rng(seed)
    T_ = _ages(n_customers, T)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    n_events = rng.poisson(lam * T_)
    # Repeat purchases made before dropping out: the customer dies right after purchase K,
    # K ~ Geometric(p) on {1, 2, ...}.
    k = rng.geometric(np.clip(p, 1e-300, 1.0))
    x = np.minimum(n_events, k)
    recency = _order_stat_times(x, n_events, T_, rng)
    frame = pd.DataFrame(
        {
            "frequency": x.astype(np.int64),
            "recency": recency,
            "T": T_,
            "lambda_": lam,
            "p_": p,
            "alive": n_events < k,
        },
        index=pd.RangeIndex(n_customers, name="customer_id"),
    )
    return frame


def gamma_gamma_spend(
    frequency: ArrayLike,
    *,
    p: float,
    q: float,
    gamma: float,
    seed: Seed = None,
) -> NDArray[np.float64]:
    """Mean spend over ``frequency`` transactions under the Gamma-Gamma story.

    ν ~ Gamma(q, rate γ) per customer; each transaction ~ Gamma(p, rate ν); the mean of x
    of them is Gamma(px, rate xν). Customers with ``frequency == 0`` get 0.
    """
    rng = _rng(seed)
    x = np.asarray(frequency, dtype=np.float64)
    nu = rng.gamma(q, 1.0 / gamma, x.shape)
    out = np.zeros_like(x)
    has = x > 0
    out[has] = rng.gamma(p * x[has], 1.0 / (x[has] * nu[has]))
    return out


def _customer_ids(n: int) -> NDArray[np.str_]:
    """``C000001``, ``C000002``...: the ids of simulated logs."""
    return np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), 6))


def bgnbd_transactions(
    n_customers: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: float,
    q: float,
    gamma: float,
    start: str = "2024-01-01",
    acquisition_days: int = 84,
    observation_end: str = "2025-06-30",
    unit: str = "W",
    seed: Seed = None,
) -> pd.DataFrame:
    """Simulate a transaction log from BG/NBD purchases and Gamma-Gamma spend.

    Customers are acquired uniformly over ``acquisition_days`` from ``start`` (their first
    purchase) and observed to ``observation_end``. BG/NBD rates are per ``unit``. Purchase
    times are continuous and then rounded down to the calendar day, as a real log would be,
    so same-day purchases occur and merge in the RFM summary.

    Returns
    -------
    DataFrame
        ``customer_id`` (strings ``C000001``...), ``date`` (datetime64), ``amount``.
    """
    rng = _rng(seed)
    day = unit_days(unit)
    t0 = pd.Timestamp(start)
    end = pd.Timestamp(observation_end)
    first_day = rng.integers(0, acquisition_days, n_customers)
    T_days = (end - t0).days - first_day
    lam = rng.gamma(r, 1.0 / alpha, n_customers) / day  # per day
    drop = rng.beta(a, b, n_customers)
    nu = rng.gamma(q, 1.0 / gamma, n_customers)
    n_events = rng.poisson(lam * T_days)
    k = rng.geometric(np.clip(drop, 1e-300, 1.0))
    x = np.minimum(n_events, k)
    # The first x of n_events sorted uniforms on (0, T): draw all, sort within customer.
    owner = np.repeat(np.arange(n_customers), n_events)
    u = rng.random(owner.size) * np.repeat(T_days, n_events)
    order = np.lexsort((u, owner))
    owner, u = owner[order], u[order]
    rank = np.arange(owner.size) - np.repeat(np.cumsum(n_events) - n_events, n_events)
    keep = rank < x[owner]
    owner, u = owner[keep], u[keep]
    cust = np.concatenate([np.arange(n_customers), owner])
    offset = np.concatenate([np.zeros(n_customers), u])
    days = first_day[cust] + np.floor(offset).astype(np.int64)
    amount = rng.gamma(p, 1.0 / nu[cust])
    ids = _customer_ids(n_customers)
    frame = pd.DataFrame(
        {
            "customer_id": ids[cust],
            "date": t0 + pd.to_timedelta(days, unit="D"),
            "amount": np.round(amount, 2),
        }
    )
    return frame.sort_values(["date", "customer_id"], kind="stable").reset_index(drop=True)


def pnbd_summary(
    n_customers: int,
    *,
    r: float,
    alpha: float,
    s: float,
    beta: float,
    T: ArrayLike,
    seed: Seed = None,
) -> pd.DataFrame:
    """Simulate RFM summaries from the Pareto/NBD story (Schmittlein, Morrison & Colombo 1987).

    Each customer buys at Poisson rate λ ~ Gamma(r, rate α) from time 0 (the first purchase)
    and stays alive for an exponential time τ with rate μ ~ Gamma(s, rate β).

    Returns
    -------
    DataFrame
        ``frequency, recency, T`` plus the latent ``lambda_``, ``mu_`` and ``alive``, indexed
        by ``customer_id`` 0..n-1.
    """
    rng = _rng(seed)
    T_ = _ages(n_customers, T)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    mu = rng.gamma(s, 1.0 / beta, n_customers)
    tau = rng.exponential(1.0, n_customers) / np.maximum(mu, 1e-300)
    active = np.minimum(tau, T_)
    x = rng.poisson(lam * active)
    # Purchases are uniform on (0, active]; the last of x is at active * Beta(x, 1).
    recency = _order_stat_times(x, x, active, rng)
    return pd.DataFrame(
        {
            "frequency": x.astype(np.int64),
            "recency": recency,
            "T": T_,
            "lambda_": lam,
            "mu_": mu,
            "alive": tau > T_,
        },
        index=pd.RangeIndex(n_customers, name="customer_id"),
    )


def mbgnbd_summary(
    n_customers: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    T: ArrayLike,
    seed: Seed = None,
) -> pd.DataFrame:
    """Simulate RFM summaries from the MBG/NBD story (Batislam, Denizel & Filiztekin 2007).

    As :func:`bgnbd_summary`, but the dropout coin (p ~ Beta(a, b)) is also tossed at time 0:
    the customer dies at toss K ~ Geometric(p), tosses being at time 0 and after each repeat
    purchase, so they make ``K - 1`` repeat purchases at most.

    Returns
    -------
    DataFrame
        ``frequency, recency, T`` plus the latent ``lambda_``, ``p_`` and ``alive``.
    """
    rng = _rng(seed)
    T_ = _ages(n_customers, T)
    lam = rng.gamma(r, 1.0 / alpha, n_customers)
    p = rng.beta(a, b, n_customers)
    n_events = rng.poisson(lam * T_)
    k = rng.geometric(np.clip(p, 1e-300, 1.0))
    x = np.minimum(n_events, k - 1)
    recency = _order_stat_times(x, n_events, T_, rng)
    return pd.DataFrame(
        {
            "frequency": x.astype(np.int64),
            "recency": recency,
            "T": T_,
            "lambda_": lam,
            "p_": p,
            "alive": k - 1 > n_events,
        },
        index=pd.RangeIndex(n_customers, name="customer_id"),
    )


def covariate_summary(
    model: str,
    n_customers: int,
    *,
    params: dict[str, float],
    covariates: pd.DataFrame,
    purchase: dict[str, float] | None = None,
    dropout: dict[str, float] | None = None,
    T: ArrayLike,
    seed: Seed = None,
) -> pd.DataFrame:
    """Simulate RFM summaries of customers with time-invariant covariates.

    Each customer's parameters follow :func:`clvmodel.covariates.customer_parameters`
    (``α_i = α exp(-γ_purchᵀ z_i)`` and the model's dropout link), and their history the
    model's story (:func:`bgnbd_summary`, :func:`pnbd_summary`, :func:`mbgnbd_summary`).

    Parameters
    ----------
    model : {"bgnbd", "pnbd", "mbgnbd"}
        Which story.
    params : dict
        Base parameters by name (those of a customer whose covariates are all 0).
    covariates : DataFrame
        ``n_customers`` rows of numeric covariates, copied into the result.
    purchase, dropout : dict
        Coefficient by covariate column, for each process.

    Returns
    -------
    DataFrame
        The model's summary columns and latent variables, plus the covariate columns.
    """
    from .covariates import customer_parameters

    if len(covariates) != n_customers:
        raise ValueError(f"covariates has {len(covariates)} rows for {n_customers} customers")
    samplers = {"bgnbd": bgnbd_summary, "pnbd": pnbd_summary, "mbgnbd": mbgnbd_summary}
    row = customer_parameters(model, params, covariates, purchase=purchase, dropout=dropout)
    frame = samplers[model](n_customers, **row, T=T, seed=seed)  # type: ignore[arg-type]
    for c in covariates.columns:
        frame[c] = covariates[c].to_numpy()
    return frame


def covariate_transactions(
    n_customers: int,
    *,
    params: dict[str, float],
    covariates: pd.DataFrame,
    purchase: dict[str, float] | None = None,
    dropout: dict[str, float] | None = None,
    seed: Seed = None,
    **kwargs: Any,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate a transaction log from BG/NBD with time-invariant covariates.

    Each customer's ``alpha, a, b`` follow :func:`clvmodel.covariates.customer_parameters`
    from the base ``params`` (``r, alpha, a, b, p, q, gamma``) and the coefficients; the
    log is :func:`bgnbd_transactions`' story with those parameters (``kwargs``: its
    dates and unit).

    Returns
    -------
    (DataFrame, DataFrame)
        The log, and the covariate table: ``customer_id`` (as in the log) and the
        covariate columns, one row per customer.
    """
    from .covariates import customer_parameters

    bg = {k: params[k] for k in ("r", "alpha", "a", "b")}
    row = customer_parameters("bgnbd", bg, covariates, purchase=purchase, dropout=dropout)
    spend = {k: params[k] for k in ("p", "q", "gamma")}
    log = bgnbd_transactions(n_customers, **row, **spend, seed=seed, **kwargs)  # type: ignore[arg-type]
    ids = _customer_ids(n_customers)
    table = covariates.reset_index(drop=True).copy()
    table.insert(0, "customer_id", ids)
    return log, table


def bgbb_histories(
    n_customers: int,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    delta: float,
    periods: ArrayLike,
    seed: Seed = None,
) -> pd.DataFrame:
    """Simulate purchase histories from the BG/BB story (Fader, Hardie & Shang 2010).

    Purchase probability p ~ Beta(α, β) and dropout probability θ ~ Beta(γ, δ) per customer.
    At the start of each opportunity after the first purchase an alive customer dies with
    probability θ; an alive customer then buys with probability p.

    Parameters
    ----------
    periods : int or array of int
        Opportunities observed after the first purchase, per customer.

    Returns
    -------
    DataFrame
        ``frequency, recency, periods`` plus the latent ``p_``, ``theta_`` and ``alive``
        (alive at the last opportunity), one row per customer.
    """
    rng = _rng(seed)
    n = np.broadcast_to(np.asarray(periods, dtype=np.int64), (n_customers,)).copy()
    if np.any(n < 0):
        raise ValueError("periods must be >= 0")
    p = rng.beta(alpha, beta, n_customers)
    theta = rng.beta(gamma, delta, n_customers)
    # Dies at the start of opportunity L ~ Geometric(θ), so alive at opportunities 1..L-1.
    life = rng.geometric(np.clip(theta, 1e-300, 1.0)) - 1
    alive_for = np.minimum(life, n)
    top = int(n.max()) if n_customers else 0
    buys = rng.random((n_customers, max(top, 1))) < p[:, None]
    buys &= np.arange(1, max(top, 1) + 1)[None, :] <= alive_for[:, None]
    x = buys.sum(axis=1)
    last = np.where(x > 0, max(top, 1) - np.argmax(buys[:, ::-1], axis=1), 0)
    return pd.DataFrame(
        {
            "frequency": x.astype(np.int64),
            "recency": last.astype(np.int64),
            "periods": n,
            "p_": p,
            "theta_": theta,
            "alive": life >= n,
        },
        index=pd.RangeIndex(n_customers, name="customer_id"),
    )


def sbg_cohort(
    n_customers: int,
    *,
    gamma: float,
    delta: float,
    periods: int,
    seed: Seed = None,
) -> pd.DataFrame:
    """Simulate one cohort's survivor counts from the shifted-beta-geometric story.

    Each customer churns at the end of each period with probability θ ~ Beta(γ, δ)
    (Fader & Hardie 2007), so their lifetime is Geometric(θ) periods.

    Returns
    -------
    DataFrame
        ``period`` 0..periods and ``customers`` still active at its start.
    """
    rng = _rng(seed)
    theta = rng.beta(gamma, delta, n_customers)
    lifetime = rng.geometric(np.clip(theta, 1e-300, 1.0))
    t = np.arange(periods + 1)
    alive = (lifetime[None, :] > t[:, None]).sum(axis=1)
    return pd.DataFrame({"period": t, "customers": alive.astype(np.int64)})
