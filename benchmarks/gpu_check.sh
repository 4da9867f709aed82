#!/usr/bin/env bash
# Prove the GPU path of lesson 09 in one command (details: benchmarks/gpu_check.py).
#   bash benchmarks/gpu_check.sh               # on a CUDA GPU: tests, parity, throughput, a
#                                              # 2000-update run; writes benchmarks/results/
#                                              # gpu_check.json and a RESULTS.md entry
#   bash benchmarks/gpu_check.sh --device cpu  # the same code at tiny sizes (CI), ~1 minute
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" benchmarks/gpu_check.py "$@"
