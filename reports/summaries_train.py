"""Empirical rows from teacher-student training runs (result_kind ``train``), judged over seeds.

Runs are grouped by their configuration without the seed (one group = one protocol, its runs the
seeds); ablations pair runs that differ in one setting by seed. Every judgement is one number per
seed (:mod:`luckbench.reports.stats`), and each row's text starts with the protocol it used.
Variables read: ``rho_bar(epoch, layer)``, ``mean_rank(epoch, layer)``, ``winner(layer,
teacher_node)``, ``beta_star`` / ``h_star(snapshot, layer, ...)``, ``n_teacher(layer)``,
``student_acc`` / ``teacher_acc(epoch)`` (``luckbench.empirical.train_result``).
"""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

from luckbench.reports import stats
from luckbench.reports.judgement import (INCONCLUSIVE, NOT_RUN, Judgement, Result, combine, fmt, join, var)

EARLY_RANK_MAX = 0.25  # "winners rank early": r-bar after the first epoch below this in every layer
_NOT_PROTOCOL = {"seed", "out", "device", "threads", "workers", "progress", "resume", "overwrite", "max_memory"}


def protocol_key(cfg: dict, *drop: str) -> str:
    """The configuration without the seed (and ``drop``) as JSON: runs of one protocol share it."""
    return json.dumps({k: v for k, v in cfg.items() if k not in _NOT_PROTOCOL and k not in drop}, sort_keys=True)


def _seed(res: Result) -> int:
    return int(res.config.get("seed", res.ds.attrs.get("seed", -1)))


def protocol(cfg: dict) -> str:
    """A protocol in a few words: preset, teacher, epochs, steps, and the settings ablations change."""
    keys = ("preset", "teacher", "width_mult", "bn", "finite", "epochs", "steps_per_epoch", "data")
    return ", ".join(f"{k} {cfg[k]}" for k in keys if k in cfg and cfg[k] not in (None, "", "gaussian"))


def groups(results: list[Result]) -> dict[str, list[Result]]:
    """Runs with one configuration apart from the seed: {configuration JSON: runs}."""
    out: dict[str, list[Result]] = defaultdict(list)
    for res in results:
        out[protocol_key(res.config)].append(res)
    return out


def _rho(res: Result) -> np.ndarray | None:
    rho = var(res.ds, "rho_bar")
    if rho is None or "epoch" not in rho.dims or rho.sizes["epoch"] < 2:
        return None
    values = rho.transpose("epoch", ...).values.astype(float)
    return values if np.isfinite(values[-1]).any() else None


def _per_seed(results: list[Result], statistic: Callable[[Result], float | None], label: str,
              eligible: Callable[[dict], bool] = lambda cfg: True) -> tuple[list[str], list[str], list[int], list[Path]]:
    """Judge ``statistic`` (one number per run, positive = claim) within each protocol group."""
    texts, verdicts, ns, paths = [], [], [], []
    for _, runs in groups(results).items():
        if not eligible(runs[0].config):
            continue
        values = {(_seed(r)): statistic(r) for r in runs}
        values = {s: v for s, v in values.items() if v is not None}
        if not values:
            continue
        verdict, text, n = stats.judge(list(values.values()), label)
        texts.append(f"[{protocol(runs[0].config)}; seeds {sorted(values)}] {text}: {verdict}")
        verdicts.append(verdict)
        ns.append(n)
        paths += [r.path for r in runs]
    return texts, verdicts, ns, paths


def _judged(rule: str, texts, verdicts, ns, paths, none: str) -> Judgement:
    if not verdicts:
        return Judgement(NOT_RUN, rule, measured=none)
    return Judgement(combine(verdicts), rule, measured=join(texts), n_seeds=min(ns), evidence=paths)


def _stream(cfg: dict) -> bool:
    return not cfg.get("finite")


def _growth(res: Result) -> float | None:
    rho = _rho(res)
    return None if rho is None else float(np.nanmean(rho[-1] - rho[0]))


def judge_growth(by_kind: dict) -> Judgement:
    rule = stats.rule("E1: the layer-mean rho-bar gain from initialisation (epoch 0) to the last epoch",
                      "each infinite-stream training protocol (every protocol judged; any fail fails)")
    return _judged(rule, *_per_seed(by_kind.get("train", []), _growth, "rho-bar gain", _stream),
                   none="needs training runs (`luckbench train`)")


def _lowest_lead(res: Result) -> float | None:
    rho = _rho(res)
    if rho is None or rho.shape[1] < 2:
        return None
    return float(rho[-1, 0] - np.nanmax(rho[-1, 1:]))


def judge_lowest_layer(by_kind: dict) -> Judgement:
    rule = stats.rule("E2: final rho-bar of layer 0 minus the best final rho-bar of the layers above",
                      "each infinite-stream training protocol")
    return _judged(rule, *_per_seed(by_kind.get("train", []), _lowest_lead, "layer-0 lead", _stream),
                   none="needs training runs with >= 2 hidden layers")


def _early_rank_margin(res: Result) -> float | None:
    rank = var(res.ds, "mean_rank")
    if rank is None or rank.sizes.get("epoch", 0) < 2:
        return None
    after_first = rank.transpose("epoch", ...).values[1].astype(float)
    return float(EARLY_RANK_MAX - np.nanmax(after_first)) if np.isfinite(after_first).any() else None


def judge_rank_early(by_kind: dict) -> Judgement:
    rule = stats.rule(f"E3: {EARLY_RANK_MAX} minus the worst layer's mean rank r-bar of the final winners "
                      "after epoch 1", "each infinite-stream training protocol")
    return _judged(rule, *_per_seed(by_kind.get("train", []), _early_rank_margin, "margin", _stream),
                   none="needs training runs over >= 1 epoch")


def _paired(results: list[Result], key: str) -> dict[str, dict[str, dict[int, Result]]]:
    """Runs differing only in ``key`` and the seed: {rest: {value JSON: {seed: run}}} (>= 2 values)."""
    out: dict[str, dict[str, dict[int, Result]]] = defaultdict(lambda: defaultdict(dict))
    for res in results:
        if key in res.config and _rho(res) is not None:
            out[protocol_key(res.config, key)][json.dumps(res.config[key])][_seed(res)] = res
    return {k: v for k, v in out.items() if len(v) >= 2}


def _final(res: Result) -> float:
    return float(np.nanmean(_rho(res)[-1]))


def _paired_texts(results, key, pairs: Callable[[str, dict], list[tuple[str, str, float, str]]],
                  value: Callable[[Result], float] = _final):
    """Per group, per (a, b, sign, label) of ``pairs(rest, by_value)``: sign * (value(a) - value(b)) by seed."""
    texts, verdicts, ns, paths = [], [], [], []
    for rest, by_value in _paired(results, key).items():
        for a, b, sign, label in pairs(rest, by_value):
            common = sorted(set(by_value[a]) & set(by_value[b]))
            if not common:
                continue
            diffs = [sign * (value(by_value[a][s]) - value(by_value[b][s])) for s in common]
            verdict, text, n = stats.judge(diffs, label)
            cfg = by_value[a][common[0]].config
            texts.append(f"[{protocol({k: v for k, v in cfg.items() if k != key})}; seeds {common}] {text}: {verdict}")
            verdicts.append(verdict)
            ns.append(n)
            paths += [by_value[v][s].path for v in (a, b) for s in common]
    return texts, verdicts, ns, paths


def teacher_size(cfg: dict) -> str | None:
    """The paper's size classes (Fig. 9a v2 / 10a v4): the CNN or >= 350 hidden teacher nodes
    (FC 50-75-100-125) is large, <= 70 (FC 10-15-20-25) small, in between unknown."""
    if str(cfg.get("kind", "")).lower() in ("cnn", "conv"):
        return "large"
    teacher = cfg.get("teacher")
    if not isinstance(teacher, list) or len(teacher) < 3:
        return None
    hidden = sum(int(w) for w in teacher[1:-1])
    return "large" if hidden >= 350 else "small" if hidden <= 70 else None


def judge_bn(by_kind: dict) -> Judgement:
    def pairs(rest, by_value):
        none = json.dumps("none")
        size = teacher_size(json.loads(rest))
        if none not in by_value or size is None:
            return []
        sign = 1.0 if size == "large" else -1.0
        return [(v, none, sign, f"{size} teacher: final rho-bar(bn {json.loads(v)}) - rho-bar(no BN)"
                 + (" (expected > 0)" if sign > 0 else ", negated (expected < 0)")) for v in by_value if v != none]

    rule = stats.rule("E4: the paired difference of final layer-mean rho-bar with and without BN (same seed), "
                      "signed by what the paper says (helps large teachers and the CNN, hurts small teachers)",
                      "training runs that differ only in --bn")
    return _judged(rule, *_paired_texts(by_kind.get("train", []), "bn", pairs),
                   none="needs training runs that differ only in --bn, with >= 1 common seed")


def judge_finite(by_kind: dict) -> Judgement:
    def pairs(rest, by_value):
        stream = [v for v in by_value if not json.loads(v)]
        return [(stream[0], v, 1.0, f"final rho-bar(stream) - rho-bar(finite {json.loads(v)})")
                for v in by_value if json.loads(v)] if stream else []

    rule = stats.rule("E5: the paired difference of final layer-mean rho-bar, infinite stream minus a finite set",
                      "training runs that differ only in --finite")
    return _judged(rule, *_paired_texts(by_kind.get("train", []), "finite", pairs),
                   none="needs training runs that differ only in --finite, with >= 1 common seed")


def _init_rho(res: Result) -> float:
    return float(np.nanmean(_rho(res)[0]))


def width_pairs(rest, by_value):
    widths = sorted(by_value, key=lambda v: float(json.loads(v)))
    return [(widths[-1], widths[0], 1.0, f"width x{json.loads(widths[-1])} minus x{json.loads(widths[0])}")]


def judge_overparam_training(by_kind: dict) -> tuple[list[str], list[str], list[int], list[Path], list[str]]:
    """E6 on the training ablation (v4: teacher 10-15-20-25, several multipliers, 32 seeds), and the
    luck signal: rho-bar at initialisation against width (texts only, the last list)."""
    train = by_kind.get("train", [])
    texts, verdicts, ns, paths = _paired_texts(train, "width_mult", width_pairs)
    luck = _paired_texts(train, "width_mult", width_pairs, value=_init_rho)[0]
    return texts, verdicts, ns, paths, [f"luck signal, rho-bar at init {t}" for t in luck]


def _diag_share(mat: np.ndarray) -> float:
    a = np.abs(mat)
    return float(np.trace(a) / a.sum()) if a.sum() > 0 else float("nan")


def identity_gain(res: Result, name: str) -> float | None:
    """Least over layers of the gain (last snapshot minus first) in the diagonal share sum|M_ii| / sum|M_ij|
    of the teacher-aligned m x m block of ``name`` (1 for the identity, about 1/m for no structure)."""
    m = var(res.ds, name)
    n_teacher = var(res.ds, "n_teacher")
    if m is None or n_teacher is None or "snapshot" not in m.dims or m.sizes["snapshot"] < 2:
        return None
    gains = []
    for layer in m["layer"].values:
        k = int(n_teacher.sel(layer=layer))
        first, last = (m.sel(layer=layer).isel(snapshot=i).values[:k, :k] for i in (0, -1))
        gains.append(_diag_share(last) - _diag_share(first))
    gains = [g for g in gains if np.isfinite(g)]
    return min(gains) if gains else None


def judge_identity(by_kind: dict) -> Judgement:
    rule = stats.rule("E11: the least per-layer gain, last snapshot minus first, of the diagonal share "
                      "sum|M_ii| / sum|M_ij| of the teacher-aligned beta* and of H* (identity: 1, none: ~1/m)",
                      "each infinite-stream training protocol storing beta*/H*")
    parts = [_per_seed(by_kind.get("train", []), lambda r, n=n: identity_gain(r, n), f"{n} diagonal-share gain",
                       _stream) for n in ("beta_star", "h_star")]
    texts, verdicts, ns, paths = (sum((p[i] for p in parts), []) for i in range(4))
    return _judged(rule, texts, verdicts, ns, paths, none="needs training runs that store beta_star / h_star")


def _deep_growth(res: Result) -> float | None:
    rho = _rho(res)
    if rho is None or rho.shape[1] < 2:
        return None
    return float(np.nanmin(rho[-1, 1:] - rho[0, 1:]))


def _distinct_winners(res: Result) -> str:
    w, n_teacher = var(res.ds, "winner"), var(res.ds, "n_teacher")
    if w is None or n_teacher is None:
        return ""
    shares = []
    for i, layer in enumerate(w["layer"].values[1:], start=1):
        k = int(n_teacher.values[i])
        shares.append(len(set(int(x) for x in w.sel(layer=layer).values[:k] if x >= 0)) / k)
    return ", ".join(f"L{i} {fmt(s)}" for i, s in enumerate(shares, start=1))


def judge_deep_layers(by_kind: dict) -> Judgement:
    train = by_kind.get("train", [])
    rule = stats.rule("E13 (Sec. 3.4 conjecture): the least rho-bar gain from initialisation over the hidden "
                      "layers above layer 0", "each infinite-stream training protocol with >= 2 hidden layers")
    j = _judged(rule, *_per_seed(train, _deep_growth, "least deep-layer gain", _stream),
                none="needs training runs with >= 2 hidden layers")
    shares = [f"{r.path.name}: {_distinct_winners(r)}" for r in train[:3] if _distinct_winners(r)]
    if shares:
        j.measured += " | share of distinct final winners per teacher node (1: one-to-one): " + "; ".join(shares)
    return j


def _convergence_lead(small: Result, large: Result) -> float | None:
    a, b = _rho(small), _rho(large)
    if a is None or b is None:
        return None
    k = min(len(a), len(b))
    return float(np.nanmean(a[1:k].mean(axis=1) - b[1:k].mean(axis=1)))


_SIZE_PAIRING = ("bn", "kind", "width_mult", "steps_per_epoch", "batch_size")


def judge_teacher_size(by_kind: dict) -> Judgement:
    rule = stats.rule("E12: the mean over the common epochs >= 1 of layer-mean rho-bar, small teacher "
                      "(FC 10-15-20-25) minus large teacher (FC 50-75-100-125), same seed, BN, student width "
                      "multiplier and steps per epoch",
                      "infinite-stream training runs of both sizes")
    by: dict[tuple, dict[str, dict[int, Result]]] = defaultdict(lambda: defaultdict(dict))
    for res in by_kind.get("train", []):
        size = teacher_size(res.config)
        if size and _stream(res.config) and _rho(res) is not None:
            by[tuple(json.dumps(res.config.get(k)) for k in _SIZE_PAIRING)][size][_seed(res)] = res
    texts, verdicts, ns, paths = [], [], [], []
    for setting, sizes in by.items():
        common = sorted(set(sizes["small"]) & set(sizes["large"]))
        leads = [_convergence_lead(sizes["small"][s], sizes["large"][s]) for s in common]
        leads = [x for x in leads if x is not None]
        if not leads:
            continue
        verdict, text, n = stats.judge(leads, "small minus large rho-bar")
        epochs = {size: sizes[size][common[0]].config.get("epochs") for size in ("small", "large")}
        same = ", ".join(f"{k} {json.loads(v)}" for k, v in zip(_SIZE_PAIRING, setting))
        texts.append(f"[{same}; epochs small {epochs['small']}, large {epochs['large']}; seeds {common}] "
                     f"{text}: {verdict}")
        verdicts.append(verdict)
        ns.append(n)
        paths += [sizes[z][s].path for z in ("small", "large") for s in common]
    return _judged(rule, texts, verdicts, ns, paths,
                   none="needs infinite-stream training runs of a small and a large teacher with common seeds")


def accuracies(ds) -> tuple[float, float] | None:
    """(teacher, student) final accuracies from ``teacher_acc(epoch)``, ``student_acc(epoch)``; None if absent/NaN."""
    if "teacher_acc" not in ds.variables or "student_acc" not in ds.variables:
        return None
    t, s = (np.asarray(ds[v].values, dtype=float).reshape(-1) for v in ("teacher_acc", "student_acc"))
    if not (np.isfinite(t).any() and np.isfinite(s).any()):
        return None
    return float(t[np.isfinite(t)][-1]), float(s[np.isfinite(s)][-1])


def _accuracy_lead(res: Result) -> float | None:
    acc = accuracies(res.ds)
    return None if acc is None else acc[1] - acc[0]


def judge_accuracy(by_kind: dict) -> Judgement:
    rule = stats.rule("E9: student minus teacher final test accuracy (real-data teacher: the digits stand-in, "
                      "or CIFAR-10 with --data-dir)", "each real-data training protocol")
    real = [r for r in by_kind.get("train", []) if accuracies(r.ds) is not None]
    return _judged(rule, *_per_seed(real, _accuracy_lead, "student - teacher accuracy"),
                   none="needs real-data runs (`luckbench train --preset digits-fc`, or cifar-fc with --data-dir)")


def judge_cifar(by_kind: dict) -> Judgement:
    """E14: on CIFAR-10, BN vs no BN (paired by seed) on the final mean rank r-bar (lower is better) and
    on the student's accuracy; ``not run`` without CIFAR-10 runs (they need a local CIFAR-10 folder)."""
    cifar = [r for r in by_kind.get("train", []) if r.config.get("data") == "cifar10"]
    rule = stats.rule("E14: BN minus no-BN (same seed) of the final student accuracy, and no-BN minus BN of the "
                      "final layer-mean r-bar", "CIFAR-10 runs (presets cifar-fc / cifar-cnn) differing only in --bn")

    def pairs(rest, by_value):
        none = json.dumps("none")
        return [(v, none, 1.0, f"accuracy, bn {json.loads(v)} - none") for v in by_value if v != none] \
            if none in by_value else []

    def rank_pairs(rest, by_value):
        return [(a, b, -1.0, "r-bar, none - bn" + label[len("accuracy, bn"):].split(" -")[0])
                for a, b, _, label in pairs(rest, by_value)]

    def final_acc(res):
        return (accuracies(res.ds) or (np.nan, np.nan))[1]

    def final_rank(res):
        return float(np.nanmean(res.ds["mean_rank"].values[-1])) if "mean_rank" in res.ds else np.nan

    if not cifar:
        return Judgement(NOT_RUN, rule, measured="no CIFAR-10 runs: they need a local CIFAR-10 folder "
                                                 "(`luckbench train --preset cifar-fc --data-dir DIR`)")
    acc = _paired_texts(cifar, "bn", pairs, value=final_acc)
    rank = _paired_texts(cifar, "bn", rank_pairs, value=final_rank)
    j = _judged(rule, *(a + b for a, b in zip(acc, rank)), none="CIFAR-10 runs, but no BN / no-BN pair by seed")
    if j.verdict_corrected == NOT_RUN:
        j.verdict_corrected = INCONCLUSIVE
    return j


def judge_overparam(by_kind: dict) -> Judgement:
    from luckbench.reports.summaries_sim import overparam_luck

    rule = stats.rule("E6 (v4 ablation): final layer-mean rho-bar of the widest student minus the narrowest "
                      "(--width-mult), same seed; the luck signal (rho-bar at initialisation by width) is reported",
                      "training runs that differ only in --width-mult")
    texts, verdicts, ns, paths, luck = judge_overparam_training(by_kind)
    j = _judged(rule, texts, verdicts, ns, paths, none="needs training runs that differ only in --width-mult")
    sims = [(r, overparam_luck(r.ds)) for r in by_kind.get("overparam", [])]
    extra = luck + [f"{r.path.name}: {text}" for r, text in sims if text]
    if extra:
        j.measured = join([j.measured, *extra])
        j.evidence += [r.path for r, text in sims if text]
    return j
