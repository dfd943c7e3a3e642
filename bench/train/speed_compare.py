#!/usr/bin/python3
"""Training-step speed of flashnas against PyTorch eager, interleaved.

For each model and thread count, `--rounds` rounds each run bench_train_speed
then torch_train_step.py (same architecture, shape, batch and step), so both
see the same machine state; each run reports the median of its timed steps,
and the table gives the median over rounds of each and the ratio of the
medians. Prints one JSON object (and a Markdown table on stderr); --output
also writes it to a file.

  /usr/bin/python3 bench/train/speed_compare.py --build build --rounds 5

PyTorch is Debian's python3-torch 1.13 (BLAS_INFO=generic: it calls whatever
libblas.so.3 the loader finds, by default the system's alternative;
--torch-blas-dir DIR puts DIR first on LD_LIBRARY_PATH for the PyTorch runs
only, e.g. the openblas-openmp directory of libopenblas0-openmp).
PyTorch runs with OMP_WAIT_POLICY=PASSIVE unless --torch-omp-wait-policy
says otherwise: on a shared machine libgomp's default spinning made its
2-thread step 5x slower than its 1-thread one (passive: about as fast),
which would flatter the comparison.
OPENBLAS_NUM_THREADS and OMP_NUM_THREADS are set to the thread count. The
results record the BLAS each PyTorch run mapped (torch_train_step.py's
"blas"), the CPU, and the load average before each round: the machine may
be shared, and only ratios from the same rounds compare.

Both programs build their model from the same arch and shape JSON; the run
stops if their parameter counts differ.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

MODELS = {
    "stories260k": ("bench/train/arch_stories260k.json", "bench/train/shape_stories260k.json", 10),
    "stories260k-candidate": ("bench/train/arch_stories_candidate.json", "bench/train/shape_stories260k.json", 10),
    "15m": ("bench/latency/arch_15m.json", "bench/latency/shape_15m.json", 3),
}


def run(cmd, threads, library_dir=None, wait_policy=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    if wait_policy:
        env["OMP_WAIT_POLICY"] = wait_policy
    if library_dir:
        env["LD_LIBRARY_PATH"] = library_dir + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=ROOT)
    return json.loads(out.stdout)


def cpu_model():
    with open("/proc/cpuinfo") as f:
        info = {}
        for line in f:  # the first processor's fields
            if ":" in line:
                key, value = line.split(":", 1)
                info.setdefault(key.strip(), value.strip())
    flags = info.get("flags", "").split()
    return {"model_name": info.get("model name", ""), "family": info.get("cpu family", ""),
            "model": info.get("model", ""), "cpus": os.cpu_count(),
            "avx2": "avx2" in flags, "avx512f": "avx512f" in flags}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--torch-blas-dir", default=None,
                    help="directory with the libblas.so.3 PyTorch should load (default: the system's)")
    ap.add_argument("--torch-omp-wait-policy", default="PASSIVE",
                    help="OMP_WAIT_POLICY for PyTorch ('' leaves libgomp's default, active spinning)")
    ap.add_argument("--output", default=None, help="also write the JSON here")
    args = ap.parse_args()
    bench = os.path.join(args.build, "bench/train/bench_train_speed")
    results = []
    for name in args.models.split(","):
        arch, shape, steps = MODELS[name]
        for threads in [int(t) for t in args.threads.split(",")]:
            common = ["--arch", arch, "--shape", shape, "--batch", str(args.batch), "--ctx", str(args.ctx),
                      "--threads", str(threads), "--steps", str(steps), "--warmup", "1"]
            ours, theirs, loads = [], [], []
            for _ in range(args.rounds):
                loads.append(round(os.getloadavg()[0], 2))
                a = run([bench] + common, threads)
                b = run(["/usr/bin/python3", os.path.join(HERE, "torch_train_step.py")] + common, threads,
                        args.torch_blas_dir, args.torch_omp_wait_policy)
                if a["params"] != b["params"]:
                    sys.exit(f"{name}: flashnas has {a['params']} parameters, PyTorch {b['params']}: not the same model")
                ours.append(a["median_ms"])
                theirs.append(b["median_ms"])
                blas = b["blas"]
            tokens = args.batch * args.ctx
            r = {"model": name, "threads": threads, "tokens_per_step": tokens, "params": a["params"],
                 "arch": arch, "shape": shape, "pytorch_blas": blas,
                 "pytorch_omp_wait_policy": args.torch_omp_wait_policy or "default", "load_average_1min": loads,
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
    out = json.dumps({"date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "cpu": cpu_model(),
                      "rounds": args.rounds, "batch": args.batch, "ctx": args.ctx, "results": results}, indent=1)
    print(out)
    if args.output:
        with open(args.output, "w") as f:
            f.write(out + "\n")


if __name__ == "__main__":
    main()
