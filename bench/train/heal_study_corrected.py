#!/usr/bin/env python3
"""Can a short heal corrected by the architecture rank equal-size candidates?

The heal study's short heals misrank systematically (bench/README.md, "Heal study"):
shallow candidates and those with few attention layers heal fastest and then stall.
This fits, by least squares, the long heal's NLL as a linear function of the short
heal's NLL and some architecture features, on every set but one, and scores the
fitted predictor's ranking of the set left out (Kendall tau-b against the long heal).
Candidates of the left-out set are dropped from the fit where another set shares them.
A search could learn such a correction from its own top rung; this measures whether
it would be worth it.

usage: heal_study_corrected.py [--base RESULT.json] [--short STEPS=RESULT.json ...]
"""
import argparse
import json
import math
import os

from heal_study_table import kendall_tau_b

HERE = os.path.dirname(os.path.abspath(__file__))

FEATURES = {
    "layers": lambda c: c["arch"]["n_layers"],
    "attention layers": lambda c: sum(t != "skip" for t in c["arch"]["layer_types"]),
    "d_model": lambda c: c["arch"]["d_model"],
    "log params": lambda c: math.log(c["params"]),
    "zero-shot NLL": lambda c: c["zero_shot_nll"],
}
FEATURE_SETS = [(), ("layers",), ("attention layers",), ("layers", "attention layers"), ("layers", "d_model"),
                ("layers", "attention layers", "d_model", "log params"), ("zero-shot NLL",)]


def least_squares(rows, targets):
    """Weights w minimising |rows w - targets|^2 (normal equations, Gauss-Jordan)."""
    p = len(rows[0])
    m = [[sum(r[i] * r[j] for r in rows) for j in range(p)] + [sum(r[i] * t for r, t in zip(rows, targets))]
         for i in range(p)]
    for c in range(p):
        pivot = max(range(c, p), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(p):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [a - f * b for a, b in zip(m[r], m[c])]
    return [m[i][p] / m[i][i] for i in range(p)]


def arch_key(c):
    return json.dumps(c["arch"], sort_keys=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", default=os.path.join(HERE, "results_heal_study_3orders.json"),
                    help="the run with the long heals and the 20-step heals")
    ap.add_argument("--short", nargs="*", default=[
        f"{k}={os.path.join(HERE, f'results_heal_study_3orders_short{k}.json')}" for k in (50, 100, 200)],
                    help="STEPS=FILE: longer short heals on the same long heals")
    args = ap.parse_args()
    base = json.load(open(args.base))
    runs = {base["short_steps"]: base}
    for item in args.short:
        steps, path = item.split("=", 1)
        runs[int(steps)] = json.load(open(path))
    sets = list(base["sets"])

    def short_nll(steps, name, i):
        c = runs[steps]["sets"][name]["candidates"][i]
        assert arch_key(c) == arch_key(base["sets"][name]["candidates"][i]), "the runs' candidates differ"
        return c["short_nll"]

    print("| short heal | correction features | " + " | ".join(sets) + " |")
    print("|---|---|" + "---:|" * len(sets))
    for steps in sorted(runs):
        for features in FEATURE_SETS:
            def row(name, i):
                c = base["sets"][name]["candidates"][i]
                return [1.0, short_nll(steps, name, i)] + [FEATURES[f](c) for f in features]

            taus = []
            for test in sets:
                held_out = {arch_key(c) for c in base["sets"][test]["candidates"]}
                train = [(n, i) for n in sets if n != test for i, c in enumerate(base["sets"][n]["candidates"])
                         if arch_key(c) not in held_out]
                w = least_squares([row(n, i) for n, i in train],
                                  [base["sets"][n]["candidates"][i]["long_nll"] for n, i in train])
                cands = base["sets"][test]["candidates"]
                predicted = [sum(a * b for a, b in zip(w, row(test, i))) for i in range(len(cands))]
                taus.append(kendall_tau_b(predicted, [c["long_nll"] for c in cands]))
            label = ", ".join(features) if features else "none (the short heal alone)"
            print(f"| {steps} | {label} | " + " | ".join(f"{t:.3f}" for t in taus) + " |")


if __name__ == "__main__":
    main()
