#!/usr/bin/env python3
"""Markdown tables from `flashnas bench-search` JSON files (OUT_DIR/PROBLEM-ALGO.json).

Not the runner (run_bench_search.sh). Every budget is read off the one long run per
seed: a run records log10(max HV - HV) after every evaluation, and a shorter run with
the same seed evaluates the same points first (tests/search: ShorterBudgetsArePrefixesOfLongerRuns).

usage: budget_table.py OUT_DIR --problems P... --algos A... --budgets B... [--detail BUDGET]
"""
import argparse
import json
import statistics


def gaps_at(run, budget):
    history = run["log10_hv_gap"]
    if len(history) < budget:
        raise SystemExit(f"seed {run['seed']} has {len(history)} evaluations, fewer than budget {budget}")
    return history[budget - 1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--problems", nargs="+", required=True)
    ap.add_argument("--algos", nargs="+", required=True)
    ap.add_argument("--budgets", nargs="+", type=int, required=True)
    ap.add_argument("--detail", type=int, help="also print median (min .. max) at this budget")
    args = ap.parse_args()
    data = {(p, a): json.load(open(f"{args.out}/{p}-{a}.json")) for p in args.problems for a in args.algos}

    print("Median over seeds of log10(max HV - HV) after each budget (lowest in bold):\n")
    print("| problem | budget | " + " | ".join(args.algos) + " |")
    print("|---|---:|" + "---:|" * len(args.algos))
    for p in args.problems:
        for b in args.budgets:
            med = [statistics.median(gaps_at(r, b) for r in data[(p, a)]["runs"]) for a in args.algos]
            best = min(med)
            cells = [f"**{m:.2f}**" if m == best else f"{m:.2f}" for m in med]
            print(f"| {p} | {b} | " + " | ".join(cells) + " |")

    print("\nSeconds per run (median over seeds) at the longest budget:\n")
    print("| problem | " + " | ".join(args.algos) + " |")
    print("|---|" + "---:|" * len(args.algos))
    for p in args.problems:
        secs = [statistics.median(r["seconds"] for r in data[(p, a)]["runs"]) for a in args.algos]
        print(f"| {p} | " + " | ".join(f"{s:.3f}" if s < 0.1 else f"{s:.1f}" for s in secs) + " |")

    if args.detail:
        print(f"\nMedian (min .. max) over seeds at budget {args.detail}:\n")
        print("| problem | " + " | ".join(args.algos) + " |")
        print("|---|" + "---|" * len(args.algos))
        for p in args.problems:
            cells = []
            for a in args.algos:
                g = [gaps_at(r, args.detail) for r in data[(p, a)]["runs"]]
                cells.append(f"{statistics.median(g):.2f} ({min(g):.2f} .. {max(g):.2f})")
            print(f"| {p} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
