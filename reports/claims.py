"""The claims registry: every claim of the paper (and the beyond-the-paper rows), as data.

One :class:`Claim` per ledger row, in the paper's order: its id, the claim in words, where the
paper states it (v2 = arXiv:1905.13405v2 and v4 = v4 number sections and figures differently),
the published number where the paper or the authors gave one, and the function that judges it
from the stored results (``judge(by_kind) -> Judgement``, in the ``summaries_*`` modules, one
module per result kind). Theory rows are judged from ``luckbench check`` results run with the
corrected forms and with ``--paper-mode`` (the printed ones).
"""
from __future__ import annotations

import dataclasses
from functools import partial
from typing import Callable

from luckbench.empirical.bn_audit import PUBLISHED_PCT_NONPOSITIVE
from luckbench.reports import summaries_bn as bn
from luckbench.reports import summaries_sim as sim
from luckbench.reports import summaries_train as train
from luckbench.reports.judgement import Judgement
from luckbench.reports.summaries_beyond import judge_beyond
from luckbench.reports.summaries_checks import judge_check


@dataclasses.dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    source: str
    judge: Callable[[dict], Judgement]
    published: str = ""
    theory: str = ""

    @property
    def empirical(self) -> bool:
        return self.id[0] in "EB"


def _check(name: str, rule: str, corrected: bool = True) -> Callable[[dict], Judgement]:
    return partial(judge_check, check=name, rule=rule, corrected=corrected)


_BOTH = "v2 and v4"
_VGG19 = ", ".join(f"{p:.2f}" for p in PUBLISHED_PCT_NONPOSITIVE["vgg19_bn"])

CLAIMS: tuple[Claim, ...] = (
    Claim("A1", "Assumption 1: separation of expectations (Eqs. 4-5)", f"{_BOTH}: Sec. 2, Assumption 1",
          _check("assumption1", "A1: holds if the relative gap between the factorised gradient (Eq. 6, corrected "
                                "H_{l+1} = E[beta] o D_{l+1}) and the exact expected gradient (Eq. 15) is within the "
                                "check's bound on the default teacher/student.")),
    Claim("A2", "Assumption 2: relative Lipschitz continuity of psi", f"{_BOTH}: Sec. 3, Assumption 2 (Eq. 8; used as Eq. 24)",
          _check("assumption2", "A2: holds if finite K_d, K_l exist on the teacher caps (corrected: the used form "
                                "Eq. 24 without '1 +'; printed: Eq. 8); K is a search lower bound (sampled caps + "
                                "Nelder-Mead), so 'fails' is rigorous and 'holds' optimistic.")),
    Claim("A3", "Assumption 3: small teacher overlap, eps_d, eps_l << 1", f"{_BOTH}: Sec. 3, Assumption 3 (Eq. 9)",
          _check("assumption3", "A3: holds if eps_d = max_{j!=k} d**_jk / d**_jj (ordered pairs; printed: the "
                                "'or' variant) is below 1/(m-1), the level Thm 4 needs."),
          published="docs/math.md reference values: paper's teacher scheme eps_d median 0.746 (m = 50), 0.670 "
                    "(m = 10); orthogonal zero-bias eps_d = 0.5"),
    Claim("L1", "Lemma 1: BN back-propagation projects the gradient", "v2 Sec. 6.3 / v4 App. A.3, Lemma 1",
          _check("lemma1", "L1: holds if Eq. 16 matches autograd to the tolerance (corrected: BN with eps = 0, "
                           "exact; printed: PyTorch's eps = 1e-5, tolerance + eps / min sigma^2).")),
    Claim("L2", "Lemma 2: bottom bounds (Eqs. 19-20)", "v2 Sec. 6.4 / v4 App. A.4, Lemma 2",
          _check("lemma2", "L2: holds if the largest ratio of left to right side of Eqs. 19-20 over sampled "
                           "perturbations is <= 1 (+1e-9); corrected: the index fix (1 + K_d ||dw_j||)^2 d*_jj.")),
    Claim("L3", "Lemma 3: top bounds (Eqs. 30-31)", "v2 Sec. 6.4 / v4 App. A.4, Lemma 3",
          _check("lemma3", "L3: holds if the largest ratio of left to right side of Eqs. 30-31 over sampled "
                           "perturbations is <= 1 (+1e-9); printed Eq. 30 omits the ||dv|| term, corrected "
                           "||Dq_jk|| <= l*_jk (||dv_k|| + K_l ||v_k|| ||dw_k||).")),
    Claim("L4", "Lemma 4: quadratic fall-off of l_jj", "v2 Sec. 6.4 / v4 App. A.4, Lemma 4 (Eq. 32)",
          _check("lemma4", "L4: holds if the sampled ratio |l*_jj - l_jj| / (l*_jj ||dw||^2) stays below a finite "
                           "C0; the failure is bias-specific: with a bias coordinate C0 = inf (the ratio grows as "
                           "||dw|| -> 0), while zero bias holds with C0 = 0.5 (theta0 -> 0).", corrected=False)),
    Claim("T1", "Theorem 1: recursive gradient rule g_l = f'_l o (B*_l f*_l - B_l f_l)", f"{_BOTH}: Sec. 2, Thm 1",
          _check("theorem1", "T1: holds if Eqs. 2-3 equal autograd's gradient per sample to relative residual "
                             "1e-10 (float64).", corrected=False)),
    Claim("T2", "Theorem 2: expected dynamics under Assumption 1", f"{_BOTH}: Sec. 2, Thm 2 (Eq. 6)",
          _check("theorem2", "T2: holds if Eq. 6 equals the exact expected gradient to 1e-10 where Assumption 1 "
                             "is exact (2-layer, zero bias, Gaussian input).", corrected=False)),
    Claim("T3", "Theorem 3: BN conserves the weight norm (gradient orthogonal to the weights)",
          f"{_BOTH}: Sec. 3.1, Thm 3 (Eq. 17)",
          _check("theorem3", "T3: holds if the gradient is orthogonal to the weights to 1e-10; printed: "
                             "<w, grad_w J> = 0 in both BN placements; corrected: with BN after the ReLU the "
                             "conserved quantity is ||(w, b)||.")),
    Claim("T4", "Theorem 4: sin theta_j^t <= (1 - eta d_bar gamma)^t sin theta0 (n = m, beta = 11^T)",
          f"{_BOTH}: Sec. 3.2, Thm 4", sim.judge_thm4,
          published="docs/math.md reference: the flow converges far outside the guarantee (m = 5, theta0 = 45 deg: "
                    "max sin theta 0.71 -> 1.5e-8 at t = 200)"),
    Claim("T4b", "Theorem 4 remark: super-linear convergence near w*", f"{_BOTH}: Sec. 3.2, 'Faster convergence near w*'",
          sim.judge_superlinear),
    Claim("T5", "Theorem 5: over-parameterised 2-layer net, W_u -> W*, V_u -> V*, V_r -> 0",
          f"{_BOTH}: Sec. 3.3, Thm 5 (Eqs. 41-42; proof Eqs. 43-54)", sim.judge_thm5),
    Claim("T5b", "Theorem 5: W_r stays near its initial value; V_r decays at the rate 1 - eta lambda_bar gamma",
          f"{_BOTH}: Sec. 3.3, Thm 5 and 'Random initialization'", sim.judge_thm5_rate),
    Claim("E1", "rho-bar grows during training", "v2 Sec. 4.3, Fig. 7 / v4 Sec. 5.2, Fig. 8", train.judge_growth,
          published="paper: rho-bar grows, toward 1 in layer 0 (no number printed)",
          theory="Thm 4: students close to a teacher node converge to it, so the best correlation per teacher grows"),
    Claim("E2", "the lowest layer (layer 0) reaches the highest rho-bar", "v2 Sec. 4.3, Fig. 7 / v4 Sec. 5.2, Fig. 8",
          train.judge_lowest_layer, published="paper: layer 0 shows the best match (no number printed)",
          theory="the analysis is exact at layer 0 (Gaussian inputs); deeper layers see non-Gaussian inputs"),
    Claim("E3", "final winners rank well early (small r-bar after epoch 1)", "v2 Sec. 4.3, Fig. 7 / v4 Sec. 5.2, Fig. 8",
          train.judge_rank_early, published="paper: good rank after the first epoch (no number printed)",
          theory="the final winners are the students that were lucky at initialisation (Thm 4)"),
    Claim("E4", "BatchNorm helps large teachers and the CNN, hurts small teachers",
          "v2 Sec. 4.3, Fig. 9a / v4 Sec. 5.2, Fig. 10a", train.judge_bn,
          published="paper: BN helps FC 50-75-100-125 and the CNN, hurts FC 10-15-20-25 (no number printed)",
          theory="Thm 3: BN keeps each unit's weight norm constant; no theorem for the size dependence"),
    Claim("E5", "a finite training set stalls rho-bar", "v2 Sec. 4.3, Fig. 9b / v4 Sec. 5.2, Fig. 10b",
          train.judge_finite, published="paper: rho-bar stalls with a finite set (CNN; no number printed)",
          theory="the theory is for expectations over the input law (infinite data)"),
    Claim("E6", "more over-parameterisation gives a higher, more stable rho-bar", "v4 Sec. 5.2, Fig. 12 (not in v2)",
          train.judge_overparam, published="v4: higher and more stable rho-bar with width (32 teachers; no number printed)",
          theory="Sec. 3.3: with more students a u-set close to W* exists at random initialisation more likely"),
    Claim("E7", "most BN biases are negative, especially in the top layers (small activation overlap)",
          "v2 Sec. 4.1, Fig. 6 (VGG16) / v4 Sec. 4.1, Figs. 6 and 16 (VGG11/13/16/19)", bn.judge_bn_bias,
          published=f"vgg19_bn ImageNet (authors' notebook): {_VGG19} % <= 0 per BN layer (92.9 % overall)",
          theory="Assumption 3 (small overlap of teacher activation regions) is what negative biases give"),
    Claim("E8", "Thm 5 experiment: the u/r row-norm gap of V grows, r-rows -> 0", "v4 Sec. 4.2, Fig. 7 (not in v2)",
          sim.judge_gap_growth, published="v4: u/r separation grows with alpha_W (32 seeds; no number printed)",
          theory="Thm 5: V_r -> 0 (the fan-out of the irrelevant nodes vanishes)"),
    Claim("E9", "real-data teachers: student accuracy ~1 % above the teacher", "v2 Sec. 4.3, Fig. 8 / v4 Sec. 5.2, App.",
          train.judge_accuracy, published="teachers pre-trained on CIFAR-10: FC 54.95 %, ConvNet 86.4 %; students "
                                          "often ~1 % above the teacher"),
    Claim("E10", "the Thm 5 experiment depends on alpha_W (gap expands) and alpha_V (gap starts larger)",
          "v4 Sec. 4.2, Fig. 7 (not in v2)", sim.judge_alpha,
          published="v4: small alpha_W: the gap only shifts; large alpha_V: larger initial gap (no number printed)"),
    Claim("E11", "beta* and H* become identity-like after aligning students to teachers",
          "v2 Sec. 4.3, Fig. 10 / v4 Sec. 5.2, Fig. 11", train.judge_identity,
          published="paper: identity structure after training (heat maps only)"),
    Claim("E12", "small teachers converge faster than large ones", "v2 Sec. 4.3, Fig. 9a / v4 Sec. 5.2, Fig. 10a",
          train.judge_teacher_size, published="paper: much faster for FC 10-15-20-25 than 50-75-100-125 (no number)"),
    Claim("E13", "deeper layers specialise too (multi-layer conjecture)", f"{_BOTH}: Sec. 3.4",
          train.judge_deep_layers, theory="conjectured, no proof: lucky nodes in every layer converge to the teacher"),
    Claim("E14", "CIFAR-10: BN improves r-bar and speeds accuracy growth", "v2 Sec. 4.3, Fig. 8 / v4 Sec. 5.2, Fig. 9",
          train.judge_cifar, published="paper: BN accelerates accuracy growth and improves r-bar, not rho-bar"),
    Claim("B1", "lottery tickets: the lucky students are the winning ticket (beyond the paper)", f"{_BOTH}: Sec. 1",
          partial(judge_beyond, which="lottery",
                  rule="B1: resetting the large-magnitude trained weights to their initial values and retraining "
                       "matches the dense student, judged per seed over >= 3 seeds (luckbench beyond lottery).")),
    Claim("B2", "flat minima: many near-zero Hessian eigenvalues at the solution (beyond the paper)", f"{_BOTH}: Sec. 1",
          partial(judge_beyond, which="hessian",
                  rule="B2: the trained student's Hessian has a majority of near-zero eigenvalues, from the "
                       "irrelevant nodes, judged per seed over >= 3 seeds (luckbench beyond hessian).")),
    Claim("B3", "pruning: removing the r-set (small fan-out) keeps the loss (beyond the paper)", f"{_BOTH}: Sec. 3.3",
          partial(judge_beyond, which="prune",
                  rule="B3: pruning the nodes with the smallest fan-out norm leaves the loss within the seed noise, "
                       "judged per seed over >= 3 seeds (luckbench beyond prune).")),
)
