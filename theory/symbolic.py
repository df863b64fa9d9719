"""sympy derivations of the zero-bias kernels and of the identities the numeric kernels rely on.

The paper's psi_d, psi_l (Eq. 7) for x ~ N(0, s^2 I) depend on w, w' only through the 2-D plane
they span. In polar coordinates (R, phi) of that plane, with w along phi = 0 and w' at angle theta,
both units are active for phi in (theta - pi/2, pi/2) and the radial law has density R exp(-R^2/2):

    psi_d = (pi - theta) / (2 pi),   psi_l = s^2 |w||w'| g(theta) / (2 pi),
    g(theta) = sin theta + (pi - theta) cos theta           (docs/math.md sec. 1).

:data:`IDENTITIES` maps a name to a function returning ``(lhs, rhs)`` sympy expressions that must
be equal; :func:`verify` checks one (``simplify(lhs - rhs) == 0``), :func:`verify_all` all of them.
They cover the two derivations above, g'(theta) = -(pi - theta) sin theta, the limits at theta = 0
and pi, the series of g near pi used by ``kernels.arccos_g``, the 1-D Stein identity, the relu
moments G(t) = t Phi(t) + phi(t) and (1 + a^2) Phi(a) + a phi(a) (the self term of psi_l), the
quadratic forms used to evaluate phi2 near rho = +-1, the origin case of Phi2, the asymptotic
series of 1 - x m(x) (Mills ratio m) used for G in the lower tail, and Lemma 4's zero-bias
constant C0(theta) -> 1/2 as theta -> 0 (docs/math.md sec. 2).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import sympy as sp

from luckbench.errors import InputError

__all__ = ["IDENTITIES", "zero_bias_psi_d", "zero_bias_psi_l", "arccos_g", "verify", "verify_all"]

theta = sp.Symbol("theta", positive=True)  # angle between w and w', in (0, pi)
R, phi = sp.symbols("R phi", positive=True)  # polar coordinates in span(w, w')
s, n1, n2 = sp.symbols("s n1 n2", positive=True)  # input scale sigma and the norms |w|, |w'|
z, a, t, h, k, rho = sp.symbols("z a t h k rho", real=True)
eps = sp.Symbol("epsilon", positive=True)

_density = R * sp.exp(-R**2 / 2) / (2 * sp.pi)  # standard 2-D Gaussian in polar coordinates (with Jacobian R)


def _std_cdf(x):
    return (1 + sp.erf(x / sp.sqrt(2))) / 2


def _pdf(x):
    return sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


def _plane_integral(integrand):
    """Integrate ``integrand * density`` over R > 0 and the active wedge theta - pi/2 < phi < pi/2."""
    radial = sp.integrate(integrand * _density, (R, 0, sp.oo))
    return sp.simplify(sp.integrate(radial, (phi, theta - sp.pi / 2, sp.pi / 2)))


def arccos_g(th=theta):
    """g(theta) = sin theta + (pi - theta) cos theta, the degree-1 arc-cosine kernel."""
    return sp.sin(th) + (sp.pi - th) * sp.cos(th)


@lru_cache(maxsize=None)
def zero_bias_psi_d():
    """psi_d derived by integrating the indicator of the active wedge: returns the sympy expression."""
    return _plane_integral(sp.Integer(1))


@lru_cache(maxsize=None)
def zero_bias_psi_l():
    """psi_l derived by integrating relu(w.x) relu(w'.x) = s^2 n1 n2 R^2 cos(phi) cos(phi - theta)."""
    return _plane_integral(s**2 * n1 * n2 * R**2 * sp.cos(phi) * sp.cos(phi - theta))


def _g_series(terms: int = 6):
    """sum_k (-1)^(k+1) 2k eps^(2k+1) / (2k+1)!, the series of g(pi - eps) used near pi."""
    return sum((-1) ** (kk + 1) * 2 * kk * eps ** (2 * kk + 1) / sp.factorial(2 * kk + 1) for kk in range(1, terms + 1))


def _mills_tail_series(terms: int = 6):
    """1 - x m(x) at x -> oo (m = Mills ratio) against sum_k (-1)^(k+1) (2k-1)!! / x^(2k) (kernels._g_tail)."""
    x = sp.Symbol("x", positive=True)
    mills = sp.sqrt(sp.pi / 2) * sp.exp(x**2 / 2) * sp.erfc(x / sp.sqrt(2))
    series = sp.series(1 - x * mills, x, sp.oo, 2 * terms + 2).removeO()
    expected = sum((-1) ** (kk + 1) * sp.factorial2(2 * kk - 1) / x ** (2 * kk) for kk in range(1, terms + 1))
    return series, expected


def _c0_limit():
    """Lemma 4, zero bias: C0(theta) = (pi - g) / (g 4 sin^2(theta/2)) tends to 1/2 as theta -> 0."""
    c0 = (sp.pi - arccos_g()) / (arccos_g() * 4 * sp.sin(theta / 2) ** 2)
    return sp.limit(c0, theta, 0, "+"), sp.Rational(1, 2)


IDENTITIES: dict[str, Callable[[], tuple]] = {
    "psi_d_zero_bias": lambda: (zero_bias_psi_d(), (sp.pi - theta) / (2 * sp.pi)),
    "psi_l_zero_bias": lambda: (zero_bias_psi_l(), s**2 * n1 * n2 * arccos_g() / (2 * sp.pi)),
    "g_derivative": lambda: (sp.diff(arccos_g(), theta), -(sp.pi - theta) * sp.sin(theta)),
    "g_at_0": lambda: (arccos_g(sp.Integer(0)), sp.pi),
    "g_at_pi": lambda: (sp.limit(arccos_g(), theta, sp.pi), sp.Integer(0)),
    "g_derivative_at_0": lambda: (sp.diff(arccos_g(), theta).subs(theta, 0), sp.Integer(0)),
    "g_series_near_pi": lambda: (sp.series(arccos_g(sp.pi - eps), eps, 0, 14).removeO(), _g_series()),
    "psi_d_limits": lambda: (
        sp.Matrix([((sp.pi - theta) / (2 * sp.pi)).subs(theta, 0), ((sp.pi - theta) / (2 * sp.pi)).subs(theta, sp.pi)]),
        sp.Matrix([sp.Rational(1, 2), 0]),
    ),
    # Stein in 1-D: E[Z f(Z)] = E[f'(Z)] with f(z) = (z + a)_+, i.e. int_{-a}^oo z (z + a) phi = Phi(a)
    "stein_1d": lambda: (sp.integrate(z * (z + a) * _pdf(z), (z, -a, sp.oo)), _std_cdf(a)),
    # G(t) = E[(Z + t)_+] = t Phi(t) + phi(t) and G'(t) = Phi(t)
    "relu_mean": lambda: (sp.integrate((z + t) * _pdf(z), (z, -t, sp.oo)), t * _std_cdf(t) + _pdf(t)),
    "relu_mean_derivative": lambda: (sp.diff(t * _std_cdf(t) + _pdf(t), t), _std_cdf(t)),
    # self term: E[(Z + a)_+^2] = (1 + a^2) Phi(a) + a phi(a)  (psi_l(w~, w~) / |omega|^2)
    "self_term": lambda: (sp.integrate((z + a) ** 2 * _pdf(z), (z, -a, sp.oo)), (1 + a**2) * _std_cdf(a) + a * _pdf(a)),
    # origin of Owen's form: Phi2(0, 0; rho) = 1/4 + arcsin(rho)/(2 pi) = (pi - theta)/(2 pi), theta = arccos(rho)
    "phi2_origin": lambda: (
        (sp.Rational(1, 4) + sp.asin(rho) / (2 * sp.pi)).rewrite(sp.acos),
        (sp.pi - sp.acos(rho)) / (2 * sp.pi),
    ),
    "quadratic_form_rho_near_1": lambda: (h**2 - 2 * rho * h * k + k**2, (h - k) ** 2 + 2 * (1 - rho) * h * k),
    "quadratic_form_rho_near_minus_1": lambda: (h**2 - 2 * rho * h * k + k**2, (h + k) ** 2 - 2 * (1 + rho) * h * k),
    "lemma4_c0_limit": _c0_limit,
    "mills_tail_series": _mills_tail_series,
}


def verify(name: str) -> bool:
    """True when identity ``name`` holds symbolically (``simplify(lhs - rhs)`` is zero)."""
    if name not in IDENTITIES:
        raise InputError(f"name: unknown identity {name!r}; known: {', '.join(IDENTITIES)}")
    lhs, rhs = IDENTITIES[name]()
    diffs = (lhs - rhs) if isinstance(lhs, sp.MatrixBase) else [lhs - rhs]
    return all(sp.simplify(sp.expand(sp.sympify(e).rewrite(sp.erf))) == 0 for e in diffs)


def verify_all() -> dict[str, bool]:
    """Every identity in :data:`IDENTITIES` mapped to its verification result."""
    return {name: verify(name) for name in IDENTITIES}
