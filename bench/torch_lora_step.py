"""PyTorch baseline for the bench's GPT-2-small-shaped LoRA step (CPU, float32).

Same shapes as bench/gpt2LoraStep.ts: 12 layers, d=768, 12 heads, batch 4 x 128 tokens, vocabulary 50257,
tied LM head, tanh-GELU, LoRA r=8 (alpha 16) on c_attn only. Frozen weights are random and require no grad;
only the LoRA A/B tensors are trainable, so backward computes activation gradients plus LoRA weight gradients.
Prints one JSON line: {"torch": version, "threads": n, "forward_ms": best, "step_ms": best, ...}.
Run with Debian's python: /usr/bin/python3 bench/torch_lora_step.py [--repeats N] [--threads N]
"""
import argparse
import json
import math
import os
import time

import torch

p = argparse.ArgumentParser()
p.add_argument("--repeats", type=int, default=3)
p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
p.add_argument("--layers", type=int, default=12)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)

L, D, H, B, S, V, R, ALPHA = args.layers, 768, 12, 4, 128, 50257, 8, 16
HD = D // H


def frozen(*shape):
    return torch.randn(*shape) * 0.02


wte, wpe = frozen(V, D), frozen(S, D)
layers = []
for _ in range(L):
    layers.append(dict(
        ln1_g=torch.ones(D), ln1_b=torch.zeros(D),
        attn_w=frozen(D, 3 * D), attn_b=torch.zeros(3 * D),
        proj_w=frozen(D, D), proj_b=torch.zeros(D),
        ln2_g=torch.ones(D), ln2_b=torch.zeros(D),
        fc_w=frozen(D, 4 * D), fc_b=torch.zeros(4 * D),
        fcp_w=frozen(4 * D, D), fcp_b=torch.zeros(D),
        lora_a=(torch.randn(D, R) / math.sqrt(D)).requires_grad_(),
        lora_b=(torch.randn(R, 3 * D) * 0.01).requires_grad_(),
    ))
lnf_g, lnf_b = torch.ones(D), torch.zeros(D)
causal = torch.full((S, S), float("-inf")).triu(1)
ids = torch.randint(0, V, (B, S))
labels = torch.randint(0, V, (B, S))


def gelu_tanh(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def forward():
    h = wte[ids] + wpe[:S]
    for p_ in layers:
        x = torch.nn.functional.layer_norm(h, (D,), p_["ln1_g"], p_["ln1_b"], 1e-5)
        qkv = x @ p_["attn_w"] + p_["attn_b"] + (x @ p_["lora_a"]) @ p_["lora_b"] * (ALPHA / R)
        q, k, v = qkv.split(D, dim=-1)
        q, k, v = (t.view(B, S, H, HD).transpose(1, 2) for t in (q, k, v))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(HD) + causal, dim=-1)
        a = (att @ v).transpose(1, 2).reshape(B, S, D)
        h = h + a @ p_["proj_w"] + p_["proj_b"]
        x = torch.nn.functional.layer_norm(h, (D,), p_["ln2_g"], p_["ln2_b"], 1e-5)
        h = h + gelu_tanh(x @ p_["fc_w"] + p_["fc_b"]) @ p_["fcp_w"] + p_["fcp_b"]
    h = torch.nn.functional.layer_norm(h, (D,), lnf_g, lnf_b, 1e-5)
    logits = h @ wte.T
    return torch.nn.functional.cross_entropy(logits.view(-1, V), labels.view(-1))


def best_ms(fn):
    fn()  # warm-up
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return min(times)


def step():
    for p_ in layers:
        p_["lora_a"].grad = None
        p_["lora_b"].grad = None
    forward().backward()


with torch.no_grad():
    fwd = best_ms(forward)
stp = best_ms(step)
print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "layers": L,
                  "forward_ms": fwd, "step_ms": stp, "repeats": args.repeats}))
