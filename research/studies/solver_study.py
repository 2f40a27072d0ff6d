"""Compare profile estimators on the committed DSP scores (pure numpy, seconds): issue 12's solver study.

    gunzip -c research/data/dsp_scores_32tok.json.gz > out/dsp_eval/cache.json
    python research/studies/solver_study.py ../shared/data/dsp/dsp_dev.json out/dsp_eval/cache.json [seeds] [screening [SOLVER]]

REGISTERS=1 in the environment uses the default 48 attributes instead of the paper's 41.
The second form compares screening plans (after, keep, recheck) with the full `select` fit and the
share of (pair, attribute) cells each one scores.

Every method sees only its training pairs; test pairs are the last n_test of a seeded permutation.
"""
from __future__ import annotations

import sys

import numpy as np

from edge_drift import solvers
from common import dsp_features  # noqa: E402




def logistic(X, l2, prior=None):
    """Pairwise logistic regression on differences X (no intercept), L2 toward `prior`."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit
    prior = np.zeros(X.shape[1]) if prior is None else prior

    def loss(w):
        m = X @ w
        return -log_expit(m).sum() + 0.5 * l2 * (w - prior) @ (w - prior), -X.T @ expit(-m) + l2 * (w - prior)
    return minimize(loss, prior.copy(), jac=True, method="L-BFGS-B").x


def standardise(D):
    scale = np.sqrt((D ** 2).mean(axis=0)) + 1e-8  # RMS, not std: keep the sign information of the mean
    return D / scale, scale


def bt_std(D, l2):
    X, scale = standardise(D)
    return logistic(X, l2) / scale


def cv_choice(D, fits, folds=5, seed=0):
    """Index of the fit with the best K-fold accuracy on D (ties: the earliest)."""
    n = len(D)
    order = np.random.default_rng(seed).permutation(n)
    scores = np.zeros(len(fits))
    for fold in np.array_split(order, min(folds, n)):
        train = np.setdiff1d(order, fold)
        for i, fit in enumerate(fits):
            m = D[fold] @ fit(D[train])
            scores[i] += ((m > 0) + 0.5 * (m == 0)).sum()
    return int(np.argmax(scores))


L2_GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def bt_cv(D):
    fits = [lambda d, l=l: bt_std(d, l) for l in L2_GRID]
    return fits[cv_choice(D, fits)](D)


def shrink_to_drift(D, l2):
    """Logistic on standardised features with the prior mean = scaled drift direction."""
    X, scale = standardise(D)
    d = X.mean(axis=0)
    prior = d / (np.linalg.norm(d) + 1e-12)
    # scale the prior to the margin scale BT would use: fit one scalar first
    c = logistic((X @ prior)[:, None], 1e-3)[0]
    return logistic(X, l2, prior * c) / scale


def shrink_cv(D):
    fits = [lambda d, l=l: shrink_to_drift(d, l) for l in L2_GRID]
    return fits[cv_choice(D, fits)](D)


def diag_lda(D):
    mu = D.mean(axis=0)
    var = D.var(axis=0) + 1e-8 if len(D) > 2 else np.ones(D.shape[1])
    return mu / var


def lw_lda(D):
    """Sigma^-1 mu with Ledoit-Wolf shrinkage toward the diagonal."""
    mu = D.mean(axis=0)
    Xc = D - mu
    n, k = D.shape
    S = Xc.T @ Xc / n
    T = np.diag(np.diag(S))
    # Ledoit-Wolf intensity
    pi = sum(((np.outer(x, x) - S) ** 2).sum() for x in Xc) / n
    gamma = ((S - T) ** 2).sum()
    a = min(1.0, max(0.0, pi / gamma / n)) if gamma > 0 else 1.0
    sigma = a * T + (1 - a) * S + 1e-6 * np.eye(k)
    return np.linalg.solve(sigma, mu)


def lda_ridge(D, alpha):
    mu = D.mean(axis=0)
    X, scale = standardise(D)
    S = np.cov(X, rowvar=False, bias=True) if len(D) > 1 else np.zeros((D.shape[1],) * 2)
    return np.linalg.solve(S + alpha * np.eye(D.shape[1]), mu / scale) / scale


def lda_cv(D):
    fits = [lambda d, a=a: lda_ridge(d, a) for a in (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)]
    return fits[cv_choice(D, fits)](D)


def with_base(fit):
    def f(D, base):
        return fit(np.hstack([D, base]))
    return f


def only(fit):
    return lambda D, base: fit(D)


def top_t(D, k):
    t = D.mean(0) / (D.std(0) + 1e-8)
    keep = np.argsort(-np.abs(t))[:k]
    w = np.zeros(D.shape[1])
    w[keep] = solvers.drift_closed_form(D[:, keep])
    return w


def top_t_cv(D):
    fits = [lambda d, k=k: top_t(d, k) for k in (4, 8, 16, 41)]
    return fits[cv_choice(D, fits)](D)


def top_t_fit(D, k, fit):
    t = D.mean(0) / (D.std(0) + 1e-8)
    keep = np.argsort(-np.abs(t))[:k]
    w = np.zeros(D.shape[1])
    w[keep] = fit(D[:, keep])
    return w



def margin_ensemble(D, *fits):
    """Sum of several solvers' weights, each scaled so its training margins have unit spread."""
    total = np.zeros(D.shape[1])
    for fit in fits:
        w = fit(D)
        total += w / ((D @ w).std() + 1e-12)
    return total


STUDY_METHODS = {
    "drift": only(solvers.drift_closed_form),
    "select (k=7, the default)": only(lambda D: solvers.select_top(D, 7)),
    "bt, l2=1 (the bt solver before this study)": only(lambda D: solvers.bradley_terry(D, 1.0)),
    "auto": only(lambda D: solvers.fit_weights(D, "auto").weights),
    "bt standardised, l2=10 (the bt solver now)": only(lambda D: bt_std(D, 10.0)),
    "bt standardised, l2=30": only(lambda D: bt_std(D, 30.0)),
    "bt, l2 by nested CV": only(bt_cv),
    "bt shrunk toward drift, l2=10": only(lambda D: shrink_to_drift(D, 10.0)),
    "bt shrunk toward drift, l2 by CV": only(shrink_cv),
    "diagonal LDA (mean/var)": only(diag_lda),
    "Ledoit-Wolf LDA": only(lw_lda),
    "ridge LDA, alpha by CV": only(lda_cv),
    "top-|t| k=4 + closed form": only(lambda D: top_t(D, 4)),
    "top-|t| k=12 + closed form": only(lambda D: top_t(D, 12)),
    "top-|t| k=16 + closed form": only(lambda D: top_t(D, 16)),
    "top-|t|, k in 4/8/16/41 by CV": only(top_t_cv),
    "top-|t| k=8 + bt l2=10": only(lambda D: top_t_fit(D, 8, lambda d: bt_std(d, 10.0))),
    "drift + h0 (base log-prob)": with_base(solvers.drift_closed_form),
    "select + h0": with_base(lambda D: solvers.select_top(D, 7)),
    "bt standardised l2=10 + h0": with_base(lambda D: bt_std(D, 10.0)),
    "bt nested CV + h0": with_base(bt_cv),
    "Ledoit-Wolf LDA + h0": with_base(lw_lda),
    "select + bt std l2=10 (unit-spread margins summed)": only(lambda D: margin_ensemble(
        D, lambda d: solvers.select_top(d, 7), lambda d: bt_std(d, 10.0))),
}


def main() -> None:
    data, cache_path = sys.argv[1], sys.argv[2]
    seeds = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    per_user = dsp_features(data, cache_path)
    methods = STUDY_METHODS
    sizes = (10, 25, 50, 100)
    table = {}
    for user, f in per_user.items():
        D = f.chosen - f.rejected
        base = (f.base_chosen - f.base_rejected)[:, None]
        n = len(D)
        n_test = min(100, n - max(sizes))
        for size in sizes:
            for name, fit in methods.items():
                accuracies = []
                for seed in range(seeds):
                    order = np.random.default_rng(seed).permutation(n)
                    train, test = order[:size], order[n - n_test:]
                    w = fit(D[train], base[train])
                    margin = np.hstack([D[test], base[test]])[:, :len(w)] @ w
                    accuracies.append(float(np.mean((margin > 0) + 0.5 * (margin == 0))))
                table[(user, name, size)] = float(np.mean(accuracies))
    print(f"queries per user: {n}; test pairs: {n_test}; seeds: {seeds}")
    print("| method | " + " | ".join(f"n={s}" for s in sizes) + " | " + " | ".join(f"{u[:4]}@50" for u in per_user) + " |")
    print("|---" * (1 + len(sizes) + len(per_user)) + "|")
    for name in methods:
        means = [np.mean([table[(u, name, s)] for u in per_user]) for s in sizes]
        users = [table[(u, name, 50)] for u in per_user]
        print(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means) + " | " + " | ".join(f"{a:.3f}" for a in users) + " |")


def screening_study(per_user, seeds: int, sizes=(25, 50), plans=None, n_test: int = 50, fits=None) -> None:
    """Held-out accuracy of a fit on screened rewards vs the full fit, and the share of cells scored."""
    from edge_drift.screening import ScreeningPlan, screen

    plans = plans or [ScreeningPlan(a, k, r) for a in (8, 10) for k in (8, 12, 16) for r in (0, 10)]
    fits = fits or {"drift": solvers.drift_closed_form, "select": lambda D: solvers.select_top(D, 7),
                    "bt_std(10)": lambda D: bt_std(D, 10.0)}
    print("| solver | plan (after, keep, recheck) | " + " | ".join(f"n={s} accuracy / cost" for s in sizes) + " |")
    print("|---" * (2 + len(sizes)) + "|")
    for fit_name, fit in fits.items():
        for plan in [None] + plans:
            cells = []
            for size in sizes:
                accuracy, cost = [], []
                for user, f in per_user.items():
                    D = f.chosen - f.rejected
                    n = len(D)
                    for seed in range(seeds):
                        order = np.random.default_rng(seed).permutation(n)
                        train, test = order[:size], order[n - n_test:]
                        if plan is None:
                            w, scored = fit(D[train]), 1.0
                        else:
                            result = screen(size, D.shape[1], lambda r, c: D[train[r]][:, c], plan)
                            w = np.zeros(D.shape[1])
                            w[result.kept] = fit(result.differences[:, result.kept])
                            scored = (np.isfinite(result.differences).sum() + size) / (D.size / n * size + size)
                        m = D[test] @ w
                        accuracy.append(np.mean((m > 0) + 0.5 * (m == 0)))
                        cost.append(scored)
                cells.append(f"{np.mean(accuracy):.3f} / {np.mean(cost):.2f}")
            label = "full" if plan is None else f"{plan.after_pairs}, {plan.keep}, {plan.recheck_every}"
            print(f"| {fit_name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[4] == "screening":
        from edge_drift.screening import ScreeningPlan

        plans = [ScreeningPlan(*p) for p in [(6, 12, 25), (6, 14, 25), (6, 16, 25), (6, 20, 25), (8, 12, 25),
                                             (8, 14, 25), (5, 14, 25), (6, 12, 10), (6, 14, 0), (4, 16, 25),
                                             (6, 24, 25), (10, 20, 25), (6, 20, 10), (6, 30, 25)]]
        solver = sys.argv[5] if len(sys.argv) > 5 else "select"  # or contrast: which solver fits the kept attributes
        screening_study(dsp_features(sys.argv[1], sys.argv[2]), int(sys.argv[3]), sizes=(10, 25, 50, 100),
                        plans=plans, n_test=100, fits={solver: lambda D: solvers.solve(D, solver, 7)})
    else:
        main()
