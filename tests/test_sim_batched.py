"""Seed-batched Theorem 5 dynamics (luckbench.sim.batched) against the per-seed integrations."""
import json

import numpy as np
import pytest

from luckbench.sim import batched, protocol, thm5

SEEDS = 3


def _both(teacher=(5, 3, 4), **kw):
    cfg = thm5.Thm5Config(teacher=teacher, node_multi=2, seeds=SEEDS, constants_points=0, **kw)
    return thm5.simulate_batched(cfg, range(SEEDS)), [thm5.simulate(cfg, i) for i in range(SEEDS)]


def _max_diff(batch, loop) -> float:
    return max(max(np.abs(b.w - s.w).max(), np.abs(b.v - s.v).max()) for (_, b), (_, s) in zip(batch, loop))


@pytest.mark.parametrize("kw", [
    dict(iters=30, batch=16, snapshot_every=10, mode="code"),  # the authors' matrix version (v4 Sec. 4.2)
    dict(iters=30, batch=16, snapshot_every=10, mode="paper", top_bias=None),
    dict(iters=20, snapshot_every=10, mode="paper"),  # exact expectations, biased closed forms
    dict(iters=20, snapshot_every=10, mode="code", bias=None, top_bias=None),  # arc-cosine forms
    dict(iters=20, snapshot_every=10, inputs="uniform", mc_samples=200),  # fixed Monte Carlo sample
])
def test_batched_discrete_iteration_reproduces_every_seed_to_float_precision(kw):
    batch, loop = _both(**kw)
    assert _max_diff(batch, loop) < 1e-13
    for (dyn_b, tb), (dyn_s, ts) in zip(batch, loop):  # same teachers, same snapshot times
        np.testing.assert_array_equal(dyn_b.w_star, dyn_s.w_star)
        np.testing.assert_array_equal(tb.iterations, ts.iterations)
    # the seeds differ from one another (a batch that mixed seeds up would not pass the check above)
    assert np.abs(batch[0][1].w[-1] - batch[1][1].w[-1]).max() > 1e-3


@pytest.mark.parametrize("method", ["RK45", "KronBDF"])
def test_batched_flow_agrees_with_per_seed_flows_to_solver_tolerance(method):
    small = dict(teacher=(3, 2, 2), t_end=1.0, n_times=2, method=method)
    batch, loop = _both(rtol=1e-9, atol=1e-12, **small)
    assert _max_diff(batch, loop) < 1e-6
    loose, _ = _both(rtol=1e-3, atol=1e-6, **small)
    assert _max_diff(loose, loop) > _max_diff(batch, loop)  # the agreement is the solver's, not by construction


def test_jacobian_blocks_are_the_per_seed_blocks():
    cfg = thm5.Thm5Config(teacher=(5, 3, 4), node_multi=2, seeds=SEEDS, t_end=1.0, constants_points=0)
    problems = [thm5.problem(cfg, np.random.default_rng([0, i])) for i in range(SEEDS)]
    bdyn = batched.BatchedDynamics([p[0] for p in problems])
    y = bdyn.pack(np.stack([p[1] for p in problems]), np.stack([p[2] for p in problems]))
    blocks = bdyn.jacobian_blocks(0.0, y)
    for s, (dyn, w0, v0) in enumerate(problems):
        (h, kd), (l, kc) = dyn.jacobian_blocks(0.0, dyn.pack(w0, v0))
        np.testing.assert_allclose(blocks[s][0], h, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(blocks[SEEDS + s][0], l, rtol=1e-13, atol=1e-15)
        assert (blocks[s][1], blocks[SEEDS + s][1]) == (kd, kc)
    np.testing.assert_allclose(bdyn.rhs(0.0, y)[: 3 * 6 * 6].reshape(3, 6, 6)[1],
                               problems[1][0].rhs(0.0, problems[1][0].pack(*problems[1][1:]))[:36].reshape(6, 6),
                               rtol=1e-12, atol=1e-14)


def test_seed_grouping_does_not_change_a_discrete_run():
    cfg = thm5.Thm5Config(teacher=(5, 3, 4), node_multi=2, seeds=4, iters=20, batch=8, snapshot_every=10,
                          constants_points=0)
    one, two = thm5.run(cfg, workers=1), thm5.run(cfg, workers=2)
    np.testing.assert_allclose(one["v_row_norm"].values, two["v_row_norm"].values, rtol=0, atol=1e-14)
    assert one.attrs["seed"] == 0 and json.loads(one.attrs["config"])["node_multi"] == 2  # run() says what it ran


def test_protocol_cell_batched_equals_per_seed_loop():
    cfg = protocol.ProtocolConfig(teacher=(4, 3, 2), node_multis=(2,), alpha_ws=(1.0,), alpha_vs=(0.3,), seeds=3,
                                  iters=30, snapshot_every=10, batch=16)
    np.testing.assert_allclose(protocol.cell_row_norms((cfg, 2, 0), batched=True),
                               protocol.cell_row_norms((cfg, 2, 0), batched=False), rtol=0, atol=1e-13)


def test_mismatched_seeds_cannot_be_batched():
    a = thm5.problem(thm5.Thm5Config(teacher=(5, 3, 4), node_multi=2), np.random.default_rng(0))[0]
    b = thm5.problem(thm5.Thm5Config(teacher=(5, 3, 4), node_multi=3), np.random.default_rng(0))[0]
    with pytest.raises(Exception, match="same sizes"):
        batched.BatchedDynamics([a, b])


@pytest.mark.parametrize("inputs", ["gaussian", "uniform", "laplace"])
def test_minibatches_drawn_ahead_are_the_per_step_draws(monkeypatch, inputs):
    from luckbench.datasets.samplers import SAMPLERS
    from luckbench.sim import integrate

    batch, dim, steps = 4, 3, 7
    monkeypatch.setattr(batched, "DRAW_BLOCK_BYTES", 2 * 8 * 2 * batch * (dim + 1))  # blocks of 2 steps, last one short
    ahead = batched.minibatch_kernels([np.random.default_rng([5, i]) for i in range(2)], batch, dim, True,
                                      SAMPLERS[inputs], steps)
    per_seed = [integrate.batch_kernels(np.random.default_rng([5, i]), batch, dim, True, SAMPLERS[inputs])
                for i in range(2)]
    for _ in range(steps):
        np.testing.assert_array_equal(ahead().x, np.stack([k().x for k in per_seed]))
    with pytest.raises(StopIteration):  # exactly `steps` mini-batches are drawn
        ahead()


def test_float32_iteration_stays_within_float32_rounding_of_float64():
    kw = dict(teacher=(5, 3, 4), node_multi=2, seeds=SEEDS, constants_points=0, iters=30, batch=16,
              snapshot_every=10, mode="code")
    f64 = thm5.simulate_batched(thm5.Thm5Config(**kw), range(SEEDS))
    f32 = thm5.simulate_batched(thm5.Thm5Config(dtype="float32", **kw), range(SEEDS))
    assert all(t.w.dtype == np.float64 for _, t in f32)  # the diagnostics see float64 either way
    diff = _max_diff(f32, f64)
    assert 1e-9 < diff < 1e-4  # really computed in float32 (not float64), and only rounding apart


@pytest.mark.parametrize("kw", [dict(t_end=1.0), dict(iters=10, batch=0), dict(iters=10, batch=8, gradient="exact")])
def test_float32_is_refused_outside_the_minibatch_iteration(kw):
    from luckbench.errors import InputError

    with pytest.raises(InputError, match="--dtype float32"):
        thm5.Thm5Config(teacher=(5, 3, 4), dtype="float32", **kw)


def test_per_seed_integration_refuses_float32():
    from luckbench.errors import InputError

    cfg = thm5.Thm5Config(teacher=(5, 3, 4), iters=10, batch=8, dtype="float32")
    with pytest.raises(InputError, match="float64 on the CPU only"):
        thm5.simulate(cfg, 0)


def _minibatch_run(cfg, device):
    """The seed-batched mini-batch iteration of ``cfg`` with its velocities evaluated by torch on ``device``
    (None: numpy), built from the module's parts as :func:`thm5.simulate_batched` builds it."""
    from luckbench.datasets.samplers import gaussian_sampler
    from luckbench.sim import integrate

    rngs = [np.random.default_rng([cfg.seed, i]) for i in range(cfg.seeds)]
    dyns, w0s, v0s = zip(*(thm5.problem(cfg, rng) for rng in rngs))
    bdyn = batched.BatchedDynamics(dyns, cfg.dtype, device)
    kernels = batched.minibatch_kernels(rngs, cfg.batch, cfg.teacher[0], True, gaussian_sampler, cfg.steps,
                                        cfg.dtype, device)
    return integrate.iterate(bdyn, np.stack(w0s), np.stack(v0s), eta=cfg.lr, iters=cfg.steps, snapshot_every=10,
                             project=False, kernels=kernels)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_evaluation_of_the_minibatch_iteration_matches_numpy(dtype):
    # the code path of --device cuda, run by torch on the CPU (the GPU check compares it on a GPU)
    cfg = thm5.Thm5Config(teacher=(5, 3, 4), node_multi=2, seeds=SEEDS, iters=30, batch=16, snapshot_every=10,
                          mode="code", constants_points=0, dtype=dtype)
    with_numpy, with_torch = _minibatch_run(cfg, None), _minibatch_run(cfg, "cpu")
    assert with_torch.w.dtype == np.dtype(dtype)
    tol = 1e-12 if dtype == "float64" else 1e-4
    np.testing.assert_allclose(with_torch.w, with_numpy.w, rtol=0, atol=tol)
    np.testing.assert_allclose(with_torch.v, with_numpy.v, rtol=0, atol=tol)
    assert np.abs(with_numpy.v[-1] - with_numpy.v[0]).max() > 1e-2  # the run moved: the agreement is not trivial


def test_torch_evaluation_of_a_fixed_sample_kernel_matches_numpy():
    cfg = thm5.Thm5Config(teacher=(5, 3, 4), node_multi=2, inputs="laplace", mc_samples=50)
    problems = [thm5.problem(cfg, np.random.default_rng([1, i])) for i in range(SEEDS)]
    w, v = np.stack([p[1] for p in problems]), np.stack([p[2] for p in problems])
    dyns = [p[0] for p in problems]
    for a, b in zip(batched.BatchedDynamics(dyns).velocity(w, v, project=False),
                    batched.BatchedDynamics(dyns, device="cpu").velocity(w, v, project=False)):
        assert isinstance(b, np.ndarray)  # handed back to the host
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14)


def test_device_cuda_is_refused_without_a_gpu_or_outside_the_minibatch_iteration(monkeypatch):
    from luckbench.errors import InputError
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="no CUDA device here"):
        thm5.Thm5Config(teacher=(5, 3, 4), iters=10, batch=8, device="cuda")
    with pytest.raises(InputError, match="--device cuda: only the seed-batched"):
        thm5.Thm5Config(teacher=(5, 3, 4), t_end=1.0, device="cuda")
