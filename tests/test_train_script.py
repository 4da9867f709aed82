"""scripts/train_cifar10.py as a careless or unlucky user runs it: bad flags, missing files,
changed settings on resume, corrupt or half-written checkpoints, two runs at once, a full disk.

Each case must end in a short message that names the problem and the flag to change (exit 2, or
4 for a failed write), never in a traceback, and never after a long training run. The runs are
dry runs (tiny networks on a stand-in in CIFAR-10's format), called in-process through
``main(argv)`` except where a separate process is the point.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from sngan_teach import metrics

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_cifar10.py"


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No Inception weights anywhere (the real file is not on this machine either)."""
    monkeypatch.delenv(metrics.ENV_WEIGHTS, raising=False)
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))


def dry(out: Path, *flags: str) -> list[str]:
    return ["--dry-run", "--steps", "2", "--out", str(out), *flags]


def exits_with(capsys, call, code: int = 2) -> str:
    """Run ``call``; it must exit (SystemExit) or return ``code``; return what it printed."""
    try:
        result = call()
    except SystemExit as stop:
        result = stop.code
    assert result == code, capsys.readouterr()
    printed = capsys.readouterr()
    return printed.out + printed.err


def test_dry_runs_have_their_own_default_folder(train_script):
    assert Path(train_script.parse_args(["--dry-run"]).out).name == "dry_paper-cnn_ns_sn"
    assert Path(train_script.parse_args(["--no-eval"]).out).name == "paper-cnn_ns_sn"


def test_bad_flags_are_refused_at_start_up(train_script, tmp_path, capsys, no_weights):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    cases = [
        (["--no-eval", "--slim", "0"], "--slim: invalid choice: 0"),
        (["--no-eval", "--device", "gpu"], "--device must be cpu, cuda"),
        (["--no-eval", "--out", str(a_file)], "is a file"),
        (["--no-eval", "--out", str(a_file / "run")], "cannot create or write a folder"),
        (["--eval-fake", "0", "--stand-in"], "--eval-fake and --eval-real must be >= 1"),
        (["--eval-real", "-3", "--stand-in"], "--eval-fake and --eval-real must be >= 1"),
        (["--eval-fake", "5", "--stand-in"], "--eval-fake 5 / --eval-real 50000 too small"),
    ]
    if not torch.cuda.is_available():
        cases.append((["--no-eval", "--device", "cuda"], "--device cuda: PyTorch sees no CUDA"))
    for argv, message in cases:
        assert message in exits_with(capsys, lambda argv=argv: train_script.parse_args(argv)), argv


def test_without_inception_weights_the_run_does_not_start(
    train_script, tmp_path, capsys, no_weights
):
    printed = exits_with(capsys, lambda: train_script.main(["--out", str(tmp_path / "run")]))
    assert "no Inception weights at" in printed and "--no-eval" in printed
    assert "--inception-weights" in printed and "--download" in printed
    assert not (tmp_path / "run").exists()  # nothing was started
    garbage = tmp_path / "weights.pth"
    garbage.write_bytes(b"garbage")
    argv = ["--inception-weights", str(garbage), "--out", str(tmp_path / "run")]
    printed = exits_with(capsys, lambda: train_script.main(argv))
    assert f"{garbage} is not the Inception weights file" in printed and "--no-eval" in printed


def test_missing_data_advice_names_the_flags(train_script, tmp_path, capsys):
    argv = ["--no-eval", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "run")]
    printed = exits_with(capsys, lambda: train_script.main(argv))
    assert "no CIFAR-10 folder at" in printed
    assert "--data" in printed and "--download" in printed and "load_cifar10(" not in printed


def test_resume_with_other_settings_is_refused_naming_them(train_script, tmp_path, capsys):
    out = tmp_path / "run"
    assert train_script.main(dry(out)) == 0
    config = (out / "config.json").read_text()
    printed = exits_with(capsys, lambda: train_script.main(dry(out, "--loss", "hinge")))
    assert "--loss hinge (checkpoint: ns)" in printed and "another --out" in printed
    printed = exits_with(
        capsys, lambda: train_script.main(dry(out, "--arch", "resnet", "--seed", "1"))
    )
    assert "--arch resnet (checkpoint: standard), --seed 1 (checkpoint: 0)" in printed
    assert (out / "config.json").read_text() == config  # written only after the check
    assert json.loads((out / "results.json").read_text())["loss"] == "ns"
    # --steps below the checkpoint's step is named as such
    printed = exits_with(capsys, lambda: train_script.main(dry(out, "--steps", "1")))
    assert "is at step 2, beyond --steps 1" in printed
    # flags that do not change the run may differ
    assert train_script.main(dry(out, "--log-every", "5", "--eval-fake", "50")) == 0


def test_corrupt_newest_checkpoint_falls_back_and_stale_temp_files_go(
    train_script, tmp_path, capsys
):
    out = tmp_path / "run"
    assert train_script.main(dry(out)) == 0
    newest = out / "ckpt_00000002.pt"
    newest.write_bytes(newest.read_bytes()[:1000])  # truncated
    stale = out / ".ckpt_00000003.pt.k2j3h4.tmp"  # left by a kill during a write
    stale.write_bytes(b"\0" * 5000)
    capsys.readouterr()
    assert train_script.main(dry(out)) == 0
    printed = capsys.readouterr()
    assert f"checkpoint {newest} does not load" in printed.err
    assert "using the older ckpt_00000001.pt instead" in printed.err
    assert "resuming from step 1" in printed.out
    assert not stale.exists()
    assert train_script.main(dry(out)) == 0  # the rewritten step-2 checkpoint loads again
    # none loads: named, and how to start afresh
    for path in out.glob("ckpt_*.pt"):
        path.write_text("")
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    assert "no checkpoint in" in printed and "Move the ckpt_*.pt files away" in printed


def test_a_second_run_into_the_same_folder_is_refused(train_script, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import fcntl, os, sys, time
            f = open(sys.argv[1], "a+")
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write(f"{os.getpid()}\\n")
            f.flush()
            print("locked", flush=True)
            time.sleep(120)
        """), str(out / ".lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "locked"
        printed = exits_with(capsys, lambda: train_script.main(dry(out)))
        assert f"another run (PID {holder.pid}) is using {out}" in printed
        assert not list(out.glob("ckpt_*"))
    finally:
        holder.kill()
        holder.wait()
    # the lock holder has gone: its lock file is stale and does not block
    assert (out / ".lock").read_text().strip() == str(holder.pid)
    assert train_script.main(dry(out)) == 0


def test_a_full_disk_ends_with_advice_not_a_traceback(tmp_path):
    # A file-size limit makes writes fail as a full disk does (EFBIG instead of ENOSPC): the
    # stand-in data and sample grids fit under 1 MB, a checkpoint does not.
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, resource.RLIM_INFINITY))

    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *dry(out)], preexec_fn=limit,
        capture_output=True, text=True, timeout=600, env=os.environ | {"OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    assert done.returncode == 4, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert "error: could not write" in done.stderr and "Free space" in done.stderr
    assert "--out" in done.stderr
    assert not list(out.glob(".ckpt_*.tmp"))
