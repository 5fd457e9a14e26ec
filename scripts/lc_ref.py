#!/usr/bin/python3
"""Independent reference for the length-controlled win rate (src/eval/lc.ts), in PyTorch float64: fitted with L-BFGS
(strong Wolfe line search) and autograd instead of lc.ts's hand-written Newton steps; the standard error from
autograd's Hessian and Jacobian. Standard library + torch only (Debian's python3-torch). Regenerate with:

  bash scripts/make-lc-fixtures.sh        (or: /usr/bin/python3 scripts/lc_ref.py --out fixtures/lc)

Writes OUT/pairs.jsonl (a seeded set of judged pairs: preference in {0, .25, .5, .75, 1}, both lengths in characters,
an instruction difficulty; the judge prefers the model, and longer outputs) and OUT/expected.json: per case (with and
without the difficulty term, two penalties) the coefficients, the length scale, the LC win rate and its standard error.

The model (AlpacaEval 2.0's, `np.tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline - 1`):
  x_i = [1, tanh((len_model_i - len_ref_i) / sd), difficulty_i],   sd = sample sd (ddof 1) of the length differences
  minimise  sum_i -(y_i log p_i + (1 - y_i) log(1 - p_i)) + |beta|^2 / (2 C),   p_i = sigmoid(x_i . beta)
  LC = mean_i sigmoid(x0_i . beta), x0_i = x_i with the length entry 0
  SE = sqrt(g^T H^-1 (n/(n-k) sum_i s_i s_i^T) H^-1 g), g = dLC/dbeta, H the objective's Hessian, s_i = (p_i - y_i) x_i
"""
import argparse, json, math, os, random

import torch

torch.set_default_dtype(torch.float64)


def make_pairs(seed, n):
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        ref_len = rng.randint(200, 1600)
        model_len = max(1, int(ref_len * math.exp(rng.gauss(0.25, 0.5))))
        difficulty = round(rng.gauss(0, 1), 4)
        # the judge: a model effect, a length effect and the difficulty; each order drawn on its own (ties 10%)
        z = 0.4 + 1.2 * math.tanh((model_len - ref_len) / 500) - 0.6 * difficulty
        p = 1 / (1 + math.exp(-z))
        score = 0.0
        for _order in range(2):
            u = rng.random()
            score += 0.5 if u < 0.1 else (1.0 if rng.random() < p else 0.0)
        pairs.append({"preference": score / 2, "model_length": model_len, "reference_length": ref_len, "difficulty": difficulty})
    return pairs


def fit(pairs, C, with_difficulty):
    y = torch.tensor([p["preference"] for p in pairs])
    delta = torch.tensor([float(p["model_length"] - p["reference_length"]) for p in pairs])
    scale = delta.std(unbiased=True)
    cols = [torch.ones(len(pairs)), torch.tanh(delta / scale)]
    if with_difficulty:
        cols.append(torch.tensor([p["difficulty"] for p in pairs]))
    X = torch.stack(cols, dim=1)
    X0 = X.clone()
    X0[:, 1] = 0
    n, k = X.shape
    ridge = 0.0 if math.isinf(C) else 1.0 / C

    def objective(beta):
        z = X @ beta
        # BCE with soft targets, written out: y softplus(-z) + (1 - y) softplus(z)
        return (y * torch.nn.functional.softplus(-z) + (1 - y) * torch.nn.functional.softplus(z)).sum() + 0.5 * ridge * (beta * beta).sum()

    beta = torch.zeros(k, requires_grad=True)
    opt = torch.optim.LBFGS([beta], lr=1, max_iter=500, tolerance_grad=1e-13, tolerance_change=1e-16, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        f = objective(beta)
        f.backward()
        return f

    for _ in range(5):
        opt.step(closure)
    beta = beta.detach()

    def lc(b):
        return torch.sigmoid(X0 @ b).mean()

    H = torch.autograd.functional.hessian(objective, beta)
    g = torch.autograd.functional.jacobian(lc, beta)
    r = torch.sigmoid(X @ beta) - y
    S = X * r[:, None]
    meat = S.T @ S * (n / (n - k))
    u = torch.linalg.solve(H, g)
    se = math.sqrt(float(u @ meat @ u))
    grad = torch.autograd.functional.jacobian(objective, beta)
    coef = {"model": float(beta[0]), "length": float(beta[1])}
    if with_difficulty:
        coef["difficulty"] = float(beta[2])
    return {"C": None if math.isinf(C) else C, "difficulty": with_difficulty, "coef": coef, "length_scale": float(scale),
            "win_rate": 100 * float(lc(beta)), "standard_error": 100 * se, "max_abs_grad": float(grad.abs().max())}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--n", type=int, default=300)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    pairs = make_pairs(a.seed, a.n)
    with open(os.path.join(a.out, "pairs.jsonl"), "w") as f:
        for p in pairs:
            f.write(json.dumps(p) + "\n")
    raw = 100 * sum(p["preference"] for p in pairs) / len(pairs)
    cases = [fit(pairs, C, d) for d in (False, True) for C in (100.0, 0.5, math.inf)]
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        json.dump({"made_by": "bash scripts/make-lc-fixtures.sh", "torch": torch.__version__, "seed": a.seed, "n": a.n,
                   "raw_win_rate": raw, "cases": cases}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
