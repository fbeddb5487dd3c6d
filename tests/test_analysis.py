"""neuroplast.analysis: each report statistic against an independent computation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from neuroplast.analysis import crossing, gaussian_kde, linear_fit, log_sd_ratio
from neuroplast.errors import NeuroplastError


def test_linear_fit_matches_numpy_polyfit():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=12), rng.normal(size=12)
    slope, intercept = linear_fit(x, y)
    expected_slope, expected_intercept = np.polyfit(x, y, 1)
    assert slope == pytest.approx(expected_slope, rel=1e-12)
    assert intercept == pytest.approx(expected_intercept, rel=1e-12, abs=1e-12)
    assert linear_fit(np.ones(5), y[:5]) == (None, None)  # constant Δ⟨H⟩: no slope
    assert linear_fit([1.0], [2.0]) == (None, None)


def test_crossing_interpolates_the_first_segment_that_reaches_the_level():
    sizes, accuracy = [100, 400, 200, 300], [0.90, 0.98, 0.94, 0.96]  # unsorted on purpose
    assert crossing(sizes, accuracy, 0.95) == pytest.approx(250.0)  # between (200, .94), (300, .96)
    assert crossing(sizes, accuracy, 0.96) == pytest.approx(300.0)  # exactly at a point
    assert crossing(sizes, accuracy, 0.85) == 100.0  # the smallest size already reaches it
    assert crossing(sizes, accuracy, 0.99) is None  # never reached: no extrapolation
    # a dip after the first crossing does not matter: the smallest size reaching it counts
    assert crossing([1, 2, 3, 4], [0.5, 1.0, 0.5, 1.0], 0.75) == pytest.approx(1.5)


def test_gaussian_kde_is_the_sum_of_normal_densities_with_silverman_bandwidth():
    values = np.array([0.1, 0.4, 0.45, 1.3, 2.0])
    grid, pdf = gaussian_kde(values, points=400)
    h = 1.06 * values.std(ddof=1) * len(values) ** -0.2
    t = grid[123]
    expected = sum(math.exp(-0.5 * ((t - v) / h) ** 2) for v in values) / (
        len(values) * h * math.sqrt(2 * math.pi))
    assert pdf[123] == pytest.approx(expected, rel=1e-12)
    assert grid[0] == pytest.approx(values.min() - 3 * h)
    assert np.trapezoid(pdf, grid) == pytest.approx(1.0, abs=0.01)  # a density (±3h tails)
    assert gaussian_kde([1.0, 1.0, 1.0]) is None and gaussian_kde([2.0]) is None


def test_log_sd_ratio_standard_error_matches_simulation():
    """The delta-method se √((1 − ρ²)/(n − 1)) against the spread of the estimate over many
    simulated paired samples (n = 30, ρ = 0.6, true ratio 2)."""
    rng = np.random.default_rng(7)
    n, rho, estimates, ses = 30, 0.6, [], []
    cov = [[4.0, rho * 2.0], [rho * 2.0, 1.0]]
    for _ in range(3000):
        a, b = rng.multivariate_normal([0.0, 0.0], cov, size=n).T
        s = log_sd_ratio(a, b)
        estimates.append(s.mean)
        ses.append(s.se)
    assert np.mean(estimates) == pytest.approx(math.log(2.0), abs=0.01)
    assert np.std(estimates) == pytest.approx(math.sqrt((1 - rho**2) / (n - 1)), rel=0.1)
    assert np.mean(ses) == pytest.approx(np.std(estimates), rel=0.1)


def test_log_sd_ratio_edge_cases():
    assert log_sd_ratio([1, 2], [3, 4]) is None  # too few pairs
    assert log_sd_ratio([1, 1, 1], [1, 2, 3]) is None  # no spread: log 0
    exact = log_sd_ratio([0.0, 2.0, 4.0, 6.0], [1.0, 2.0, 3.0, 4.0])
    assert exact.mean == pytest.approx(math.log(2.0)) and exact.se == 0.0  # ρ = 1
    with pytest.raises(ValueError, match="paired"):
        log_sd_ratio([1, 2, 3], [1, 2])


def test_sign_test_against_enumerating_every_outcome():
    """Independent: enumerate all 2^n win/loss sequences and count those at least as uneven."""
    import itertools

    from neuroplast.analysis import sign_test

    for wins, losses in [(8, 2), (5, 5), (0, 7), (12, 3), (1, 0)]:
        n = wins + losses
        seen = abs(wins - losses)
        uneven = sum(abs(2 * sum(bits) - n) >= seen
                     for bits in itertools.product((0, 1), repeat=n))
        assert sign_test(wins, losses) == pytest.approx(uneven / 2**n)
    assert sign_test(8, 2) == pytest.approx(112 / 1024)  # 2·(45 + 10 + 1)/2¹⁰
    assert sign_test(0, 0) == 1.0


def test_sign_test_refuses_negative_counts():
    from neuroplast.analysis import sign_test
    from neuroplast.errors import NeuroplastError

    with pytest.raises(NeuroplastError, match="non-negative"):
        sign_test(-1, 3)


def test_two_sided_p_against_the_normal_table():
    from neuroplast.analysis import two_sided_p

    # printed values of a standard normal table: P(|Z| ≥ 1.96) = 0.05, P(|Z| ≥ 2.576) = 0.01
    assert two_sided_p(1.959964) == pytest.approx(0.05, abs=1e-6)
    assert two_sided_p(-2.575829) == pytest.approx(0.01, abs=1e-6)
    assert two_sided_p(0.0) == 1.0
    assert two_sided_p(math.inf) == 0.0
    with pytest.raises(NeuroplastError, match="NaN"):
        two_sided_p(math.nan)


def _t_tail_by_integration(z: float, dof: int) -> float:
    """1 − 2·∫₀^|z| of Student's t density (Simpson's rule on 20,001 points): independent of
    the closed-form series."""
    log_c = math.lgamma((dof + 1) / 2) - math.lgamma(dof / 2) - 0.5 * math.log(dof * math.pi)
    t = np.linspace(0.0, abs(z), 20_001)
    density = np.exp(log_c - (dof + 1) / 2 * np.log1p(t**2 / dof))
    h = t[1] - t[0]
    integral = h / 3 * (density[0] + density[-1] + 4 * density[1:-1:2].sum()
                        + 2 * density[2:-1:2].sum())
    return 1.0 - 2.0 * integral


@pytest.mark.parametrize("dof", [1, 2, 3, 4, 9, 10, 27])
def test_two_sided_t_p_against_integrating_the_density(dof):
    from neuroplast.analysis import two_sided_p

    for z in (0.3, 1.0, 2.0, 3.7, 6.0):
        assert two_sided_p(z, dof) == pytest.approx(_t_tail_by_integration(z, dof), abs=1e-9)
        assert two_sided_p(-z, dof) == two_sided_p(z, dof)
        assert two_sided_p(z, dof) > two_sided_p(z)  # t tails are wider than the normal's
    assert two_sided_p(math.inf, dof) == 0.0


def test_two_sided_t_p_against_printed_critical_values_and_refuses_bad_dof():
    from neuroplast.analysis import two_sided_p

    # t tables: t(9) 0.975 and 0.995 quantiles 2.262157, 3.249836; t(1) is Cauchy
    assert two_sided_p(2.262157, 9) == pytest.approx(0.05, abs=1e-6)
    assert two_sided_p(3.249836, 9) == pytest.approx(0.01, abs=1e-6)
    assert two_sided_p(1.0, 1) == pytest.approx(0.5)
    for bad in (0, 2.5, True):
        with pytest.raises(NeuroplastError, match="positive integer"):
            two_sided_p(2.0, bad)


def _holm_by_adjusted_p(p_values, alpha):
    """Holm through its adjusted p-values, max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎): an
    independent formulation of the step-down rule."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted, running = [0.0] * m, 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return [a <= alpha for a in adjusted]


def test_holm_rejects_the_textbook_example_and_matches_adjusted_p_values():
    from neuroplast.analysis import holm_rejections

    # 0.005 ≤ 0.05/4 and 0.01 ≤ 0.05/3 are rejected; 0.03 > 0.05/2 stops the procedure, so
    # 0.04 is kept although it is below 0.05/1
    assert holm_rejections([0.01, 0.04, 0.03, 0.005]) == [True, False, False, True]
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        p = (torch.rand(12, generator=generator) ** 4).tolist()  # many small p-values
        for alpha in (0.01, 0.05, 0.2):
            assert holm_rejections(p, alpha) == _holm_by_adjusted_p(p, alpha)
    assert holm_rejections([]) == []
    # ties at the boundary (m = 4, after 0.001 ≤ 0.05/4): both 0.02 face 0.05/3 first, so
    # neither is rejected; two 0.015 pass 0.05/3 and then 0.05/2, so both are
    assert holm_rejections([0.02, 0.001, 0.02, 0.5]) == [False, True, False, False]
    assert holm_rejections([0.015, 0.001, 0.015, 0.5]) == [True, True, True, False]


@pytest.mark.parametrize("bad", [dict(p_values=[0.2, 1.5]), dict(p_values=[0.1], alpha=0.0)])
def test_holm_refuses_what_is_not_a_p_value_or_level(bad):
    from neuroplast.analysis import holm_rejections

    with pytest.raises(NeuroplastError, match="must lie in"):
        holm_rejections(**bad)
