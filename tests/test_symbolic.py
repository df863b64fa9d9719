"""sympy derivations (theory/symbolic.py): every identity holds, a false one is caught, and the
symbolic zero-bias kernels agree numerically with theory/kernels.py."""
import math

import numpy as np
import pytest
import sympy as sp

from luckbench.errors import InputError
from luckbench.theory import kernels as K
from luckbench.theory import symbolic as S


def test_every_identity_holds():
    results = S.verify_all()
    assert set(results) == set(S.IDENTITIES) and len(results) >= 15
    assert [name for name, ok in results.items() if ok is not True] == []


def test_a_false_identity_is_rejected(monkeypatch):
    # the printed-paper style slip g'(theta) = -theta sin(theta) must not verify
    monkeypatch.setitem(S.IDENTITIES, "wrong", lambda: (sp.diff(S.arccos_g(), S.theta), -S.theta * sp.sin(S.theta)))
    assert S.verify("wrong") is False


def test_unknown_identity_is_an_input_error():
    with pytest.raises(InputError, match="name"):
        S.verify("no_such_identity")


@pytest.mark.parametrize("deg", [0.5, 30.0, 90.0, 135.0, 179.5])
def test_symbolic_zero_bias_forms_match_numeric_kernels(deg):
    th = math.radians(deg)
    w1 = np.array([[2.0, 0.0]])
    w2 = np.array([[0.5 * math.cos(th), 0.5 * math.sin(th)]])
    psi_d = sp.lambdify(S.theta, S.zero_bias_psi_d())(th)
    psi_l = sp.lambdify((S.theta, S.s, S.n1, S.n2), S.zero_bias_psi_l())(th, 3.0, 2.0, 0.5)
    assert K.psi_d(w1, w2)[0, 0] == pytest.approx(psi_d, rel=1e-13)
    assert K.psi_l(w1, w2, sigma=3.0)[0, 0] == pytest.approx(psi_l, rel=1e-11)
