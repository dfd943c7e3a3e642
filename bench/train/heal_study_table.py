#!/usr/bin/env python3
"""Markdown tables from bench_heal_study JSON: per-candidate NLLs and Kendall tau per set.

Not the runner (bench_heal_study). Kendall's tau is read from the JSON (computed by
the bench); this only formats. With --compare FILE (a second run, e.g. --data sample
on a few candidates) it adds a table of the long heal's training and held-out NLL on
both runs' data for the candidates they share.

usage: heal_study_table.py RESULT.json [--compare OTHER.json]
"""
import argparse
import json


def arch_label(a):
    kinds = []
    for kind in a["layer_types"]:
        kinds.append(f"swa:{a['sliding_window']}" if kind == "swa" else kind)
    ffn = a["d_ffn"]
    ffn_text = str(ffn[0]) if all(f == ffn[0] for f in ffn) else "/".join(str(f) for f in ffn)
    return f"L{a['n_layers']} C{a['d_model']} FF{ffn_text} [{','.join(kinds)}]"


def candidate_table(name, s):
    print(f"\n{name}: {len(s['candidates'])} candidates, parameters {s['params_min']} .. {s['params_max']} "
          f"(spread {100 * s['params_spread']:.2f}%)\n")
    print("| # | architecture | params | MFLOPs/token | zero-shot | short heal | long heal | long, train text |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|")
    for i, c in enumerate(s["candidates"]):
        print(f"| {i} | {arch_label(c['arch'])} | {c['params']} | {c['flops_per_token'] / 1e6:.3f} | "
              f"{c['zero_shot_nll']:.3f} | {c['short_nll']:.3f} | {c['long_nll']:.3f} | {c['long_train_nll']:.3f} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("result")
    ap.add_argument("--compare", help="a second result (other data) on some of the same candidates")
    args = ap.parse_args()
    r = json.load(open(args.result))
    print(f"data {r['data']}, {r['train_tokens']} training tokens, short heal {r['short_steps']} steps, "
          f"long heal {r['long_steps']} steps, backbone held-out NLL {r['backbone_eval_nll']:.3f}, "
          f"on its training text {r['backbone_train_nll']:.3f}")
    for name, s in r["sets"].items():
        candidate_table(name, s)
    print("\n| set | n | zero-shot | short heal | params | FLOPs |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, s in r["sets"].items():
        t = s["kendall_tau_vs_long"]
        print(f"| {name} | {len(s['candidates'])} | {t['zero_shot']:.3f} | {t['short_heal']:.3f} | "
              f"{t['params']:.3f} | {t['flops']:.3f} |")
    if args.compare:
        o = json.load(open(args.compare))
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
