"""Integrals of log-concave functions, vectorised over rows: the mode found by Newton steps,
the window where the integrand matters, and adaptive Gauss-Kronrod 7/15 on it; Gauss-Legendre
and Gauss-Jacobi rules."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray


@functools.lru_cache(maxsize=4)
def _gauss_legendre(n: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss-Legendre nodes and weights, computed once per ``n`` (an eigenproblem of size
    ``n``: the CLV sums ask for the same rule at every discounting step)."""
    nodes, weights = np.polynomial.legendre.leggauss(n)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


@functools.lru_cache(maxsize=256)
def _gauss_jacobi(
    n: int, alpha: float, beta: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gauss-Jacobi nodes and weights for the weight ``(1-y)^alpha (1+y)^beta``, computed
    once per rule (a model's parameters are the same at every discounting step)."""
    from scipy.special import roots_jacobi

    nodes, weights = roots_jacobi(n, alpha, beta)
    nodes.flags.writeable = weights.flags.writeable = False
    return nodes, weights


# Gauss-Kronrod 7/15 rule on [-1, 1] (QUADPACK qk15): Kronrod nodes, their weights, and the
# weights of the embedded 7-point Gauss rule (on the odd-indexed nodes).
_XK = np.array(
    [
        0.991455371120812639206854697526329,
        0.949107912342758524526189684047851,
        0.864864423359769072789712788640926,
        0.741531185599394439863864773280788,
        0.586087235467691130294144845693013,
        0.405845151377397166906606412076961,
        0.207784955007898467600689403773245,
        0.0,
    ]
)


_WK = np.array(
    [
        0.022935322010529224963732008058970,
        0.063092092629978553290700663189204,
        0.104790010322250183839876322541518,
        0.140653259715525918745189590510238,
        0.169004726639267902826583426598550,
        0.190350578064785409913256402421014,
        0.204432940075298892414161999234649,
        0.209482141084727828012999174891714,
    ]
)


_WG = np.array(
    [
        0.129484966168869693270611432679082,
        0.279705391489276667901467771423780,
        0.381830050505118944950369775488975,
        0.417959183673469387755102040816327,
    ]
)


_GK_NODES = np.concatenate([-_XK[:-1], _XK[::-1]])  # 15 nodes, ascending


_GK_WK = np.concatenate([_WK[:-1], _WK[::-1]])


_GK_WG = np.zeros(15)


_GK_WG[[1, 3, 5, 9, 11, 13]] = np.concatenate([_WG[:-1], _WG[:-1][::-1]])


_GK_WG[7] = _WG[-1]


#: ``logf(u, rows)`` returns ``(log f(u), d log f / du, h)`` where ``rows`` indexes the
#: parameters of each element of ``u`` and ``h`` (shape ``(m, len(u))`` or ``None``) holds
#: functions whose ``f``-weighted means are wanted.
LogDensity = Callable[
    [NDArray[np.float64], NDArray[np.intp]],
    tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64] | None],
]


def _find_mode(
    logf: LogDensity,
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    guess: NDArray[np.float64],
    scale: float,
) -> NDArray[np.float64]:
    """Arg-max of a concave ``log f`` on ``[lo, hi]``: bracket by doubling, then bisect."""
    n = len(lo)
    rows = np.arange(n)

    def slope(u: NDArray[np.float64], idx: NDArray[np.intp]) -> NDArray[np.float64]:
        return logf(u, idx)[1]

    u0 = np.clip(guess, lo, hi)
    d0 = slope(u0, rows)
    up = d0 > 0  # the mode lies to the right of u0
    mode = np.where(d0 == 0, u0, np.nan)
    below = u0.copy()  # a point with slope > 0 (left of the mode)
    above = u0.copy()  # a point with slope <= 0 (right of the mode)
    step = np.full(n, scale)
    todo = np.flatnonzero(d0 != 0)
    for _ in range(1100):
        if todo.size == 0:
            break
        sgn = np.where(up[todo], 1.0, -1.0)
        cand = np.clip(u0[todo] + sgn * step[todo], lo[todo], hi[todo])
        d = slope(cand, todo)
        crossed = np.where(up[todo], d <= 0, d > 0)
        at_end = ~crossed & (cand == np.where(up[todo], hi[todo], lo[todo]))
        mode[todo[at_end]] = cand[at_end]
        below[todo] = np.where(up[todo] & ~crossed, cand, below[todo])
        above[todo] = np.where(~up[todo] & ~crossed, cand, above[todo])
        below[todo] = np.where(~up[todo] & crossed, cand, below[todo])
        above[todo] = np.where(up[todo] & crossed, cand, above[todo])
        step[todo] *= 2.0
        todo = todo[~crossed & ~at_end]
    todo = np.flatnonzero(np.isnan(mode))
    for _ in range(2100):
        if todo.size == 0:
            break
        a, b = below[todo], above[todo]
        mid = 0.5 * (a + b)
        d = slope(mid, todo)
        below[todo] = np.where(d > 0, mid, a)
        above[todo] = np.where(d > 0, b, mid)
        close = np.abs(b - a) <= MODE_RTOL * np.maximum(np.abs(mid), 1.0)
        done = (d == 0) | (mid == a) | (mid == b) | close
        mode[todo[done]] = mid[done]
        todo = todo[~done]
    return mode


#: Precision of the mode of :func:`logconcave_integral`, relative to ``max(|u|, 1)``: the mode
#: is a cut point and the reference value, not a result (log f is flat there to O(gap²)).
MODE_RTOL = 1e-8


#: Relative precision of the window ends of :func:`logconcave_integral` (see _find_level).
LEVEL_RTOL = 1e-4


def _find_level(
    logf: LogDensity,
    start: NDArray[np.float64],
    end: NDArray[np.float64],
    target: NDArray[np.float64],
    scale: float,
    rows: NDArray[np.intp],
) -> NDArray[np.float64]:
    """Point between ``start`` (the mode) and ``end`` where ``log f`` has fallen to ``target``.

    Returns ``end`` where ``log f(end) >= target``. ``log f`` is monotone on the way.
    """
    sgn = np.where(end >= start, 1.0, -1.0)
    out = end.copy()
    finite = np.isfinite(end)
    val_end = np.full(len(end), -np.inf)
    if finite.any():
        val_end[finite] = logf(end[finite], rows[finite])[0]
    near = start.copy()
    far = end.copy()
    todo = np.flatnonzero(~(val_end >= target))  # the level is crossed before the end
    # Bracket: double a step from the mode until log f < target (or the end is passed).
    step = np.full(len(end), scale)
    search = todo[~finite[todo]]
    for _ in range(1100):
        if search.size == 0:
            break
        cand = start[search] + sgn[search] * step[search]
        below = logf(cand, rows[search])[0] < target[search]
        far[search[below]] = cand[below]
        near[search[~below]] = cand[~below]
        step[search] *= 2.0
        search = search[~below]
    # Bisect until the bracket is a 1e-4 part of its distance from the mode: ``far`` (where
    # log f < target) is returned, so the window always holds the level, a little wider.
    for _ in range(2100):
        if todo.size == 0:
            break
        a, b = near[todo], far[todo]
        mid = 0.5 * (a + b)
        above = logf(mid, rows[todo])[0] >= target[todo]
        near[todo] = np.where(above, mid, a)
        far[todo] = np.where(above, b, mid)
        gap = np.abs(far[todo] - near[todo])
        done = (mid == a) | (mid == b) | (gap <= LEVEL_RTOL * np.abs(far[todo] - start[todo]))
        todo = todo[~done]
    out[~(val_end >= target)] = far[~(val_end >= target)]
    return out


def logconcave_integral(
    logf: LogDensity,
    lo: ArrayLike,
    hi: ArrayLike,
    guess: ArrayLike,
    *,
    rtol: float = 1e-13,
    drop: float = 46.0,
    scale: float = 1.0,
    points: ArrayLike | None = None,
    max_rounds: int = 80,
) -> tuple[NDArray[np.float64], NDArray[np.float64] | None]:
    """``log ∫_lo^hi f(u) du`` for a log-concave ``f``, one integral per row, and f-weighted means.

    The mode of ``log f`` is found by bisection on its slope; the integral is restricted to the
    window where ``f`` is within ``exp(-drop)`` of its peak (the rest is below
    ``rtol``), cut at the mode, at ``points`` and at geometric distances from the mode, and
    computed by vectorised adaptive Gauss-Kronrod (7/15) quadrature of ``f / f(mode)``,
    bisecting every interval whose error estimate is above its share of ``rtol``. Working
    relative to the peak keeps every value in ``[e^-drop, 1]``,
    whatever the scale of ``f`` (``10^-40000`` is fine).

    Parameters
    ----------
    logf : callable
        ``logf(u, rows) -> (log f, d log f / du, h)`` for points ``u`` of the rows ``rows``;
        ``h`` is ``None`` or an array ``(m, len(u))`` of functions whose means under ``f`` are
        returned. ``log f`` must be concave in ``u``.
    lo, hi : array-like
        Limits per row; ``-inf``/``inf`` allowed where ``f`` decays there.
    guess : array-like
        A finite starting point per row for the mode search (a rough mode).
    rtol : float
        Relative accuracy asked of each integral.
    drop : float
        Where ``log f`` is ``drop`` below its peak, the rest of the tail is ignored.
    scale : float
        Initial step of the bracketing searches and length of the first intervals either
        side of the mode, in units of ``u``.
    points : array-like, optional
        ``(m, rows)`` (or ``(m,)``) places where ``f`` changes shape, cut at from the start.

    Returns
    -------
    log_integral : ndarray
        Per row.
    means : ndarray or None
        ``(m, rows)`` f-weighted means of ``h``, if ``logf`` returns any.
    """
    lo_, hi_, g_ = np.broadcast_arrays(
        np.asarray(lo, dtype=np.float64),
        np.asarray(hi, dtype=np.float64),
        np.asarray(guess, dtype=np.float64),
    )
    lo_, hi_, g_ = (np.ravel(v).astype(np.float64) for v in (lo_, hi_, g_))
    n = len(lo_)
    rows = np.arange(n)
    mode = _find_mode(logf, lo_, hi_, g_, scale)
    peak = logf(mode, rows)[0]
    target = peak - drop
    left = _find_level(logf, mode, lo_, target, scale, rows)
    right = _find_level(logf, mode, hi_, target, scale, rows)

    # Initial intervals: the window is cut at the mode, at ``points`` (the caller's known
    # features, such as the knees of a softplus) and at distances scale * (1, 2, 4, ...) from
    # the mode, so that no feature near the mode hides between the nodes of one wide interval
    # (where the Gauss-Kronrod error estimate would miss it). Intervals are then bisected
    # while their error estimate is above their share of ``rtol``, or until bisecting no
    # longer shrinks it, which then measures rounding in ``log f`` rather than quadrature
    # error (accepted up to 1e4 * rtol).
    span = np.maximum(mode - left, right - mode)
    top = int(np.ceil(np.log2(max(float(np.max(span, initial=0.0)) / scale, 1.0)))) + 1
    steps = scale * (2.0 ** np.arange(top))
    cuts = [left, right, mode]
    cuts += [mode - h for h in steps] + [mode + h for h in steps]
    if points is not None:
        pts = np.asarray(points, dtype=np.float64)
        pts = pts.reshape(len(pts), -1) if pts.ndim else pts.reshape(1, 1)
        cuts += [np.broadcast_to(p, (n,)) for p in pts]
    grid = np.sort(np.clip(np.stack(cuts), left, right), axis=0)
    a = grid[:-1].T.ravel()
    b = grid[1:].T.ravel()
    owner = np.repeat(rows, len(grid) - 1)
    keep = b > a
    a, b, owner = a[keep], b[keep], owner[keep]
    width = np.zeros(n)
    np.add.at(width, owner, b - a)
    parent_err = np.full(len(a), np.inf)
    done_k = np.zeros(n)
    done_h: NDArray[np.float64] | None = None
    for round_ in range(max_rounds):
        if a.size == 0:
            break
        half = 0.5 * (b - a)
        u = (0.5 * (a + b))[:, None] + half[:, None] * _GK_NODES[None, :]
        idx = np.repeat(owner, 15)
        lv, _, h = logf(u.ravel(), idx)
        with np.errstate(invalid="ignore", over="ignore"):
            f = np.exp(lv - peak[idx]).reshape(u.shape)
        f = np.where(np.isfinite(f), f, 0.0)
        k = half * (f @ _GK_WK)
        # QUADPACK's qk15 error estimate: |K15 - G7| scaled by (200 |K - G| / resasc)^1.5,
        # which is realistic once the rule converges (pessimistic |K - G| is not).
        diff = np.abs(k - half * (f @ _GK_WG))
        resasc = half * (np.abs(f - (k / (2.0 * half))[:, None]) @ _GK_WK)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.where(
                resasc > 0, resasc * np.minimum(1.0, (200.0 * diff / resasc) ** 1.5), diff
            )
        total = done_k.copy()
        np.add.at(total, owner, k)
        # Its share of rtol: by length or by its own mass, whichever is larger (the shares add
        # up to at most 2 rtol of the row's integral), and never below rtol / 1e4 of the
        # whole (an interval that small cannot matter, however long the window).
        share = np.maximum((b - a) / np.maximum(width[owner], 1e-300), 1e-4)
        allowed = rtol * np.maximum(total[owner] * share, k)
        ok = (
            (err <= allowed)
            | ((err <= 1e4 * allowed) & (err > parent_err / 8.0))
            | ((b - a) <= 1e-15 * np.maximum(1.0, np.abs(a)))
            | (round_ == max_rounds - 1)
            | (len(a) > 500_000)
        )
        np.add.at(done_k, owner[ok], k[ok])
        if h is not None:
            hk = np.einsum("mij,j->mi", h.reshape(len(h), *u.shape) * f, _GK_WK) * half
            if done_h is None:
                done_h = np.zeros((len(h), n))
            for j in range(len(hk)):
                np.add.at(done_h[j], owner[ok], hk[j][ok])
        split = ~ok
        mid = 0.5 * (a[split] + b[split])
        a = np.concatenate([a[split], mid])
        b = np.concatenate([mid, b[split]])
        owner = np.tile(owner[split], 2)
        parent_err = np.tile(err[split] / 2.0, 2)
    means = None if done_h is None else done_h / np.where(done_k > 0, done_k, 1.0)
    with np.errstate(divide="ignore"):
        log_integral = peak + np.log(done_k)
    return log_integral, means
