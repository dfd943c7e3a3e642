#!/usr/bin/python3
"""PyTorch eager reference of a flashnas training step, for the speed comparison.

The same model as engine/train (Llama block with per-layer full / swa / skip
attention, grouped-query heads, interleaved RoPE, RMSNorm, SwiGLU with
per-layer widths, tied or untied head) and the same step as heal_model:
forward, mean cross-entropy, backward, global gradient-norm clipping at 1.0,
AdamW (betas 0.9/0.95, decay 0). Random weights and tokens: speed depends only
on the shape. Attention is the usual eager form: (B, NH, T, T) scores with a
mask. Prints one JSON object like bench_train_speed.

Run with Debian's python3-torch (1.13): /usr/bin/python3, not a pyenv python.
A benchmark dependency only, never a build or test one.
"""
import argparse
import ctypes
import json
import math
import re
import time

import torch
import torch.nn.functional as F


def load(path):
    with open(path) as f:
        return json.load(f)


class Model(torch.nn.Module):
    def __init__(self, arch, shape, ctx):
        super().__init__()
        C, NH, KVH, HS, V = arch["d_model"], shape["n_heads"], shape["n_kv_heads"], shape["head_dim"], shape["vocab_size"]
        L = arch["n_layers"]
        ffn = arch["d_ffn"] if isinstance(arch["d_ffn"], list) else [arch["d_ffn"]] * L
        kinds = arch.get("layer_types", ["full"] * L)
        self.C, self.NH, self.KVH, self.HS = C, NH, KVH, HS
        self.kinds, self.window = kinds, arch.get("sliding_window", 0)

        def p(*size, scale):
            return torch.nn.Parameter((torch.rand(*size) * 2 - 1) * scale)

        self.tok_embd = p(V, C, scale=1.0)
        self.tied = shape.get("tied_embeddings", False)
        self.output = None if self.tied else p(V, C, scale=math.sqrt(3 / C))
        self.out_norm = torch.nn.Parameter(torch.ones(C))
        self.layers = torch.nn.ModuleList()
        for kind, ff in zip(kinds, ffn):
            layer = torch.nn.Module()
            if kind != "skip":
                layer.attn_norm = torch.nn.Parameter(torch.ones(C))
                layer.wq = p(NH * HS, C, scale=math.sqrt(3 / C))
                layer.wk = p(KVH * HS, C, scale=math.sqrt(3 / C))
                layer.wv = p(KVH * HS, C, scale=math.sqrt(3 / C))
                layer.wo = p(C, NH * HS, scale=math.sqrt(3 / (NH * HS)))
            layer.ffn_norm = torch.nn.Parameter(torch.ones(C))
            layer.w_gate = p(ff, C, scale=math.sqrt(3 / C))
            layer.w_up = p(ff, C, scale=math.sqrt(3 / C))
            layer.w_down = p(C, ff, scale=math.sqrt(3 / ff))
            self.layers.append(layer)
        # Interleaved RoPE: pairs (2i, 2i+1) rotated by p * theta^(-2i/HS).
        freq = 10000.0 ** (-torch.arange(0, HS, 2).float() / HS)
        angle = torch.arange(ctx).float()[:, None] * freq[None, :]
        self.register_buffer("cos", angle.cos())
        self.register_buffer("sin", angle.sin())
        pos = torch.arange(ctx)
        causal = pos[None, :] <= pos[:, None]
        self.register_buffer("mask_full", causal)
        self.register_buffer("mask_swa", causal & (pos[None, :] > pos[:, None] - max(self.window, 1)))

    def rmsnorm(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * w

    def rope(self, x):  # x (B, T, H, HS)
        x0, x1 = x[..., 0::2], x[..., 1::2]
        c, s = self.cos[: x.shape[1], None, :], self.sin[: x.shape[1], None, :]
        return torch.stack((x0 * c - x1 * s, x0 * s + x1 * c), dim=-1).flatten(-2)

    def forward(self, tokens):
        B, T = tokens.shape
        x = self.tok_embd[tokens]
        for kind, layer in zip(self.kinds, self.layers):
            if kind != "skip":
                n = self.rmsnorm(x, layer.attn_norm)
                q = self.rope((n @ layer.wq.t()).view(B, T, self.NH, self.HS)).transpose(1, 2)
                k = self.rope((n @ layer.wk.t()).view(B, T, self.KVH, self.HS)).transpose(1, 2)
                v = (n @ layer.wv.t()).view(B, T, self.KVH, self.HS).transpose(1, 2)
                group = self.NH // self.KVH
                k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
                s = q @ k.transpose(-1, -2) / math.sqrt(self.HS)
                mask = self.mask_swa if kind == "swa" else self.mask_full
                s = s.masked_fill(~mask[:T, :T], float("-inf"))
                a = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, self.NH * self.HS)
                x = x + a @ layer.wo.t()
            n = self.rmsnorm(x, layer.ffn_norm)
            x = x + (F.silu(n @ layer.w_gate.t()) * (n @ layer.w_up.t())) @ layer.w_down.t()
        out = self.tok_embd if self.tied else self.output
        return self.rmsnorm(x, self.out_norm) @ out.t()


def blas_info():
    """Which BLAS this process runs: torch's build setting and the libraries it maps."""
    torch.ones(8, 8) @ torch.ones(8, 8)  # make sure the BLAS is loaded
    with open("/proc/self/maps") as f:
        mapped = sorted({line.split()[-1] for line in f if re.search(r"blas|lapack|mkl", line)})
    build = re.search(r"BLAS_INFO=([^,\s]+)", torch.__config__.show())
    info = {"blas_info": build.group(1) if build else "unknown", "mapped": mapped,
            "parallel_backend": "OpenMP" if "OpenMP" in torch.__config__.parallel_info() else "other"}
    for path in mapped:  # OpenBLAS says how it was built and which threading it uses
        if "openblas" in path and "libopenblas" in path.rsplit("/", 1)[-1]:
            lib = ctypes.CDLL(path)
            lib.openblas_get_config.restype = ctypes.c_char_p
            info["openblas_config"] = lib.openblas_get_config().decode()
            info["openblas_parallel"] = {0: "sequential", 1: "pthread", 2: "openmp"}.get(
                lib.openblas_get_parallel(), "unknown")
            info["openblas_threads"] = lib.openblas_get_num_threads()
    return info


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", required=True)
    ap.add_argument("--shape", required=True)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    arch, shape = load(args.arch), load(args.shape)
    model = Model(arch, shape, args.ctx)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    V = shape["vocab_size"]
    ms = []
    for step in range(args.warmup + args.steps):
        tokens = torch.randint(0, V, (args.batch, args.ctx + 1))
        t0 = time.perf_counter()
        logits = model(tokens[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, V), tokens[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= args.warmup:
            ms.append(1e3 * (time.perf_counter() - t0))
    med = sorted(ms)[len(ms) // 2] if len(ms) % 2 else 0.5 * sum(sorted(ms)[len(ms) // 2 - 1: len(ms) // 2 + 1])
    print(json.dumps({
        "engine": "pytorch", "version": torch.__version__, "blas": blas_info(),
        "params": sum(p.numel() for p in model.parameters()),
        "batch": args.batch, "ctx": args.ctx, "threads": args.threads,
        "step_ms": ms, "median_ms": med,
        "tokens_per_second": 1e3 * args.batch * args.ctx / med,
    }))


if __name__ == "__main__":
    main()
