"""log 2F1 and the log-concave quadrature at extreme inputs, against 80-digit references.

The reference is written here with :mod:`decimal`
(80 significant digits): the Gauss series for ``z <= 0.999`` and, nearer 1, the linear
transformation to ``1 - z`` (Abramowitz & Stegun 15.3.6) with Γ from Stirling's series. Test
points keep ``c - a - b`` away from integers, where 15.3.6 is singular. The arguments of
degenerate Pareto/NBD fits (parameters up to 1e10, where that series cancels) are checked
against mpmath instead.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext
from fractions import Fraction

import mpmath as mp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import hyp2f1

from clvmodel.special import (
    log_hyp2f1,
    log_hyp2f1_unit,
    log_hyp2f1_unit_grid,
    logconcave_integral,
)

PREC = 80
D = Decimal


def _bernoulli(n: int) -> list[Fraction]:
    b = [Fraction(1)]
    for m in range(1, n + 1):
        b.append(-sum(math.comb(m + 1, k) * b[k] for k in range(m)) / Fraction(m + 1))
    return b


_B = _bernoulli(40)


def _lgamma(x: Decimal) -> Decimal:
    """log Γ(x) for x > 0: shift above 40, then Stirling's series to B_40."""
    shift = D(0)
    while x < 40:
        shift += x.ln()
        x += 1
    out = (x - D("0.5")) * x.ln() - x + _TWO_PI.ln() / 2
    for k in range(1, 21):
        b = _B[2 * k]
        out += D(b.numerator) / D(b.denominator) / (2 * k * (2 * k - 1) * x ** (2 * k - 1))
    return out - shift


def _gamma(x: Decimal) -> Decimal:
    """Γ(x) for any non-integer x (recurrence up to x > 0)."""
    prod = D(1)
    while x <= 0:
        prod *= x
        x += 1
    return _lgamma(x).exp() / prod


def _series(a: Decimal, b: Decimal, c: Decimal, z: Decimal) -> Decimal:
    total, term, k = D(1), D(1), 0
    tol = D(10) ** -(PREC - 5)
    while True:
        term = term * (a + k) * (b + k) / ((c + k) * (k + 1)) * z
        total += term
        k += 1
        if (
            k > 10
            and abs(term) < tol * abs(total)
            and abs((a + k) * (b + k) * z) < abs((c + k) * (k + 1))
        ):
            return total


def ref_log_hyp2f1(a: float, b: float, c: float, one_minus_z: str) -> float:
    """log 2F1(a, b; c; 1 - one_minus_z) to ~50 digits (``one_minus_z`` as an exact string)."""
    with localcontext() as ctx:
        ctx.prec = PREC
        a_, b_, c_ = D(repr(a)), D(repr(b)), D(repr(c))
        w = D(one_minus_z)
        z = 1 - w
        if z <= D("0.999"):  # at most ~40,000 terms
            return float(_series(a_, b_, c_, z).ln())
        s = c_ - a_ - b_
        first = _gamma(c_) * _gamma(s) / (_gamma(c_ - a_) * _gamma(c_ - b_))
        second = _gamma(c_) * _gamma(-s) / (_gamma(a_) * _gamma(b_))
        value = first * _series(a_, b_, 1 - s, w) + (s * w.ln()).exp() * second * _series(
            c_ - a_, c_ - b_, s + 1, w
        )
        return float(value.ln())


with localcontext() as _ctx:
    _ctx.prec = PREC
    _TWO_PI = D(
        "6.283185307179586476925286766559005768394338798750211641949889184615632812572417997256"
    )


R, S = 0.553, 0.606  # the published CDNOW Pareto/NBD r and s

# (a, b, c, 1 - z): the Pareto/NBD arguments of both branches (Fader, Hardie & Lee 2005 note,
# eq. 19-20) for heavy buyers and arguments within 1e-9 of 1, BG/BB and sBG discounting terms,
# and parameters from 1e-3 to 1e4.
CASES = [
    (R + S + 0, S + 1, R + S + 1, "0.5"),
    (R + S + 1, S + 1, R + S + 2, "1e-3"),
    (R + S + 100, S + 1, R + S + 101, "1e-6"),
    (R + S + 10_000, S + 1, R + S + 10_001, "1e-9"),
    (R + S + 10_000, S + 1, R + S + 10_001, "0.45"),
    (R + S + 10_000, R + 10_000, R + S + 10_001, "0.999"),
    (R + S + 10_000, R + 10_000, R + S + 10_001, "1e-4"),
    (R + S + 3, R + 3, R + S + 4, "1e-9"),
    (1.0, 2.783 + 7, 0.657 + 2.783 + 7, "0.0909090909090909090909090909090909090909"),
    (1.0, 1.182 + 1, 0.704 + 1.182 + 1, "0.0099009900990099009900990099009900990099"),
    (0.0013, 0.0021, 0.0047, "1e-6"),
    (1000.3, 2.7, 1001.9, "1e-7"),
    (2.5, 1.5, 4.2, "0.1"),
    (1.0, 0.5, 1.7, "1e-9"),
]


@pytest.mark.parametrize(("a", "b", "c", "omz"), CASES)
def test_log_hyp2f1_against_80_digit_reference(a, b, c, omz) -> None:
    ref = ref_log_hyp2f1(a, b, c, omz)
    w = float(omz)
    ours = log_hyp2f1(a, b, c, 1.0 - w, log1mz=math.log(w))
    assert float(ours) == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_log_hyp2f1_agrees_with_scipy_where_scipy_is_accurate() -> None:
    rng = np.random.default_rng(7)
    a = rng.uniform(0, 20, 400)
    c = a + rng.uniform(0.05, 20, 400)
    b = rng.uniform(0.01, 0.99, 400) * c
    z = rng.uniform(-0.9, 0.95, 400)
    np.testing.assert_allclose(log_hyp2f1(a, b, c, z), np.log(hyp2f1(a, b, c, z)), atol=1e-9)


def test_series_and_integral_meet_at_the_switch() -> None:
    # z = 0.6 is summed as a series, z just above by quadrature of the Euler integral.
    a, b, c = 1000.5, 2.3, 1001.5
    lo = float(log_hyp2f1(a, b, c, 0.6))
    hi = float(log_hyp2f1(a, b, c, np.nextafter(0.6, 1.0)))
    assert hi == pytest.approx(lo, rel=1e-13)


def test_log_hyp2f1_is_symmetric_and_checks_its_domain() -> None:
    assert float(log_hyp2f1(2.0, 3.5, 4.0, 0.8)) == pytest.approx(
        float(log_hyp2f1(3.5, 2.0, 4.0, 0.8)), rel=1e-13
    )
    with pytest.raises(ValueError, match="z < 1"):
        log_hyp2f1(1.0, 2.0, 3.0, 1.0)
    with pytest.raises(ValueError, match=r"in \(0, c\)"):
        log_hyp2f1(5.0, 6.0, 3.0, 0.5)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    a=st.floats(1e-3, 1e4),
    frac=st.floats(0.01, 0.99),
    gap=st.floats(1e-2, 1e3),
    log_omz=st.floats(-20.0, 2.0),
)
def test_log_hyp2f1_gradient_matches_finite_differences(a, frac, gap, log_omz) -> None:
    c = a + gap
    b = frac * c
    omz = math.exp(log_omz)
    _, grad = log_hyp2f1(a, b, c, 1.0 - omz, log1mz=log_omz, gradient=True)

    def f(da: float = 0.0, db: float = 0.0, dc: float = 0.0, dl: float = 0.0) -> float:
        return float(
            log_hyp2f1(a + da, b + db, c + dc, 1.0 - omz * math.exp(dl), log1mz=log_omz + dl)
        )

    def deriv(g, step: float) -> float:
        # Fourth-order central difference with a step large against the quadrature's 1e-13.
        h = 1e-2 * min(step, 1.0)
        return (8 * (g(h) - g(-h)) - (g(2 * h) - g(-2 * h))) / (12 * h)

    # Steps small against the distance to the domain's edges (b < c, a <= c).
    assert grad[0] == pytest.approx(deriv(lambda h: f(da=h), min(a, gap)), rel=1e-5, abs=1e-7)
    assert grad[1] == pytest.approx(deriv(lambda h: f(db=h), min(b, c - b)), rel=1e-5, abs=1e-7)
    assert grad[2] == pytest.approx(deriv(lambda h: f(dc=h), gap), rel=1e-5, abs=1e-7)
    # z enters through log(1 - z): d log F / d log(1-z) = -(1 - z) d log F / dz.
    assert -omz * grad[3] == pytest.approx(deriv(lambda h: f(dl=h), 1.0), rel=1e-5, abs=1e-7)


# 2F1(1, b; c; z) as in the Pareto/NBD likelihood after Euler's transformation: series up to
# z = 0.6, continued fraction to 0.999, quadrature beyond.
UNIT_CASES = [
    (R + 3, R + S + 4, "0.5"),
    (R + 3, R + S + 4, "0.2"),
    (S + 1, R + S + 41, "0.05"),
    (R + 10_000, R + S + 10_001, "0.01"),
    (S + 1, R + S + 10_001, "0.0011"),
    (0.0013, 1.0047, "0.3"),
    (R + 3, R + S + 4, "1e-5"),
]


@pytest.mark.parametrize(("b", "c", "omz"), UNIT_CASES)
def test_log_hyp2f1_unit_against_80_digit_reference(b, c, omz) -> None:
    w = float(omz)
    ours = log_hyp2f1_unit(b, c, 1.0 - w, log1mz=math.log(w))
    assert float(ours) == pytest.approx(ref_log_hyp2f1(1.0, b, c, omz), rel=1e-12, abs=1e-12)
    # The general function (values through the same continued fraction) agrees.
    assert float(log_hyp2f1(1.0, b, c, 1.0 - w, log1mz=math.log(w))) == pytest.approx(
        float(ours), rel=1e-13, abs=1e-13
    )


@pytest.mark.parametrize("switch", [0.6, 0.999])
def test_log_hyp2f1_unit_methods_meet(switch) -> None:
    b, c = np.array([1.606, 3.2, 500.5]), np.array([2.5, 40.0, 502.0])
    lo, g_lo = log_hyp2f1_unit(b, c, switch, gradient=True)
    hi, g_hi = log_hyp2f1_unit(b, c, np.nextafter(switch, 1.0), gradient=True)
    np.testing.assert_allclose(hi, lo, rtol=1e-12)
    np.testing.assert_allclose(g_hi, g_lo, rtol=1e-8)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(frac=st.floats(0.01, 0.99), c=st.floats(1.01, 1e4), log_omz=st.floats(-15.0, 1.0))
def test_log_hyp2f1_unit_gradient_matches_the_general_function(frac, c, log_omz) -> None:
    """d/d(b, c, z) of the unit form equal those of log_hyp2f1 (itself checked above)."""
    b = frac * c
    omz = math.exp(log_omz)
    _, g = log_hyp2f1_unit(b, c, 1.0 - omz, log1mz=log_omz, gradient=True)
    _, full = log_hyp2f1(1.0, b, c, 1.0 - omz, log1mz=log_omz, gradient=True)
    np.testing.assert_allclose(g[:2], full[1:3], rtol=1e-7, atol=1e-9)
    assert omz * g[2] == pytest.approx(omz * full[3], rel=1e-7, abs=1e-9)


def test_log_hyp2f1_unit_grid_on_80_digit_references() -> None:
    """The grid form (series by matrix products) at the reference points of the unit form
    whose z is in its series range, and beyond it (through log_hyp2f1_unit)."""
    for b, c, omz in UNIT_CASES:
        w = float(omz)
        ours = log_hyp2f1_unit_grid([b], [c], [1.0 - w], log1mz=[math.log(w)])
        ref = ref_log_hyp2f1(1.0, b, c, omz)
        assert float(ours[0, 0]) == pytest.approx(ref, rel=1e-12, abs=1e-12), (b, c, omz)


def test_log_hyp2f1_unit_grid_matches_the_unit_form() -> None:
    """Every cell of a grid of counts (b up to 10^4, b close to c and far from it) and z on
    both sides of the grid's series range, values and gradient, also for a subset of cells
    in any order."""
    b = np.array([R + 0.0, R + 3, S + 1, R + 10_000, 0.0013, 1.606, 3.0])
    c = np.array([R + S + 1, R + S + 4, R + S + 41, R + S + 10_001, 1.0047, 2.5, 1e4])
    z = np.array([0.0, 1e-12, 1e-5, 0.2, 0.3, 0.6, 0.75, 0.9, np.nextafter(0.9, 1), 0.99, -0.5])
    value, grad = log_hyp2f1_unit_grid(b, c, z, gradient=True)
    ref, ref_grad = log_hyp2f1_unit(b[:, None], c[:, None], z[None, :], gradient=True)
    np.testing.assert_allclose(value, ref, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(log_hyp2f1_unit_grid(b, c, z), value)
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, len(b), 40), rng.integers(0, len(z), 40)
    some, some_grad = log_hyp2f1_unit_grid(b, c, z, gradient=True, cells=(rows, cols))
    np.testing.assert_allclose(some, value[rows, cols], rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(some_grad, grad[:, rows, cols], rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="0 < b < c"):
        log_hyp2f1_unit_grid([2.0], [1.5], [0.5])


# ---------------------------------------------------------------- quadrature


@pytest.mark.parametrize("sigma", [1e-4, 1e-1, 1.0, 30.0, 1e4])
@pytest.mark.parametrize("centre", [-1e3, 0.0, 7.5])
def test_logconcave_integral_of_gaussians(sigma, centre) -> None:
    """∫ exp(K - (u-m)^2 / 2σ^2) du = K + log(σ √(2π)), K = -1e5 (far below underflow)."""

    def logf(u, rows):
        return -1e5 - (u - centre) ** 2 / (2 * sigma**2), -(u - centre) / sigma**2, np.stack([u])

    value, means = logconcave_integral(logf, -np.inf, np.inf, np.array([centre + 3 * sigma]))
    assert value[0] == pytest.approx(-1e5 + math.log(sigma * math.sqrt(2 * math.pi)), abs=1e-9)
    assert means is not None
    assert means[0, 0] == pytest.approx(centre, abs=1e-9 * max(1.0, abs(centre), sigma))


@pytest.mark.parametrize("rate", [1e-4, 1e-2, 1.0, 1e2, 1e4])
def test_logconcave_integral_of_exponentials_on_half_lines(rate) -> None:
    """∫_0^∞ e^(-λu) du = 1/λ and ∫_-∞^1 e^(λu) du = e^λ/λ: a mode on each end."""

    def decay(u, rows):
        return -rate * u, np.full_like(u, -rate), None

    def grow(u, rows):
        return rate * u, np.full_like(u, rate), None

    v1, _ = logconcave_integral(decay, 0.0, np.inf, np.array([0.0]))
    v2, _ = logconcave_integral(grow, -np.inf, 1.0, np.array([0.0]))
    assert v1[0] == pytest.approx(-math.log(rate), abs=1e-11 * max(1.0, abs(math.log(rate))))
    assert v2[0] == pytest.approx(rate - math.log(rate), rel=1e-12, abs=1e-11)


def test_logconcave_integral_with_a_sharp_knee() -> None:
    """Slope 0.5 left, -0.2 for 20 units, then -1.2: the Euler integral of 2F1(1, .5; 1.7; z)
    at 1 - z = e^-20 (closed form at z -> 1 not needed: compare with the 80-digit series)."""
    ref = ref_log_hyp2f1(1.0, 0.5, 1.7, repr(math.exp(-20.0)))
    ours = log_hyp2f1(1.0, 0.5, 1.7, 1.0 - math.exp(-20.0), log1mz=-20.0)
    assert float(ours) == pytest.approx(ref, rel=1e-12)


def test_mean_until_death_short_horizon_series_equals_integral_and_closed_form(
    monkeypatch,
) -> None:
    """Small κ (the first discounting steps of a CLV): the power series in κ equals the
    log-concave integral it replaces (to 1e-10) and the FHL closed form where that form
    is well conditioned (to 1e-9), including a = 1, where the closed form is singular."""
    from scipy.special import hyp2f1

    import clvmodel.special.until_death as sp

    rng = np.random.default_rng(11)
    n = 400
    b = 10 ** rng.uniform(-0.5, 2.5, n)
    m = 10 ** rng.uniform(-2, 2.5, n)
    k = sp.SERIES_RATIO * 10 ** rng.uniform(-6, 0, n) / np.maximum(0.5 * (m + 1), 1)
    for a in (0.3, 1.0, 2.5, 40.0):
        series = sp._mean_until_death(a, b, m, k)
        with monkeypatch.context() as mp:
            mp.setattr(sp, "SERIES_RATIO", -1.0)  # every row through the integral
            integral = sp._mean_until_death(a, b, m, k)
        np.testing.assert_allclose(series, integral, rtol=1e-10)
        assert np.all(series > 0) and np.all(series <= m * k * (1 + 1e-15))  # E ≤ mκ
        if a != 1.0:
            z, c = k / (1 + k), a + b - 1
            with np.errstate(all="ignore"):
                bracket = 1 - hyp2f1(m, b, c, z) * (1 - z) ** m
            ok = (c > 0) & (np.abs(bracket) > 1e-2)
            np.testing.assert_allclose(series[ok], (c / (a - 1) * bracket)[ok], rtol=1e-9)


# 2F1(1, b; c; z) at the arguments a Pareto/NBD fit of a log of a few rows reaches (r, s,
# alpha, beta drift to 1e4..1e10, z within 1e-3..1e-200 of 1), both branches, against mpmath.
DEGENERATE_CASES = [
    (b, c, omz)
    for b, c in [
        (1.09434474e8, 1.094766625762e8),  # the fuzz example: s + 1, r + s + x + 1
        (1e4, 1e4 + 3.5),
        (1e6, 1e6 + 0.7),  # c - 1 - b < 0: the integrand's knee at log(1 - z)
        (1e10, 1e10 + 1e5),
        (1.6, 5e9),
    ]
    for omz in [1e-8, 1e-20]
] + [(1e4, 1e4 + 3.5, 1e-3), (1.6, 5e9, 1e-3), (1.6, 5e9, 1e-200), (1e10, 1e10 + 1e5, 1e-200)]


def _degenerate_value(b: float, c: float, omz: float) -> float:
    z = min(1.0 - omz, np.nextafter(1.0, 0.0))
    return float(log_hyp2f1_unit(b, c, z, log1mz=math.log(omz)))


@pytest.mark.parametrize(("b", "c", "omz"), DEGENERATE_CASES)
def test_log_hyp2f1_unit_at_degenerate_fit_parameters_against_mpmath(b, c, omz) -> None:
    with mp.workdps(40):
        ref = float(mp.log(mp.hyp2f1(1, mp.mpf(b), mp.mpf(c), 1 - mp.mpf(omz))))
    # The log Beta normaliser and the exponent at the mode are each about c - b in size.
    assert _degenerate_value(b, c, omz) == pytest.approx(ref, rel=1e-10, abs=1e-12)


def test_quadrature_of_degenerate_fit_parameters_is_not_a_cliff(monkeypatch) -> None:
    """The Euler integral at parameters in the millions takes a bounded number of points.

    With the exponent ``b u - (c-1) softplus(u)`` written as it stands, both terms are about
    1e9 at b = 1e8 and their rounding noise (1e-7) kept the adaptive quadrature bisecting to
    its cap of 500,000 intervals: 23 million evaluations and seconds per value, on every
    likelihood evaluation of a Pareto/NBD fit of a tiny log.
    """
    import clvmodel.special.hypergeometric as special

    points = []
    inner = special.logconcave_integral

    def counting(logf, *args, **kwargs):
        def counted(u, rows):
            points.append(u.size)
            return logf(u, rows)

        return inner(counted, *args, **kwargs)

    monkeypatch.setattr(special, "logconcave_integral", counting)
    used = 0
    for b, c, omz in DEGENERATE_CASES:
        points.clear()
        _degenerate_value(b, c, omz)
        assert sum(points) < 50_000, (b, c, omz, sum(points))
        used += sum(points)
    assert used > 0  # the quadrature counted is the one log_hyp2f1 calls


# E_p[(1 - (1 + κp)^-m) / p], p ~ Beta(a, b), at the posteriors of degenerate MBG/NBD fits
# (a and b in the billions): (a, b, m, κ).
HUGE_BETA_CASES = [
    # The fuzz example (tests/test_fuzz.py, transactions to CLV): a 25-row log whose MBG/NBD
    # fit reached a = 1.02e10, b + x + 1 = 5.5e9, r + x = 41238; one CLV discounting step.
    (10218631844.420824, 5521798053.623933, 41238.081658425435, 1.6003685371502138e-05),
    (1e9, 5e9, 1.5, 1.0),
    (1e8, 1e10, 2.0, 0.5),
    (3.0, 1e10, 2.0, 1.0),  # p near 0: (b-1) log(1-p) of 1e10 p
    (1e10, 3.0, 2.0, 1.0),  # p near 1
    (1e10, 1e10, 2.0, 3.0),
    (1e9, 5e9, 1e6, 1.0),  # saturated: (1 + κp)^-m is e^-1.5e5 over the posterior
]


def _huge_beta_reference(a: float, b: float, m: float, k: float) -> float:
    """By Pfaff's transformation of the closed form, ``(a+b-1)/(a-1) [1 - 2F1(m, a-1;
    a+b-1; -κ)]`` (mpmath's series, for κ <= 1 and m moderate); saturated, E[1/p] =
    (a+b-1)/(a-1); otherwise mpmath's quadrature of the Beta density around its mode."""
    with mp.workdps(40):
        a_, b_, m_, k_ = (mp.mpf(v) for v in (a, b, m, k))
        if m > 1e5:
            return float((a_ + b_ - 1) / (a_ - 1))
        if k <= 1.0:
            return float((a_ + b_ - 1) / (a_ - 1) * (1 - mp.hyp2f1(m_, a_ - 1, a_ + b_ - 1, -k_)))
        log_b = mp.log(mp.beta(a_, b_))
        mode = (a_ - 1) / (a_ + b_ - 2)
        sd = mp.sqrt(a_ * b_ / ((a_ + b_) ** 2 * (a_ + b_ + 1)))

        def f(p):
            dens = mp.exp((a_ - 1) * mp.log(p) + (b_ - 1) * mp.log1p(-p) - log_b)
            return dens * (1 - (1 + k_ * p) ** (-m_)) / p

        return float(mp.quad(f, [mode + j * sd for j in range(-40, 41, 4)]))


@pytest.mark.parametrize(("a", "b", "m", "k"), HUGE_BETA_CASES)
def test_mean_until_death_at_huge_beta_parameters(monkeypatch, a, b, m, k) -> None:
    """Bounded work and 1e-10 relative accuracy at Beta posteriors with a, b up to 1e10.

    Written as ``a u + (b-1) log(1 - e^u)`` (``u = log p``) the exponent is about 1e10 with
    a rounding noise of 1e-6 that no quadrature rule resolves: 41 million integrand points
    (25 s) per value, which stalled the fuzz property above, and results only 2e-5
    accurate, from the difference of that exponent and log B(a, b).
    """
    import clvmodel.special.until_death as sp

    points = [0]
    inner = sp.logconcave_integral

    def counting(logf, *args, **kwargs):
        def counted(u, rows):
            points[0] += u.size
            assert points[0] < 50_000, f"more than 50,000 integrand points at {(a, b, m, k)}"
            return logf(u, rows)

        return inner(counted, *args, **kwargs)

    monkeypatch.setattr(sp, "logconcave_integral", counting)
    monkeypatch.setattr(sp, "SERIES_RATIO", -1.0)  # the integral, not the short-horizon series
    ours = float(sp._mean_until_death(a, np.array([b]), np.array([m]), np.array([k]))[0])
    assert ours == pytest.approx(_huge_beta_reference(a, b, m, k), rel=1e-10)
