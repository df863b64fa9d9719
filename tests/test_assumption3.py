"""Assumption 3: eps_d, eps_l reference values (docs/math.md 3(ii)) and the ordered / "or" variants."""
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from scipy.special import ndtr
from scipy.stats import special_ortho_group

from luckbench.errors import InputError
from luckbench.theory import geometry
from luckbench.theory import assumption2 as a2
from luckbench.theory import assumption3 as a3
from luckbench.theory.checks import CheckSetup


@given(st.integers(2, 6), st.floats(0.1, 50.0), st.integers(0, 1000))
def test_orthogonal_zero_bias_exact(m, scale, seed):
    rot = special_ortho_group.rvs(8, random_state=seed)
    rows = scale * rot[:m]
    ov = a3.teacher_overlaps(rows, bias=False)
    assert ov["d"].eps == pytest.approx(0.5, abs=1e-12)
    assert ov["l"].eps == pytest.approx(1 / math.pi, abs=1e-12)
    assert ov["d"].mean_ratio == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize("m, expected", [(3, 0.333), (5, 0.420), (10, 0.465), (50, 0.494)])
def test_regular_simplex_bound(m, expected):
    simplex = np.eye(m) - 1.0 / m  # rows: a regular simplex, pairwise cos = -1/(m-1)
    eps = a3.teacher_overlaps(simplex, bias=False)["d"].eps
    assert eps == pytest.approx(math.acos(1 / (m - 1)) / math.pi, rel=1e-10)
    assert eps == pytest.approx(expected, abs=6e-4)


@given(st.floats(-3.0, 1.0))
def test_orthogonal_with_bias_is_phi(a):
    rows = np.concatenate([np.eye(4)[:3], np.full((3, 1), a)], axis=1)
    assert a3.teacher_overlaps(rows, bias=True)["d"].eps == pytest.approx(ndtr(a), rel=1e-9)


def test_ordered_and_or_variants():
    g = np.array([[1.0, 0.3], [0.3, 0.5]])
    ov = a3.overlap_ratios(g)
    assert ov.eps == pytest.approx(0.6)  # 0.3 / 0.5, the row's own diagonal
    assert ov.eps_or == pytest.approx(0.3)  # 0.3 / max(1, 0.5)
    assert ov.mean_ratio == pytest.approx((0.3 + 0.6) / 2)
    assert a3.overlap_ratios(np.ones((1, 1))).eps == 0.0


def _medians(m, seeds):
    eps = np.array([[o.eps for o in a3.teacher_overlaps(geometry.teacher_rows((20, m, 1), bias=True, seed=s),
                                                        bias=True).values()] for s in range(seeds)])
    return np.median(eps, axis=0), eps


def test_paper_scheme_m10():
    (med_d, med_l), eps = _medians(10, 20)
    assert 0.612 <= med_d <= 0.796  # docs/math.md: median 0.670, range [0.612, 0.796]
    assert 0.55 <= med_l <= 0.70  # docs/math.md: 0.614
    rows = geometry.teacher_rows((20, 10, 1), bias=True, seed=0)
    assert a3.teacher_overlaps(rows, bias=True)["d"].mean_ratio == pytest.approx(0.50, abs=0.03)


def test_paper_scheme_m50():
    (med_d, med_l), _ = _medians(50, 8)
    assert 0.700 <= med_d <= 0.824  # docs/math.md: median 0.746, range [0.700, 0.824]
    assert 0.673 <= med_l <= 0.866  # docs/math.md: median 0.751, range [0.673, 0.866]


def test_check():
    v = a3.check(CheckSetup(bias=False))
    assert v.kind == "assumption" and v.holds is False  # eps_d ~ 0.65 > 1/(m-1)
    assert v.bound == pytest.approx(1 / 9) and v.value == v.details["eps_d"]
    assert "ordered" in v.details["form"]
    p = a3.check(CheckSetup(bias=False, paper_mode=True))
    assert p.value == p.details["eps_d_or"] and "or" in p.details["form"]


def test_bad_input():
    with pytest.raises(InputError, match="w_star"):
        a3.teacher_overlaps([[1.0, np.inf]], bias=False)
    with pytest.raises(InputError, match="w_star"):
        a3.teacher_overlaps(np.zeros((2, 3)), bias=False)
