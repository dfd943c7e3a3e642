#!/usr/bin/python3
"""PyTorch eager timings of bench_train_kernels' products, for comparison.

The same shapes and the same best-of-repeats: out = x w^T forward; dx = dy w
and dw = dy^T x backward (as autograd runs them); attention as
torch_train_step.py writes it (scores, causal mask, softmax, weights @ v,
kv heads repeated for grouped queries), its forward and its autograd backward.
Prints one JSON object shaped like bench_train_kernels'. As there, one
thread is timed in the thread's CPU time, more in wall time.

  OMP_NUM_THREADS=1 /usr/bin/python3 bench/train/torch_train_kernels.py --threads 1
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn.functional as F

GEMMS = [(2048, 512, 512, "d512 wq"), (2048, 512, 1408, "d512 w_up"), (2048, 1024, 1024, "d1024 wq"),
         (2048, 1024, 2816, "d1024 w_up"), (2048, 2816, 1024, "d1024 w_down"), (2048, 2048, 2048, "d2048 wq"),
         (2048, 2048, 5632, "d2048 w_up"), (256, 1024, 32000, "head, one sequence")]
ATTENTION = [(8, 8, 64), (16, 16, 64), (16, 8, 128), (8, 4, 8)]


CLOCK = time.perf_counter


def best_seconds(repeats, f):
    f()
    best = 1e30
    for _ in range(repeats):
        t0 = CLOCK()
        f()
        best = min(best, CLOCK() - t0)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    global CLOCK
    if args.threads == 1:
        CLOCK = time.thread_time
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    gemms, attention = [], []
    with torch.no_grad():
        for T, K, N, what in GEMMS:
            x, w, dy = torch.rand(T, K) * 2 - 1, torch.rand(N, K) * 2 - 1, torch.rand(T, N) * 2 - 1
            flops = 2.0 * T * K * N
            fwd = best_seconds(args.repeats, lambda: x @ w.t())
            bwd = best_seconds(args.repeats, lambda: (dy @ w, dy.t() @ x))
            gemms.append({"what": what, "T": T, "K": K, "N": N, "forward_gflops": flops / fwd * 1e-9,
                          "backward_gflops": 2 * flops / bwd * 1e-9})
            print(f"gemm {T} x {K} x {N}: forward {flops / fwd * 1e-9:.1f}, backward {2 * flops / bwd * 1e-9:.1f} GFLOP/s",
                  file=sys.stderr)
    B, T = 8, 256
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for NH, KVH, HS in ATTENTION:
        q = (torch.rand(B, NH, T, HS) * 2 - 1).requires_grad_()
        k = (torch.rand(B, KVH, T, HS) * 2 - 1).requires_grad_()
        v = (torch.rand(B, KVH, T, HS) * 2 - 1).requires_grad_()

        def forward():
            kk, vv = k.repeat_interleave(NH // KVH, dim=1), v.repeat_interleave(NH // KVH, dim=1)
            s = (q @ kk.transpose(-1, -2) / math.sqrt(HS)).masked_fill(~mask, float("-inf"))
            return F.softmax(s, dim=-1) @ vv

        dout = torch.rand(B, NH, T, HS)
        with torch.no_grad():
            fwd = best_seconds(args.repeats, forward)
        state = {}

        def backward():
            state["out"].backward(dout)

        def timed_backward():
            state["out"] = forward()  # untimed: the graph to differentiate
            t0 = CLOCK()
            backward()
            return CLOCK() - t0

        timed_backward()
        bwd = min(timed_backward() for _ in range(args.repeats))
        pairs = B * NH * T * (T + 1) / 2
        f_fwd = 2 * 2 * pairs * HS
        attention.append({"B": B, "T": T, "NH": NH, "KVH": KVH, "HS": HS, "forward_ms": 1e3 * fwd,
                          "backward_ms": 1e3 * bwd, "forward_gflops": f_fwd / fwd * 1e-9,
                          "backward_gflops": 2.5 * f_fwd / bwd * 1e-9})
        print(f"attention NH {NH} KVH {KVH} HS {HS}: forward {1e3 * fwd:.2f} ms, backward {1e3 * bwd:.2f} ms",
              file=sys.stderr)
    print(json.dumps({"engine": "pytorch", "version": torch.__version__, "threads": args.threads,
                      "clock": "thread_cpu" if args.threads == 1 else "wall",
                      "repeats": args.repeats, "gemm": gemms, "attention": attention}))


if __name__ == "__main__":
    main()
