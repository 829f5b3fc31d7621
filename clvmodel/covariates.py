"""Time-invariant covariates: how customer characteristics move each model's parameters.

The parameterisation is that of CLVTools and PyMC-Marketing, so estimates are comparable:

- Pareto/NBD: ``α_i = α exp(-γ_purchᵀ z_i)``, ``β_i = β exp(-γ_lifeᵀ z_i)``;
- BG/NBD and MBG/NBD: ``α_i = α exp(-γ_purchᵀ z_i)``, ``a_i = a exp(γ_lifeᵀ z_i)``,
  ``b_i = b exp(γ_lifeᵀ z_i)``

(Fader & Hardie 2007, "Incorporating Time-Invariant Covariates into the Pareto/NBD and
BG/NBD Models", brucehardie.com note 019; CLVTools' ``pnbd``/``bgnbd`` with static
covariates, which use one dropout coefficient for both ``a`` and ``b``). A positive
purchase coefficient raises the purchase rate; a positive Pareto/NBD dropout coefficient
raises the dropout rate.

:class:`CovariateDesign` maps the free coefficients of a fit (after equality constraints
across the two processes and coefficients fixed at a value) to the full coefficient vectors,
and :class:`CovariateLikelihood` turns a model's per-row log-likelihood (a pure function of
per-customer parameters) into one of the base parameters and the free coefficients, with the
gradient by the chain rule through ``α_i, a_i, b_i, β_i``. Nothing here reads files or
fits; :func:`check_covariates` validates a covariate table with one-line errors.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from .exceptions import InputError

Array = NDArray[np.float64]
PROCESSES = ("purchase", "dropout")

#: Per model: (parameter, process, sign) -- ``θ_i = θ exp(sign γ_processᵀ z_i)``.
LINKS: dict[str, tuple[tuple[str, str, int], ...]] = {
    "bgnbd": (("alpha", "purchase", -1), ("a", "dropout", 1), ("b", "dropout", 1)),
    "mbgnbd": (("alpha", "purchase", -1), ("a", "dropout", 1), ("b", "dropout", 1)),
    "pnbd": (("alpha", "purchase", -1), ("beta", "dropout", -1)),
}


def coefficient_name(process: str, column: str) -> str:
    """Name of a coefficient in results and model files: ``purchase:channel``."""
    return f"{process}:{column}"


@dataclass(frozen=True)
class CovariateDesign:
    """Which covariates act on which process, and how the free coefficients expand.

    Parameters
    ----------
    purchase, dropout : tuple of str
        Covariate columns of the purchase and the dropout process.
    equal : tuple of str
        Covariates (in both lists) whose purchase and dropout coefficients are constrained
        equal; the fit estimates one coefficient, named ``purchase=dropout:<column>``.
    fixed : mapping
        Coefficients held at a value, by name (``"dropout:region"``: 0.0).
    """

    purchase: tuple[str, ...] = ()
    dropout: tuple[str, ...] = ()
    equal: tuple[str, ...] = ()
    fixed: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for label, cols in (("purchase", self.purchase), ("dropout", self.dropout)):
            dup = sorted({c for c in cols if list(cols).count(c) > 1})
            if dup:
                raise InputError(f"The {label} covariates list {dup} more than once.")
        not_both = sorted(set(self.equal) - (set(self.purchase) & set(self.dropout)))
        if not_both:
            raise InputError(
                f"Equality constraints need the covariate in both the purchase and the "
                f"dropout lists. Got {not_both}, which is not in both."
            )
        unknown = sorted(set(self.fixed) - set(self.full_names))
        if unknown:
            raise InputError(
                f"Fixed coefficients must be among {list(self.full_names)}. "
                f"Got unknown {unknown} instead."
            )
        clash = sorted(
            c
            for c in self.equal
            if (coefficient_name("purchase", c) in self.fixed)
            != (coefficient_name("dropout", c) in self.fixed)
        )
        if clash:
            raise InputError(
                f"Covariates {clash} are constrained equal across processes but only one "
                f"of their two coefficients is fixed: fix both or neither."
            )

    @property
    def active(self) -> bool:
        """Whether there is any covariate at all."""
        return bool(self.purchase or self.dropout)

    @property
    def columns(self) -> tuple[str, ...]:
        """Covariate columns read from the data, purchase ones first, each once."""
        return tuple(dict.fromkeys(self.purchase + self.dropout))

    @property
    def full_names(self) -> tuple[str, ...]:
        """Every coefficient, purchase ones first."""
        return tuple(coefficient_name("purchase", c) for c in self.purchase) + tuple(
            coefficient_name("dropout", c) for c in self.dropout
        )

    def _free(self) -> tuple[tuple[str, ...], NDArray[np.intp]]:
        """Free coefficient names and, per full coefficient, its free index (-1: fixed)."""
        names: list[str] = []
        index = []
        for name in self.full_names:
            process, col = name.split(":", 1)
            if name in self.fixed:
                index.append(-1)
            elif col in self.equal and process == "dropout":
                index.append(names.index(f"purchase=dropout:{col}"))
            else:
                index.append(len(names))
                names.append(f"purchase=dropout:{col}" if col in self.equal else name)
        return tuple(names), np.array(index, dtype=np.intp)

    @property
    def free_names(self) -> tuple[str, ...]:
        """Coefficients the fit estimates, in the order of the parameter vector."""
        return self._free()[0]

    def expand(self, free: Array) -> tuple[Array, Array]:
        """Full purchase and dropout coefficient vectors from the free ones."""
        _, index = self._free()
        fixed = np.array([self.fixed.get(n, 0.0) for n in self.full_names], dtype=np.float64)
        free = np.r_[np.asarray(free, dtype=np.float64), 0.0]  # index -1 reads the padding
        full = np.where(index >= 0, free[index], fixed)
        k = len(self.purchase)
        return full[:k], full[k:]

    def gather(self, per_full: Array) -> Array:
        """Sum rows of ``per_full`` (one per full coefficient) into rows per free one."""
        names, index = self._free()
        out = np.zeros((len(names), *per_full.shape[1:]))
        for j, i in enumerate(index):
            if i >= 0:
                out[i] += per_full[j]
        return out

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form, as stored in model files."""
        return {
            "purchase": list(self.purchase),
            "dropout": list(self.dropout),
            "equal": list(self.equal),
            "fixed": dict(self.fixed),
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any] | None) -> CovariateDesign:
        """Rebuild from :meth:`to_dict` output (``None``: no covariates)."""
        payload = payload or {}
        return cls(
            purchase=tuple(payload.get("purchase", ())),
            dropout=tuple(payload.get("dropout", ())),
            equal=tuple(payload.get("equal", ())),
            fixed={str(k): float(v) for k, v in dict(payload.get("fixed", {})).items()},
        )


@dataclass(frozen=True)
class CovariateLikelihood:
    """A model's per-row log-likelihood as a function of base parameters and coefficients.

    Called as ``f(theta, frequency, recency, T, *covariates, gradient=False)`` with
    ``theta`` = the base parameters (natural scale) followed by the free coefficients; with
    ``gradient=True`` also returns the derivatives in that order, shape ``(k, n)``. For
    ``θ_i = θ exp(s γᵀ z_i)``: ``∂ℓ/∂θ = ∂ℓ/∂θ_i θ_i/θ`` and
    ``∂ℓ/∂γ_k = Σ_θ ∂ℓ/∂θ_i θ_i s z_ik`` over the parameters of the coefficient's process.
    """

    core: Callable[..., Any]
    param_names: tuple[str, ...]
    links: tuple[tuple[str, str, int], ...]
    design: CovariateDesign

    @property
    def n_base(self) -> int:
        """Number of base parameters."""
        return len(self.param_names)

    def _linear(self, free: Array, z: Array) -> dict[str, Array]:
        """``γ_processᵀ z_i`` per process."""
        gp, gd = self.design.expand(free)
        cols = self.design.columns
        out = {}
        for process, coefs, names in (
            ("purchase", gp, self.design.purchase),
            ("dropout", gd, self.design.dropout),
        ):
            rows = [cols.index(c) for c in names]
            out[process] = coefs @ z[rows] if rows else np.zeros(z.shape[1])
        return out

    def row_params(self, theta: Array, covariates: Sequence[Array]) -> list[Array]:
        """Per-customer parameters: scalars for unlinked ones, arrays for linked ones."""
        base = [float(v) for v in theta[: self.n_base]]
        z = np.asarray(np.stack(covariates), dtype=np.float64) if covariates else np.zeros((0, 0))
        lin = self._linear(np.asarray(theta[self.n_base :]), z)
        out: list[Any] = list(base)
        for name, process, sign in self.links:
            j = self.param_names.index(name)
            out[j] = base[j] * np.exp(sign * lin[process])
        return out

    def __call__(self, theta: Array, *arrays: Array, gradient: bool = False) -> Any:
        data, covariates = arrays[:3], arrays[3:]
        params = self.row_params(theta, covariates)
        if not gradient:
            return self.core(params, *data)
        ll, g = self.core(params, *data, gradient=True)
        base = np.asarray(theta[: self.n_base], dtype=np.float64)
        grad_base = np.array(g, dtype=np.float64)
        score = {p: np.zeros(len(ll)) for p in PROCESSES}
        for name, process, sign in self.links:
            j = self.param_names.index(name)
            grad_base[j] = g[j] * params[j] / base[j]
            score[process] = score[process] + sign * g[j] * params[j]
        cols = self.design.columns
        z = np.stack(covariates)
        per_full = np.concatenate(
            [
                z[[cols.index(c) for c in self.design.purchase]] * score["purchase"],
                z[[cols.index(c) for c in self.design.dropout]] * score["dropout"],
            ]
        )
        return ll, np.concatenate([grad_base, self.design.gather(per_full)])


def customer_parameters(
    model: str,
    params: Mapping[str, float],
    covariates: pd.DataFrame,
    *,
    purchase: Mapping[str, float] | None = None,
    dropout: Mapping[str, float] | None = None,
) -> dict[str, Array]:
    """Each customer's parameters under :data:`LINKS` from base ``params`` and coefficients.

    ``purchase`` and ``dropout`` map covariate columns of ``covariates`` to coefficients.
    """
    n = len(covariates)
    lin = {
        process: sum(
            (float(g) * covariates[c].to_numpy(dtype=np.float64) for c, g in coefs.items()),
            np.zeros(n),
        )
        for process, coefs in (("purchase", purchase or {}), ("dropout", dropout or {}))
    }
    out = {k: np.full(n, float(v)) for k, v in params.items()}
    for name, process, sign in LINKS[model]:
        out[name] = out[name] * np.exp(sign * lin[process])
    return out


def check_covariates(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    allow_constant: Sequence[str] = (),
    allow_zero: Sequence[str] = (),
    sample: int = 200_000,
    fitting: bool = True,
) -> None:
    """Refuse covariates a fit cannot use, with a one-line :class:`InputError` with counts.

    Checked in order: columns missing; non-numeric columns (categorical columns must be
    dummy-coded first); missing or infinite values; constant columns (their coefficient is
    confounded with the base parameter; those named in ``allow_constant``, and all-zero
    ones named in ``allow_zero``, pass);
    perfectly collinear columns (a column that is a linear combination of the others and
    the constant, judged on up to ``sample`` rows). With ``fitting=False`` (scoring), only
    the first three: any customers may be scored, however alike.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{len(missing)} covariate column(s) missing from the data: {missing}. "
            f"Columns present: {list(frame.columns)}."
        )
    bad = [c for c in columns if not pd.api.types.is_numeric_dtype(frame[c])]
    bad = [c for c in bad if not pd.api.types.is_bool_dtype(frame[c])]
    if bad:
        raise InputError(
            f"{len(bad)} covariate column(s) are not numeric: {bad} "
            f"(dtypes {[str(frame[c].dtype) for c in bad]}); dummy-code categorical columns "
            f"(one 0/1 column per level but one) before fitting."
        )
    values = {c: frame[c].to_numpy(dtype=np.float64) for c in columns}
    nonfinite = {c: int((~np.isfinite(v)).sum()) for c, v in values.items()}
    nonfinite = {c: k for c, k in nonfinite.items() if k}
    if nonfinite:
        detail = ", ".join(f"{c}: {k:,}" for c, k in nonfinite.items())
        raise InputError(
            f"Covariates must be finite numbers; {sum(nonfinite.values()):,} missing or "
            f"infinite value(s) of {len(frame):,} rows ({detail})."
        )
    if not fitting:
        return
    constant = [c for c, v in values.items() if len(v) and np.all(v == v[0])]
    constant = [
        c
        for c in constant
        if c not in allow_constant and not (c in allow_zero and values[c][0] == 0)
    ]
    if constant:
        raise InputError(
            f"{len(constant)} covariate column(s) have one value for all {len(frame):,} "
            f"customers: {constant}; their coefficient cannot be told from the base "
            f"parameter. Drop them (or fix their coefficients at 0)."
        )
    varying = [c for c in columns if np.ptp(values[c]) > 0] if len(frame) else []
    if len(varying) > 1:
        rows = np.arange(len(frame))
        if len(rows) > sample:
            rows = np.random.default_rng(0).choice(len(rows), sample, replace=False)
        m = np.stack([values[c][rows] for c in varying], axis=1)
        m = (m - m.mean(axis=0)) / m.std(axis=0)
        kept: list[int] = []
        for j in range(m.shape[1]):
            trial = m[:, [*kept, j]]
            sv = np.linalg.svd(trial, compute_uv=False)
            if sv[-1] <= 1e-9 * sv[0] * np.sqrt(len(rows)):
                others = [varying[i] for i in kept]
                raise InputError(
                    f"Covariate {varying[j]!r} is a linear combination of {others} and a "
                    f"constant over {len(rows):,} rows (perfectly collinear): drop one of them."
                )
            kept.append(j)
