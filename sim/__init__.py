"""luckbench.sim: the Theorem 4 / Theorem 5 dynamics, integrated with SciPy.

Modules: ``teachers`` (teachers and initial students, whitened augmented rows), ``kernel`` (closed-form
and Monte Carlo moments), ``dynamics`` (right-hand sides), ``integrate`` (solve_ivp and the discrete
iteration), ``stiff`` (KronBDF), ``diagnostics``, ``parallel``, and the experiments ``thm4``, ``thm5``,
``protocol`` (v4 Sec. 4.2) and ``overparam``. Rows are nodes throughout (docs/math.md uses columns).
"""
