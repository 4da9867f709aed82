"""Tests for benchmarks/gpu_check.sh and benchmarks/bench_cifar.py, run on the CPU (lesson 09)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_cifar  # noqa: E402
import gpu_check  # noqa: E402

from sngan_teach.recipes import get_recipe  # noqa: E402


def test_compiled_graph_counter_sees_a_recompilation():
    f = torch.compile(torch.nn.Linear(3, 2), backend="eager", dynamic=False)
    f(torch.randn(4, 3))
    before = gpu_check.compiled_graphs()
    f(torch.randn(4, 3))  # same shape: the compiled graph is reused
    assert gpu_check.compiled_graphs() == before
    f(torch.randn(5, 3))  # a new static shape compiles again
    assert gpu_check.compiled_graphs() == before + 1


def test_results_entry_goes_at_the_end_of_its_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(f"# Results\n\n{gpu_check.SECTION}\n\nintro\n\n## Other\n\ntext\n")
    gpu_check.add_results_entry(path, "### new entry\n")
    text = path.read_text()
    assert text.index("intro") < text.index("### new entry") < text.index("## Other")
    bare = tmp_path / "bare.md"
    bare.write_text("# Results\n")
    gpu_check.add_results_entry(bare, "### new entry\n")
    assert bare.read_text().endswith(f"{gpu_check.SECTION}\n\n### new entry\n")


def test_fast_and_eager_loops_start_from_the_same_state():
    recipe = get_recipe("paper-cnn") | {"batch_d": 4, "batch_g": 4}
    images = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    device = torch.device("cpu")
    a = bench_cifar.lesson_loop(recipe, 16, images, device, fast=True)
    b = bench_cifar.lesson_loop(recipe, 16, images, device, fast=False)
    for key, value in a["net_D"].state_dict().items():
        torch.testing.assert_close(b["net_D"].state_dict()[key], value, rtol=0, atol=0)
    out_a, out_b = a["step"](), b["step"]()  # on a CPU both are fp32 eager: same numbers
    assert float(out_a["loss_D"]) == float(out_b["loss_D"])
    plain = bench_cifar.plain_loop(recipe, 16, images, device)
    assert isinstance(plain(), float)


def test_gpu_check_runs_on_the_cpu(tmp_path):
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--device", "cpu"]
        + ["--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["gpu"].startswith("none (CPU")
    for arch in ("standard", "resnet"):
        r = report[arch]
        for key in ("fast_g_updates_per_s", "eager_g_updates_per_s", "plain_g_updates_per_s"):
            assert r[key] > 0, (arch, key)
        par = r["parity"]
        # on a CPU the fast loop is the eager one: any difference is a fault of the harness
        assert par["first_loss_rel_diff"] == 0 and par["last10_loss_abs_diff"] == 0, par
        assert par["graphs_after_warmup"] == 0 and par["bn_batch_counts_equal"], par
        assert par["sn_u_min_change"] > 0 and par["sn_u_min_cosine_fast_eager"] > 0.999, par
    assert report["tests"]["ok"] and report["script"]["ok"], report["script"]
    assert (tmp_path / "gpu_check_grid.png").stat().st_size > 0
    assert (tmp_path / "RESULTS_entry.md").read_text().startswith("### ")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fast_loop_agrees_with_eager_on_the_first_update():
    recipe = get_recipe("paper-resnet") | {"batch_d": 16, "batch_g": 32, "n_dis": 2}
    images = torch.randint(0, 256, (256, 3, 32, 32), dtype=torch.uint8)
    device = torch.device("cuda")
    fast = bench_cifar.lesson_loop(recipe, 8, images, device, fast=True)  # bf16, no compile
    eager = bench_cifar.lesson_loop(recipe, 8, images, device, fast=False)
    a, b = fast["step"](), eager["step"]()
    for key in ("loss_D", "loss_G"):
        assert abs(float(a[key]) - float(b[key])) <= 0.05 * max(1.0, abs(float(b[key]))), key
    convs = [w for w in fast["net_D"].parameters() if w.dim() == 4]
    assert convs and all(w.is_contiguous(memory_format=torch.channels_last) for w in convs)
