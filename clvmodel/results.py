"""Fit results: estimates, standard errors, Wald intervals, log-likelihood, AIC/BIC, summary()."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.special import ndtri


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
        table = pd.DataFrame(
            {
                "estimate": self.params,
                "std_error": self.standard_errors,
                f"lower {pct}": ci["lower"].to_numpy(),
                f"upper {pct}": ci["upper"].to_numpy(),
            },
            index=pd.Index(self.param_names, name="param"),
        )
        table.attrs.update(
            model=self.model,
            log_likelihood=self.log_likelihood,
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
        )
