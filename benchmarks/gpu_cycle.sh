#!/usr/bin/env bash
# The GPU benchmarks in one command, on a machine with a CUDA device and the CIFAR-10 files:
#
#   bash benchmarks/gpu_cycle.sh DATA_ROOT [EPOCHS]
#
# 1. benchmarks/gpu_cycle.py: one random and one DISAL cycle of the CIFAR-10 protocol (the real
#    files under DATA_ROOT, CIFAR ResNet-18, 5,000 labeled, EPOCHS epochs, default 200; 2,500
#    selected from a subset of 25,000) -> benchmarks/gpu_cycle.json, the ratio beside DISAL
#    Table 1's 1.20 (359 s / 299 s on an RTX 3090 Ti);
# 2. benchmarks/paper_shape.py --device cuda: the same shape on random inputs, one pair
#    -> benchmarks/paper_shape_cuda.json;
# 3. the README's benchmark block rewritten from the JSON files.
# At 200 epochs each training is about a million image-steps: pass e.g. EPOCHS=20 (a tenth of
# the paper's training; the JSON and the README state the fraction) where device time is short.
set -euo pipefail
root="${1:?usage: bash benchmarks/gpu_cycle.sh DATA_ROOT [EPOCHS]}"
epochs="${2:-200}"
py="${PYTHON:-python}"
cd "$(dirname "$0")/.."
"$py" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: this script measures the GPU cycle')"
"$py" benchmarks/gpu_cycle.py --root "$root" --device cuda --epochs "$epochs"
"$py" benchmarks/paper_shape.py --device cuda --epochs "$epochs" --repeats 1 --out benchmarks/paper_shape_cuda.json
"$py" benchmarks/run_benchmarks.py --readme-only
