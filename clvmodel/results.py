"""Fit results: estimates, standard errors, Wald intervals, log-likelihood, AIC/BIC, summary()."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri


@dataclass(frozen=True)
class FitResult:
    """Result of a maximum-likelihood fit.

    Attributes
    ----------
    model : str
        Registry key of the model (``"bgnbd"``, ``"gamma-gamma"``, ...).
    param_names : tuple of str
        Literature names, in the order of ``params``.
    params : ndarray
        Estimates.
    covariance : ndarray
        Asymptotic covariance of the estimates (inverse observed information); NaN where the
        Hessian could not be inverted.
    log_likelihood : float
        Total log-likelihood at the estimates, with every constant term.
    n_obs : int
        Number of customers (or cohort members) the fit used, weights included.
    converged : bool
        Whether the optimiser reported success.
    message : str
        The optimiser's message, verbatim.
    n_iter : int
        Optimiser iterations.
    time_unit : str or None
        Unit of the data the model was fitted in.
    notes : tuple of str
        Anything the fit wants a reader to know (rows left out, boundary estimates).
    penalized_log_likelihood : float or None
        With a ridge penalty, the objective maximised (``log_likelihood`` stays the
        unpenalised one, from which AIC and BIC are computed).
    log_scale : tuple of bool
        Which parameters are positive and were fitted in logs (empty: all); the others are
        covariate coefficients, for which ``summary`` gives z and p values.
    """

    model: str
    param_names: tuple[str, ...]
    params: NDArray[np.float64]
    covariance: NDArray[np.float64]
    log_likelihood: float
    n_obs: int
    converged: bool = True
    message: str = ""
    n_iter: int = 0
    time_unit: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    penalized_log_likelihood: float | None = None
    log_scale: tuple[bool, ...] = ()

    @property
    def is_log_scale(self) -> NDArray[np.bool_]:
        """``log_scale`` as an array, all True when not given."""
        if not self.log_scale:
            return np.ones(len(self.param_names), dtype=bool)
        return np.array(self.log_scale, dtype=bool)

    def fitted_scale(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Estimates and covariance on the scale of the fit (logs of positive parameters),
        where the estimates are closest to normal; draws for intervals are made there."""
        mask = self.is_log_scale
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(mask, np.log(np.where(mask, self.params, 1.0)), self.params)
        jac = np.where(mask, self.params, 1.0)
        return x, self.covariance / np.outer(jac, jac)

    @property
    def z_values(self) -> NDArray[np.float64]:
        """Wald z of each coefficient (``estimate / se``); NaN for positive parameters,
        for which a test of 0 is not meaningful."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.is_log_scale, np.nan, self.params / self.standard_errors)

    @property
    def p_values(self) -> NDArray[np.float64]:
        """Two-sided p-values of the z values."""
        return 2.0 * ndtr(-np.abs(self.z_values))

    @property
    def n_params(self) -> int:
        """Number of free parameters."""
        return len(self.param_names)

    @property
    def standard_errors(self) -> NDArray[np.float64]:
        """Square roots of the covariance diagonal (NaN where unavailable)."""
        with np.errstate(invalid="ignore"):
            return np.sqrt(np.diag(self.covariance))

    @property
    def aic(self) -> float:
        """Akaike information criterion, ``2k - 2 LL``."""
        return 2.0 * self.n_params - 2.0 * self.log_likelihood

    @property
    def bic(self) -> float:
        """Bayesian information criterion, ``k log(n) - 2 LL``."""
        return self.n_params * float(np.log(self.n_obs)) - 2.0 * self.log_likelihood

    def conf_int(self, level: float = 0.95) -> pd.DataFrame:
        """Wald intervals ``estimate ± z * se`` at ``level``."""
        z = float(ndtri(0.5 + level / 2.0))
        se = self.standard_errors
        return pd.DataFrame(
            {"lower": self.params - z * se, "upper": self.params + z * se},
            index=pd.Index(self.param_names, name="param"),
        )

    def summary(self, level: float = 0.95) -> pd.DataFrame:
        """Table of estimates, standard errors and Wald intervals, one row per parameter.

        ``attrs`` carries the log-likelihood, AIC, BIC, customer count and time unit.
        """
        ci = self.conf_int(level)
        pct = f"{level:.0%}"
        has_coef = not self.is_log_scale.all()
        table = pd.DataFrame(
            {
                "estimate": self.params,
                "std_error": self.standard_errors,
                f"lower {pct}": ci["lower"].to_numpy(),
                f"upper {pct}": ci["upper"].to_numpy(),
                **({"z": self.z_values, "p_value": self.p_values} if has_coef else {}),
            },
            index=pd.Index(self.param_names, name="param"),
        )
        table.attrs.update(
            model=self.model,
            log_likelihood=self.log_likelihood,
            penalized_log_likelihood=self.penalized_log_likelihood,
            aic=self.aic,
            bic=self.bic,
            n_obs=self.n_obs,
            time_unit=self.time_unit,
            converged=self.converged,
        )
        return table

    def __str__(self) -> str:
        head = (
            f"{self.model} fitted on {self.n_obs:,} customers"
            + (f" (time unit {self.time_unit})" if self.time_unit else "")
            + f"\nlog-likelihood {self.log_likelihood:.4f}"
            + (
                f" (penalised {self.penalized_log_likelihood:.4f})"
                if self.penalized_log_likelihood is not None
                else ""
            )
            + f"   AIC {self.aic:.2f}   BIC {self.bic:.2f}"
            + ("" if self.converged else f"\nNOT CONVERGED: {self.message}")
        )
        lines = [head, self.summary().to_string(float_format=lambda v: f"{v:.6g}")]
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as stored in model files."""
        ci = self.conf_int()
        return {
            "params": dict(zip(self.param_names, self.params.tolist(), strict=True)),
            "standard_errors": dict(
                zip(self.param_names, self.standard_errors.tolist(), strict=True)
            ),
            "conf_int_95": {
                name: [lo, hi]
                for name, lo, hi in zip(
                    self.param_names, ci["lower"].tolist(), ci["upper"].tolist(), strict=True
                )
            },
            "covariance": self.covariance.tolist(),
            "log_likelihood": self.log_likelihood,
            **(
                {"penalized_log_likelihood": self.penalized_log_likelihood}
                if self.penalized_log_likelihood is not None
                else {}
            ),
            "aic": self.aic,
            "bic": self.bic,
            "n_customers": self.n_obs,
            "converged": self.converged,
            "optimizer_message": self.message,
            "n_iter": self.n_iter,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(
        cls,
        model: str,
        param_names: tuple[str, ...],
        payload: dict[str, Any],
        time_unit: str | None,
        log_scale: NDArray[np.bool_] | None = None,
    ) -> FitResult:
        """Rebuild from :meth:`to_dict` output (JSON nulls become NaN)."""
        params = np.array([payload["params"][n] for n in param_names], dtype=np.float64)
        cov = payload.get("covariance")
        covariance = (
            np.array([[np.nan if v is None else v for v in row] for row in cov], dtype=np.float64)
            if cov is not None
            else np.full((len(param_names),) * 2, np.nan)
        )
        ll = payload.get("log_likelihood")
        pll = payload.get("penalized_log_likelihood")
        return cls(
            model=model,
            param_names=param_names,
            params=params,
            covariance=covariance,
            log_likelihood=float("nan") if ll is None else float(ll),
            n_obs=int(payload.get("n_customers", 0)),
            converged=bool(payload.get("converged", True)),
            message=str(payload.get("optimizer_message", "")),
            n_iter=int(payload.get("n_iter", 0)),
            time_unit=time_unit,
            notes=tuple(payload.get("notes", ())),
            penalized_log_likelihood=None if pll is None else float(pll),
            log_scale=() if log_scale is None else tuple(bool(v) for v in log_scale),
        )


@dataclass(frozen=True)
class LRTest:
    """Result of :func:`lr_test`: ``statistic = 2 (LL_full - LL_restricted)``, its degrees of
    freedom and its chi-square p-value."""

    statistic: float
    df: int
    p_value: float
    restricted_log_likelihood: float
    full_log_likelihood: float

    def __str__(self) -> str:
        return f"LR = {self.statistic:.4f} on {self.df} df, p = {self.p_value:.4g}"


def lr_test(restricted: Any, full: Any) -> LRTest:
    """Likelihood-ratio test of a restricted fit against the full fit it is nested in.

    Wilks (1938): under the restriction, ``2 (LL_full - LL_restricted)`` is asymptotically
    chi-square with as many degrees of freedom as the restriction removes free parameters
    (a covariate dropped or fixed, two coefficients constrained equal). The fits must be of
    the same model on the same customers, unpenalised; that the restricted model is nested
    in the full one is the caller's statement.

    Parameters
    ----------
    restricted, full : fitted model or FitResult

    Returns
    -------
    LRTest
    """
    from scipy.stats import chi2

    from .exceptions import InputError

    r = getattr(restricted, "result_", restricted)
    f = getattr(full, "result_", full)
    if r.model != f.model:
        raise InputError(f"lr_test needs fits of one model. Got {r.model!r} and {f.model!r}.")
    if r.n_obs != f.n_obs:
        raise InputError(
            f"lr_test needs fits on the same customers. Got {r.n_obs:,} and {f.n_obs:,}."
        )
    if r.penalized_log_likelihood is not None or f.penalized_log_likelihood is not None:
        raise InputError("lr_test needs unpenalised fits: a ridge penalty changes the null law.")
    df = f.n_params - r.n_params
    if df < 1:
        raise InputError(
            f"The full fit must have more free parameters than the restricted one. Got "
            f"{f.n_params} and {r.n_params}."
        )
    stat = max(2.0 * (f.log_likelihood - r.log_likelihood), 0.0)
    return LRTest(stat, df, float(chi2.sf(stat, df)), r.log_likelihood, f.log_likelihood)
