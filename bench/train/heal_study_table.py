#!/usr/bin/env python3
"""Markdown tables from bench_heal_study JSON: per-candidate NLLs and Kendall tau per set.

Not the runner (bench_heal_study). Kendall's tau is read from the JSON (computed by
the bench); this only formats. With --compare FILE (a second run, e.g. --data sample
on a few candidates) it adds a table of the long heal's training and held-out NLL on
both runs' data for the candidates they share. With --repeat FILE (the same candidates
healed again with another --seed) it prints how well the long heal's ranking repeats
(tau of one long heal against the other) and the taus against the mean of both long heals.
A result whose long heal ran with several window orders (--long-seeds) shows each order's
NLL and the taus between the orders' rankings.

usage: heal_study_table.py RESULT.json [--short REF_RUN.json...] [--compare OTHER.json] [--repeat SEED_RUN.json]
"""
import argparse
import json


def kendall_tau_b(a, b):
    """Kendall's tau-b, as bench_heal_study computes it."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    n1, n2 = concordant + discordant + ties_a, concordant + discordant + ties_b
    return (concordant - discordant) / (n1 * n2) ** 0.5 if n1 and n2 else 0.0


def repeat_table(r, other):
    print(f"\n| set | n | long vs long (seed {r['options']['seed']} / {other['options']['seed']}) | "
          "against the mean of both long heals: zero-shot | short heal | params | FLOPs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, s in other["sets"].items():
        mine = r["sets"][name]["candidates"]
        theirs = s["candidates"]
        if [c["arch"] for c in mine] != [c["arch"] for c in theirs]:
            raise SystemExit(f"{name}: the two runs' candidates differ")
        mean = [(x["long_nll"] + y["long_nll"]) / 2 for x, y in zip(mine, theirs)]
        column = lambda key, sign=1: kendall_tau_b([sign * c[key] for c in mine], mean)
        print(f"| {name} | {len(mine)} | {kendall_tau_b([c['long_nll'] for c in mine], [c['long_nll'] for c in theirs]):.3f} | "
              f"{column('zero_shot_nll'):.3f} | {column('short_nll'):.3f} | {column('params', -1):.3f} | "
              f"{column('flops_per_token', -1):.3f} |")


def arch_label(a):
    kinds = []
    for kind in a["layer_types"]:
        kinds.append(f"swa:{a['sliding_window']}" if kind == "swa" else kind)
    ffn = a["d_ffn"]
    ffn_text = str(ffn[0]) if all(f == ffn[0] for f in ffn) else "/".join(str(f) for f in ffn)
    return f"L{a['n_layers']} C{a['d_model']} FF{ffn_text} [{','.join(kinds)}]"


def candidate_table(name, s, runs):
    """runs: this result first, then runs that share its long heals (--reference) with other short heals."""
    print(f"\n{name}: {len(s['candidates'])} candidates, parameters {s['params_min']} .. {s['params_max']} "
          f"(spread {100 * s['params_spread']:.2f}%)\n")
    heads = "".join(f" short {run['short_steps']} (lr {run['short_lr']:g}) |" for run in runs)
    seeds = len(s["candidates"][0].get("long_nll_by_seed", [0]))
    long_head = f"long heal (mean of {seeds} orders) | by order |" if seeds > 1 else "long heal |"
    print(f"| # | architecture | params | MFLOPs/token | zero-shot |{heads} {long_head} long, train text |")
    print("|---:|---|---:|---:|---:|" + "---:|" * len(runs) + ("---:|---|" if seeds > 1 else "---:|") + "---:|")
    for i, c in enumerate(s["candidates"]):
        shorts = "".join(f" {run['sets'][name]['candidates'][i]['short_nll']:.3f} |" for run in runs)
        by_order = " / ".join(f"{x:.3f}" for x in c.get("long_nll_by_seed", []))
        long_cells = f" {c['long_nll']:.3f} | {by_order} |" if seeds > 1 else f" {c['long_nll']:.3f} |"
        print(f"| {i} | {arch_label(c['arch'])} | {c['params']} | {c['flops_per_token'] / 1e6:.3f} | "
              f"{c['zero_shot_nll']:.3f} |{shorts}{long_cells} {c['long_train_nll']:.3f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("--compare", help="a second result (other data) on some of the same candidates")
    ap.add_argument("--repeat", help="the same candidates healed with another --seed")
    ap.add_argument("--short", nargs="*", default=[],
                    help="runs made with --reference RESULT (other short heals): one more column each")
    args = ap.parse_args()
    r = json.load(open(args.result))
    print(f"data {r['data']}, {r['train_tokens']} training tokens, short heal {r['short_steps']} steps, "
          f"long heal {r['long_steps']} steps, backbone held-out NLL {r['backbone_eval_nll']:.3f}, "
          f"on its training text {r['backbone_train_nll']:.3f}")
    runs = [r] + [json.load(open(f)) for f in args.short]
    for run in runs[1:]:
        for name, s in run["sets"].items():
            if [c["long_nll"] for c in s["candidates"]] != [c["long_nll"] for c in r["sets"][name]["candidates"]]:
                raise SystemExit(f"{name}: a --short run does not share this result's long heals")
    for name, s in r["sets"].items():
        candidate_table(name, s, runs)
    print("\n| set | n | short heal | zero-shot | short heal | params | FLOPs | long vs long (each pair of orders) |")
    print("|---|---:|---|---:|---:|---:|---:|---|")
    for name, s in r["sets"].items():
        retest = ", ".join(f"{t:.3f}" for t in s.get("long_retest_tau", [])) or "-"
        for run in runs:
            t = run["sets"][name]["kendall_tau_vs_long"]
            print(f"| {name} | {len(s['candidates'])} | {run['short_steps']} steps, lr {run['short_lr']:g} | "
                  f"{t['zero_shot']:.3f} | {t['short_heal']:.3f} | {t['params']:.3f} | {t['flops']:.3f} | {retest} |")
    if args.repeat:
        repeat_table(r, json.load(open(args.repeat)))
    if args.compare:
        o = json.load(open(args.compare))
        print(f"\nbackbone NLL on each run's training text: {r['data']} {r['backbone_train_nll']:.3f}, "
              f"{o['data']} {o['backbone_train_nll']:.3f} (held-out {r['backbone_eval_nll']:.3f})")
        print(f"\n| architecture | {r['data']}: held-out | train text | epochs | "
              f"{o['data']}: held-out | train text | epochs |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for name, s in o["sets"].items():
            mine = {json.dumps(c["arch"], sort_keys=True): c for c in r["sets"].get(name, {}).get("candidates", [])}
            for c in s["candidates"]:
                m = mine.get(json.dumps(c["arch"], sort_keys=True))
                if m is None:
                    continue
                print(f"| {arch_label(c['arch'])} | {m['long_nll']:.3f} | {m['long_train_nll']:.3f} | "
                      f"{m['long_epochs']:.1f} | {c['long_nll']:.3f} | {c['long_train_nll']:.3f} | "
                      f"{c['long_epochs']:.1f} |")


if __name__ == "__main__":
    main()
