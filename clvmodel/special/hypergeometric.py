"""The Gauss hypergeometric function 2F1(a, b; c; z) in log space: the power series, the
continued fraction of 2F1(1, b; c; z) near z = 1, and the Euler integral (log-concave
quadrature) where neither converges fast."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .basic import _sigmoid, _softplus, _softplus_step, log_beta
from .quadrature import logconcave_integral

#: Below this argument the power series is summed; above it (or when the series would need
#: more than ``_SERIES_TERMS`` terms) the Euler integral is integrated numerically.
_SERIES_MAX_Z = 0.6


_SERIES_TERMS = 400


#: Continued-fraction levels allowed for 2F1(1, b; c; z) with 0.6 < z <= 0.999.
_CF_LEVELS = 1200


_CF_MAX_Z = 0.999


def _hyp2f1_series(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    z: NDArray[np.float64],
    gradient: bool = True,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Σ_k (a)_k (b)_k / ((c)_k k!) z^k for a, b > 0, c > 0, 0 <= z < 1 (all terms > 0).

    Returns the log of the sum, its derivatives ``(4, n)`` in ``(a, b, c, z)`` (zeros unless
    ``gradient``), and which rows converged (tail bound below 1e-17 of the sum) within
    ``_SERIES_TERMS`` terms. Rows leave the loop as they converge.
    """
    n = len(z)
    # state rows: total, term, Σ1/(a+j), Σ1/(b+j), Σ1/(c+j), d/da, d/db, d/dc, d/dz
    state = np.zeros((9, n))
    state[0] = state[1] = 1.0
    out = state.copy()
    done = np.zeros(n, dtype=bool)
    act = np.arange(n)
    aa, bb, cc, zz = a, b, c, z
    for k in range(_SERIES_TERMS):
        q = (aa + k) * (bb + k) / ((cc + k) * (k + 1.0))
        st = state
        if gradient:
            st[8] += (k + 1.0) * st[1] * q
            st[2] += 1.0 / (aa + k)
            st[3] += 1.0 / (bb + k)
            st[4] += 1.0 / (cc + k)
        st[1] *= q * zz
        st[0] += st[1]
        if gradient:
            st[5] += st[1] * st[2]
            st[6] += st[1] * st[3]
            st[7] -= st[1] * st[4]
        # Later term ratios stay below max(q z, z) < 1 (q_k tends to 1 monotonically): the
        # tail is at most term * rho / (1 - rho).
        rho = np.maximum(q * zz, zz)
        fin = (rho < 1.0) & (st[1] * rho <= 1e-17 * st[0] * (1.0 - rho))
        if fin.any() or k == _SERIES_TERMS - 1:
            out[:, act] = st
            done[act[fin]] = True
            keep = ~fin
            act, state = act[keep], st[:, keep]
            aa, bb, cc, zz = aa[keep], bb[keep], cc[keep], zz[keep]
            if act.size == 0:
                break
    grad = out[5:9] / out[0]
    return np.log(out[0]), grad, done


def _hyp2f1_unit_cf(
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    z: NDArray[np.float64],
    gradient: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """``log 2F1(1, b; c; z)`` by Gauss's continued fraction, for 0 < b < c, c > 1, z < 1.

    With ``F(b, 1; c; z) = 1 / (1 - k_1 z / (1 - k_2 z / (1 - ...)))``,
    ``k_{2n+1} = (b+n)(c-1+n) / ((c-1+2n)(c+2n))`` and
    ``k_{2n} = n(c-1-b+n) / ((c-2+2n)(c-1+2n))`` (Gauss's continued fraction with one
    numerator parameter 0; all ``k > 0``, a Stieltjes fraction, convergent off ``[1, ∞)``),
    evaluated forward by the modified Lentz method with forward-mode derivatives in
    ``(b, c, z)``. It needs about ``10 / sqrt(1 - z)`` levels where the power series needs
    ``37 / (1 - z)`` terms. Returns the log, its gradient ``(3, n)`` and which rows converged
    within ``_CF_LEVELS`` levels.
    """
    n_rows = len(z)
    cm = c - 1.0
    f_log = np.zeros(n_rows)
    cur_c = np.ones(n_rows)
    cur_d = np.zeros(n_rows)
    d_c = np.zeros((3, n_rows))
    d_d = np.zeros((3, n_rows))
    d_log = np.zeros((3, n_rows))
    done = np.zeros(n_rows, dtype=bool)
    act = np.arange(n_rows)
    bb, cc, zz = b, cm, z
    for j in range(1, _CF_LEVELS):
        if j % 2:
            m = (j - 1) // 2
            den = (cc + 2 * m) * (cc + 2 * m + 1)
            k = (bb + m) * (cc + m) / den
            dk_b = (cc + m) / den
            dk_c = k * (1.0 / (cc + m) - 1.0 / (cc + 2 * m) - 1.0 / (cc + 2 * m + 1))
        else:
            m = j // 2
            den = (cc + 2 * m - 1) * (cc + 2 * m)
            k = m * (cc - bb + m) / den
            dk_b = -m / den
            dk_c = k * (1.0 / (cc - bb + m) - 1.0 / (cc + 2 * m - 1) - 1.0 / (cc + 2 * m))
        a = -k * zz
        new_d = 1.0 / (1.0 + a * cur_d)
        new_c = 1.0 + a / cur_c
        delta = new_c * new_d
        f_log[act] += np.log(delta)
        if gradient:
            da = np.stack([-dk_b * zz, -dk_c * zz, -k])
            nd_d = -(new_d**2) * (da * cur_d + a * d_d)
            nd_c = da / cur_c - a * d_c / cur_c**2
            d_log[:, act] += nd_c / new_c + nd_d / new_d
            d_c, d_d = nd_c, nd_d
        cur_c, cur_d = new_c, new_d
        fin = np.abs(delta - 1.0) < 1e-16
        if fin.any():
            done[act[fin]] = True
            keep = ~fin
            act, bb, cc, zz = act[keep], bb[keep], cc[keep], zz[keep]
            cur_c, cur_d = cur_c[keep], cur_d[keep]
            if gradient:
                d_c, d_d = d_c[:, keep], d_d[:, keep]
            if act.size == 0:
                break
    return -f_log, -d_log, done


def _hyp2f1_quad_centre(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    log1mz: NDArray[np.float64],
) -> NDArray[np.float64]:
    """The mode of the exponent of :func:`_hyp2f1_quad` in closed form.

    With ``y = e^u`` and ``w = 1 - z``, ``b σ(-u) - (c-a-b) σ(u) - a σ(u + log w) = 0`` is
    ``w (c-b) y² - (b (1+w) - (c-a) - a w) y - b = 0``, whose one positive root is taken in
    the form without cancellation. Where it is not finite (``w`` underflows with
    ``c - a - b <= 0``), the mode of the Beta part, ``log b - log(c-b)``.
    """
    w = np.exp(log1mz)
    lin = b * (1.0 + w) - (c - a) - a * w
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        disc = np.sqrt(lin * lin + 4.0 * w * (c - b) * b)
        y = np.where(lin > 0, (lin + disc) / (2.0 * w * (c - b)), 2.0 * b / (disc - lin))
        centre = np.log(y)
    return np.where(np.isfinite(centre), centre, np.log(b) - np.log(c - b))


def _hyp2f1_quad(
    a: NDArray[np.float64],
    b: NDArray[np.float64],
    c: NDArray[np.float64],
    log1mz: NDArray[np.float64],
    gradient: bool,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """Euler's integral (DLMF 15.6.1) in ``u = logit(t)``, for 0 < b < c, 0 <= a <= c, z < 1.

    ``2F1 = ∫ exp(b u - (c-a) softplus(u) - a softplus(u + log(1-z))) du / B(b, c-b)``; the
    exponent is concave in ``u``, so :func:`logconcave_integral` applies. It is evaluated
    as ``-b softplus(-u) - (c-a-b) softplus(u) - a softplus(u + log(1-z))`` (the log of the
    Beta density ``t^b (1-t)^(c-b)`` and the ``(1-zt)^-a`` factor) relative to its value at
    the mode ``m`` (:func:`_hyp2f1_quad_centre`), each difference of softplus by
    :func:`_softplus_step`: for parameters in the millions (a Pareto/NBD fit of a log of a
    few rows wanders there) ``b u`` and ``(c-a) softplus(u)`` are each about ``10^9`` and
    their difference would carry a rounding noise of ``10^-7`` that no quadrature rule can
    resolve to 1e-13, while the differences from the mode are of the order of the window's
    ``sqrt(b)``.
    """
    from scipy.special import digamma

    e = c - a - b  # may be negative
    centre = _hyp2f1_quad_centre(a, b, c, log1mz)

    def logf(
        u: NDArray[np.float64], rows: NDArray[np.intp]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None]:
        aa, bb, ee, ll, mm = a[rows], b[rows], e[rows], log1mz[rows], centre[rows]
        d = u - mm
        value = (
            -bb * _softplus_step(-mm, -d)
            - ee * _softplus_step(mm, d)
            - aa * _softplus_step(mm + ll, d)
        )
        sg1 = _sigmoid(u + ll)
        slope = bb * _sigmoid(-u) - ee * _sigmoid(u) - aa * sg1
        if not gradient:
            return value, slope, None
        sp0, sp1 = _softplus(u), _softplus(u + ll)
        return value, slope, np.stack([sp0 - sp1, u, -sp0, aa * sg1])

    log_int, means = logconcave_integral(
        logf, -np.inf, np.inf, centre, points=np.stack([np.zeros_like(log1mz), -log1mz])
    )
    at_centre = -b * _softplus(-centre) - e * _softplus(centre) - a * _softplus(centre + log1mz)
    value = at_centre + log_int - log_beta(b, c - b)
    if not gradient or means is None:
        return value, None
    d_a = means[0]
    d_b = means[1] - digamma(b) + digamma(c - b)
    d_c = means[2] - digamma(c - b) + digamma(c)
    d_z = means[3] * np.exp(-log1mz)
    return value, np.stack([d_a, d_b, d_c, d_z])


def log_hyp2f1(
    a: ArrayLike,
    b: ArrayLike,
    c: ArrayLike,
    z: ArrayLike,
    *,
    log1mz: ArrayLike | None = None,
    gradient: bool = False,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``log 2F1(a, b; c; z)`` for real ``z < 1``, accurate where scipy's ``hyp2f1`` is not.

    Domain: ``a, b >= 0`` with one of them strictly between 0 and ``c`` and the other at most
    ``c`` (every Pareto/NBD, BG/BB and sBG use). Then the Euler integral
    ``2F1 = ∫_0^1 t^(b-1) (1-t)^(c-b-1) (1-zt)^(-a) dt / B(b, c-b)`` (DLMF 15.6.1) has a
    log-concave integrand in ``logit(t)``.

    For ``0 <= z <= 0.6`` the power series is summed (in the form of the Euler transformation
    ``(1-z)^(c-a-b) 2F1(c-a, c-b; c; z)`` when that has the smaller numerator parameters;
    every term is non-negative, so there is no cancellation). For ``2F1(1, b; c; z)`` up to
    ``z = 0.999`` Gauss's continued fraction follows (values only; see
    :func:`log_hyp2f1_unit` for its gradient). Otherwise, or when the series
    would need more than 400 terms (numerator parameters in the thousands), the Euler integral
    is computed by adaptive Gauss-Kronrod quadrature around its mode
    (:func:`logconcave_integral`), to about 1e-13 relative. The result never overflows:
    ``2F1(10^4, 1; 10^4 + 1; 1 - 10^-9)`` is about ``e^20``, while the series terms of
    ``2F1(r+s+x, s+1; r+s+x+1; z)`` for heavy buyers overflow scipy.

    Parameters
    ----------
    a, b, c, z : array-like
        Broadcast against each other.
    log1mz : array-like, optional
        ``log(1 - z)`` computed by the caller without cancellation (for ``z`` within
        ``1e-8`` of 1 pass it: ``1 - z`` as a difference keeps only 8 digits).
    gradient : bool
        Also return the derivatives in ``(a, b, c, z)``, shape ``(4, n)``.

    Raises
    ------
    ValueError
        Outside the domain above.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (a, b, c, z)))
    shape = arrays[0].shape
    a_, b_, c_, z_ = (np.ravel(v).astype(np.float64) for v in arrays)
    with np.errstate(divide="ignore", invalid="ignore"):
        l1z_default = np.log1p(-z_)
    l1z = (
        l1z_default
        if log1mz is None
        else np.ravel(np.broadcast_to(np.asarray(log1mz, dtype=np.float64), shape)).copy()
    )
    # Put in b the parameter with 0 < b < c (the Euler integral needs it).
    swap = ~((b_ > 0) & (b_ < c_) & (a_ >= 0) & (a_ <= c_))
    a_, b_ = np.where(swap, b_, a_), np.where(swap, a_, b_)
    bad = ~((b_ > 0) & (b_ < c_) & (a_ >= 0) & (a_ <= c_) & (z_ < 1) & np.isfinite(l1z))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            "log_hyp2f1 needs z < 1 and a, b >= 0 with one of them in (0, c) and the other "
            f"<= c. Got a={a_[i]!r}, b={b_[i]!r}, c={c_[i]!r}, z={z_[i]!r} "
            f"({int(bad.sum())} values break this rule)."
        )
    n = len(z_)
    value = np.empty(n)
    grad = np.empty((4, n))
    solved = (z_ >= 0) & (z_ <= _SERIES_MAX_Z)  # rows done by series or fraction
    if solved.any():
        i = np.flatnonzero(solved)
        aa, bb, cc, zz, ll = a_[i], b_[i], c_[i], z_[i], l1z[i]
        # Euler's transformation when its numerator parameters are smaller (faster series).
        euler = (cc - aa) + (cc - bb) < aa + bb
        pa, pb = np.where(euler, cc - aa, aa), np.where(euler, cc - bb, bb)
        with np.errstate(divide="ignore", invalid="ignore"):
            v, g, ok = _hyp2f1_series(pa, pb, cc, zz, gradient)
        ok &= (pa > 0) & (pb > 0)  # a zero parameter goes to the integral (its derivative)
        e = euler.astype(np.float64)
        m = cc - aa - bb
        value[i] = v + e * m * ll
        dz_pref = -e * m * np.exp(-ll)
        grad[0, i] = np.where(euler, -ll - g[0], g[0])
        grad[1, i] = np.where(euler, -ll - g[1], g[1])
        grad[2, i] = np.where(euler, ll + g[0] + g[1] + g[2], g[2])
        grad[3, i] = g[3] + dz_pref
        solved[i[~ok]] = False
    # 2F1(1, b; c; z) above the series range: the continued fraction (values only; its
    # gradient in the unit parameter would need the integral, see log_hyp2f1_unit).
    unit = ~solved & (z_ >= 0) & (z_ <= _CF_MAX_Z) & (c_ > 1) & ((a_ == 1.0) | (b_ == 1.0))
    if unit.any() and not gradient:
        i = np.flatnonzero(unit)
        other = np.where(a_[i] == 1.0, b_[i], a_[i])
        ok = other < c_[i]
        v, _, conv = _hyp2f1_unit_cf(other[ok], c_[i][ok], z_[i][ok], False)
        value[i[ok]] = v
        solved[i[ok][conv]] = True
    rest = np.flatnonzero(~solved)
    if rest.size:
        v, g = _hyp2f1_quad(a_[rest], b_[rest], c_[rest], l1z[rest], gradient)
        value[rest] = v
        if g is not None:
            grad[:, rest] = g
    grad[[0, 1]] = np.where(swap, grad[[1, 0]], grad[[0, 1]])
    value = value.reshape(shape)
    if not gradient:
        return value
    return value, grad.reshape((4, *shape))


def log_hyp2f1_unit(
    b: ArrayLike,
    c: ArrayLike,
    z: ArrayLike,
    *,
    log1mz: ArrayLike | None = None,
    gradient: bool = False,
) -> NDArray[np.float64] | tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``log 2F1(1, b; c; z)`` for ``0 < b < c``, ``c > 1``, ``z < 1``, with ``d/d(b, c, z)``.

    The form every Pareto/NBD likelihood term takes after Euler's transformation
    (``2F1(r+s+x, s+1; r+s+x+1; z) = (1-z)^-s 2F1(1, r+x; r+s+x+1; z)``), and the BG/BB and
    sBG discounting sums. Power series for ``0 <= z <= 0.6`` (terms decrease at least as
    fast as ``z^k``), Gauss's continued fraction up to ``z = 0.999`` (about
    ``10 / sqrt(1-z)`` levels), the Euler integral by quadrature beyond and for ``z < 0``.

    Returns
    -------
    value : ndarray
    gradient : ndarray, shape ``(3, ...)``
        Only with ``gradient=True``: derivatives in ``b``, ``c`` and ``z``.
    """
    arrays = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (b, c, z)))
    shape = arrays[0].shape
    b_, c_, z_ = (np.ravel(v).astype(np.float64) for v in arrays)
    with np.errstate(divide="ignore", invalid="ignore"):
        l1z_default = np.log1p(-z_)
    l1z = (
        l1z_default
        if log1mz is None
        else np.ravel(np.broadcast_to(np.asarray(log1mz, dtype=np.float64), shape)).copy()
    )
    bad = ~((b_ > 0) & (b_ < c_) & (c_ > 1) & (z_ < 1) & np.isfinite(l1z))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"log_hyp2f1_unit needs 0 < b < c, c > 1 and z < 1. Got b={b_[i]!r}, c={c_[i]!r}, "
            f"z={z_[i]!r} ({int(bad.sum())} values break this rule)."
        )
    n = len(z_)
    value = np.empty(n)
    grad = np.zeros((3, n))
    left = np.ones(n, dtype=bool)
    ser = (z_ >= 0) & (z_ <= _SERIES_MAX_Z)
    if ser.any():
        i = np.flatnonzero(ser)
        with np.errstate(divide="ignore", invalid="ignore"):
            v, g, ok = _hyp2f1_series(np.ones(len(i)), b_[i], c_[i], z_[i], gradient)
        value[i], grad[:, i] = v, g[1:]
        left[i[ok]] = False
    cf = left & (z_ >= 0) & (z_ <= _CF_MAX_Z)
    if cf.any():
        i = np.flatnonzero(cf)
        v, g, ok = _hyp2f1_unit_cf(b_[i], c_[i], z_[i], gradient)
        value[i], grad[:, i] = v, g
        left[i[ok]] = False
    rest = np.flatnonzero(left)
    if rest.size:
        v, g = _hyp2f1_quad(np.ones(rest.size), b_[rest], c_[rest], l1z[rest], gradient)
        value[rest] = v
        if g is not None:
            grad[:, rest] = g[1:]
    value = value.reshape(shape)
    if not gradient:
        return value
    return value, grad.reshape((3, *shape))
