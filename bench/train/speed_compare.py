#!/usr/bin/python3
"""Training-step speed of flashnas against PyTorch eager, interleaved.

For each model and thread count, `--rounds` rounds each run bench_train_speed
then torch_train_step.py (same architecture, shape, batch and step), so both
see the same machine state; each run reports the median of its timed steps,
and the table gives the median over rounds of each and the ratio of the
medians. Prints one JSON object (and a Markdown table on stderr).

  /usr/bin/python3 bench/train/speed_compare.py --build build --rounds 5

PyTorch is Debian's python3-torch 1.13 (BLAS_INFO=generic: it calls the
libblas.so.3 alternative, OpenBLAS pthread here; OPENBLAS_NUM_THREADS and
OMP_NUM_THREADS are set to the thread count).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MODELS = {
    "stories260k": ("bench/train/arch_stories260k.json", "bench/train/shape_stories260k.json", 10),
    "stories260k-candidate": ("bench/train/arch_stories_candidate.json", "bench/train/shape_stories260k.json", 10),
    "15m": ("bench/latency/arch_15m.json", "bench/latency/shape_15m.json", 3),
}


def run(cmd, threads):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return json.loads(out.stdout)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=256)
    args = ap.parse_args()
    bench = os.path.join(args.build, "bench/train/bench_train_speed")
    results = []
    for name in args.models.split(","):
        arch, shape, steps = MODELS[name]
        for threads in [int(t) for t in args.threads.split(",")]:
            common = ["--arch", arch, "--shape", shape, "--batch", str(args.batch), "--ctx", str(args.ctx),
                      "--threads", str(threads), "--steps", str(steps), "--warmup", "1"]
            ours, theirs = [], []
            for _ in range(args.rounds):
                ours.append(run([bench] + common, threads)["median_ms"])
                theirs.append(run(["/usr/bin/python3", os.path.join(HERE, "torch_train_step.py")] + common,
                                  threads)["median_ms"])
            tokens = args.batch * args.ctx
            r = {"model": name, "threads": threads, "tokens_per_step": tokens,
                 "flashnas_ms": statistics.median(ours), "pytorch_ms": statistics.median(theirs),
                 "flashnas_rounds_ms": ours, "pytorch_rounds_ms": theirs}
            r["flashnas_tokens_per_second"] = 1e3 * tokens / r["flashnas_ms"]
            r["pytorch_tokens_per_second"] = 1e3 * tokens / r["pytorch_ms"]
            r["speedup"] = r["pytorch_ms"] / r["flashnas_ms"]
            results.append(r)
            print(f"{name} threads {threads}: flashnas {r['flashnas_ms']:.1f} ms, pytorch {r['pytorch_ms']:.1f} ms, "
                  f"x{r['speedup']:.2f}", file=sys.stderr)
    print("| model | threads | flashnas ms/step | tok/s | PyTorch ms/step | tok/s | speed-up |", file=sys.stderr)
    print("|---|---|---|---|---|---|---|", file=sys.stderr)
    for r in results:
        print(f"| {r['model']} | {r['threads']} | {r['flashnas_ms']:.1f} | {r['flashnas_tokens_per_second']:.0f} | "
              f"{r['pytorch_ms']:.1f} | {r['pytorch_tokens_per_second']:.0f} | {r['speedup']:.2f}x |", file=sys.stderr)
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
