"""scripts/train_cifar10.py as a careless or unlucky user runs it: bad flags, missing files,
changed settings on resume, corrupt or half-written checkpoints, two runs at once, a full disk.

Each case must end in a short message that names the problem and the flag to change (exit 2, or
4 for a failed write), never in a traceback, and never after a long training run. The runs are
dry runs (tiny networks on a stand-in in CIFAR-10's format), called in-process through
``main(argv)`` except where a separate process is the point.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from sngan_teach import inception
from sngan_teach.cifar import fixture_images
from sngan_teach.recipes import RECIPES

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_cifar10.py"


@pytest.fixture
def no_weights(tmp_path, monkeypatch):
    """No Inception weights anywhere (the real file is not on this machine either)."""
    monkeypatch.delenv(inception.ENV_WEIGHTS, raising=False)
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


def test_a_failed_write_names_its_error_and_only_a_full_disk_gets_disk_advice(tmp_path):
    # A file-size limit makes the checkpoint write fail with EFBIG ("File too large"): the
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
    assert f"error: could not write {out / 'ckpt_00000001.pt'}: File too large" in done.stderr
    assert "Free space" not in done.stderr and "--out" in done.stderr
    assert not list(out.glob(".ckpt_*.tmp"))


def test_a_full_disk_ends_with_disk_advice(train_script, tmp_path, capsys, monkeypatch):
    # the disk fills up while step 2's checkpoint is flushed (ENOSPC, as a real full disk)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if ".ckpt_00000002.pt." in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    out = tmp_path / "run"
    printed = exits_with(capsys, lambda: train_script.main(dry(out)), code=4)
    assert f"could not write {out / 'ckpt_00000002.pt'}: No space left on device" in printed
    assert "Free space on that disk" in printed and "pass --out on another disk" in printed
    assert f"resumes from {out / 'ckpt_00000001.pt'}" in printed
    assert not list(out.glob(".ckpt_*.tmp"))


def test_paths_in_the_way_are_named_not_taken_for_a_full_disk(train_script, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "samples").write_text("a file where the sample grids go")
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    assert f"{out / 'samples'} is a file, not a folder; move it away" in printed
    (out / "samples").unlink()
    (out / "config.json").mkdir()
    printed = exits_with(capsys, lambda: train_script.main(dry(out)), code=4)
    assert f"could not write {out / 'config.json'}: Is a directory" in printed
    assert "Free space" not in printed


def test_links_planted_in_the_folder_are_never_written_through(train_script, tmp_path, capsys):
    outside = tmp_path / "outside"
    outside.mkdir()
    out = tmp_path / "run"
    out.mkdir()
    victims = {}
    for name in (".lock", "config.json", "history.json", "results.json"):
        victims[name] = outside / name
        victims[name].write_text("precious")
        (out / name).symlink_to(victims[name])
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    assert f"{out / '.lock'} is a link or not a plain file" in printed
    (out / ".lock").unlink()
    os.link(victims[".lock"], out / ".lock")  # a hard link is refused as well
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    assert f"{out / '.lock'} is a link or not a plain file" in printed
    (out / ".lock").unlink()
    # the sample grids and the dry run's stand-in data are written by name too
    (out / "samples").mkdir()
    victims["grid"] = outside / "grid.png"
    victims["grid"].write_text("precious")
    (out / "samples" / "step_00000000.png").symlink_to(victims["grid"])
    (out / "fixture" / "cifar-10-batches-py").mkdir(parents=True)
    victims["batch"] = outside / "batch"
    victims["batch"].write_text("precious")
    (out / "fixture" / "cifar-10-batches-py" / "data_batch_1").symlink_to(victims["batch"])
    assert train_script.main(dry(out)) == 0
    assert all(path.read_text() == "precious" for path in victims.values())
    for name in ("config.json", "history.json", "results.json", "samples/step_00000000.png"):
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 10, name
    assert json.loads((out / "results.json").read_text())["steps"] == 2
    # a linked folder would take the writes outside: refused
    shutil.rmtree(out / "samples")
    (out / "samples").symlink_to(outside, target_is_directory=True)
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    assert f"{out / 'samples'} is a symbolic link, not a folder" in printed


def test_a_fifo_or_folder_named_like_a_checkpoint_falls_back_to_the_older_one(
    train_script, tmp_path, capsys
):
    out = tmp_path / "run"
    assert train_script.main(dry(out)) == 0
    newest = out / "ckpt_00000002.pt"
    newest.unlink()
    os.mkfifo(newest)
    capsys.readouterr()
    assert train_script.main(dry(out)) == 0
    printed = capsys.readouterr()
    assert f"warning: checkpoint {newest} is a FIFO, not a file; using the older" in printed.err
    assert f"resuming from step 1 ({out / 'ckpt_00000001.pt'})" in printed.out
    assert newest.is_file()  # the run wrote its step-2 checkpoint over the FIFO
    # a folder beyond --steps is skipped the same way; one where the run would write is named
    (out / "ckpt_00000003.pt").mkdir()
    assert train_script.main(dry(out)) == 0
    assert "ckpt_00000003.pt is a folder, not a file; using the older" in capsys.readouterr().err
    (out / "ckpt_00000003.pt").rmdir()
    newest.unlink()
    newest.mkdir()
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    assert f"{newest} is a folder where this run will write its step-2 checkpoint" in printed
    assert "Free space" not in printed


def test_size_flags_are_bounded_at_start_up(train_script, capsys, no_weights):
    cases = [
        (["--eval-fake", "100000000000", "--stand-in"], "--eval-fake 100000000000: scoring them"),
        (["--no-eval", "--batch-g", "1000000000"], "a training step needs at least"),
        (["--no-eval", "--batch-d", "1000000000"], "a training step needs at least"),
        (["--no-eval", "--seed", "-1"], "--seed must be in 0..9223372036854775807"),
        (["--no-eval", "--seed", str(2**63)], "--seed must be in 0..9223372036854775807"),
        (["--no-eval", "--device", "meta"], "--device must be cpu, cuda, cuda:N or mps"),
        (["--no-eval", "--alpha", "inf"], "--alpha must be finite and > 0"),
    ]
    for argv, message in cases:
        printed = exits_with(capsys, lambda argv=argv: train_script.parse_args(argv))
        assert message in printed and printed.count("error:") == 1, (argv, printed)
    # the largest seed is a valid one, and the paper's sizes pass
    args = train_script.parse_args(["--no-eval", "--seed", str(2**63 - 1)])
    assert args.seed == 2**63 - 1 and args.batch_g == RECIPES["paper-cnn"]["batch_g"]


def test_a_foreign_checkpoint_is_refused_naming_what_it_lacks(train_script, tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    ckpt = out / "ckpt_00000001.pt"
    torch.save({"weights": torch.zeros(3)}, ckpt)
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    lacks = "the checkpoint has no step (int), modules (dict), optimizers (dict)"
    assert f"{ckpt} is not a checkpoint of this script: {lacks}" in printed
    assert "Move it away" in printed
    assert "Traceback" not in printed and not (out / "config.json").exists()
    # one of this script's checkpoints without its configuration
    ckpt.unlink()
    assert train_script.main(dry(out)) == 0
    config = (out / "config.json").read_text()
    state = torch.load(ckpt, weights_only=True)
    saved_config = state["extra"].pop("config")
    torch.save(state, ckpt)
    (out / "ckpt_00000002.pt").unlink()
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    assert f"{ckpt} is not a checkpoint of this script: it stores no run configuration" in printed
    # its configuration, but weights of other shapes
    state["extra"]["config"] = saved_config
    key = next(k for k in state["modules"]["net_G"] if k.endswith("weight"))
    state["modules"]["net_G"][key] = torch.zeros(2, 2)
    torch.save(state, ckpt)
    printed = exits_with(capsys, lambda: train_script.main(dry(out)))
    assert f"{ckpt} does not fit this run: the checkpoint's net_G does not fit" in printed
    assert "size mismatch" in printed and "Traceback" not in printed
    assert (out / "config.json").read_text() == config


def small_run(data: Path, out: Path) -> list[str]:
    """A tiny run on the CIFAR-10-format data in ``data`` (not a dry run, so --data counts)."""
    return [
        "--no-eval", "--data", str(data), "--out", str(out), "--steps", "1", "--slim", "8",
        "--batch-d", "8", "--batch-g", "16", "--compile", "none", "--device", "cpu",
        "--log-every", "1", "--ckpt-every", "1", "--sample-every", "1",
    ]  # fmt: skip


def write_batches(root: Path, images: np.ndarray) -> Path:
    """CIFAR-10's five training batches under ``root``, holding ``images`` (N, 3, 32, 32) in
    five equal parts (pickled at protocol 4, which the reader accepts, so that batches of as
    many images have the same size in bytes)."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for i, part in enumerate(np.array_split(images, 5), start=1):
        entry = {"data": part.reshape(len(part), 3072), "labels": [0] * len(part)}
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps(entry, 4))
    return root


def test_a_resume_on_other_data_is_refused(train_script, tmp_path, capsys):
    a = write_batches(tmp_path / "a", fixture_images(50, seed=0)[0])
    b = write_batches(tmp_path / "b", fixture_images(50, seed=1)[0])
    out = tmp_path / "run"
    assert train_script.main(small_run(a, out)) == 0
    stored = json.loads((out / "config.json").read_text())["data_fingerprint"]
    assert set(stored["files"]) == {f"data_batch_{i}" for i in range(1, 6)}
    printed = exits_with(capsys, lambda: train_script.main(small_run(b, out)))
    assert f"{out} holds a run with other settings: --data {b} (other data than the " in printed
    assert "checkpoint's: data_batch_1 holds other images)" in printed
    assert "Repeat the original" in printed
    # the same files, two of them swapped (same names, same sizes): other data too
    batches = a / "cifar-10-batches-py"
    first, second = (batches / "data_batch_1").read_bytes(), (batches / "data_batch_2").read_bytes()
    (batches / "data_batch_1").write_bytes(second)
    (batches / "data_batch_2").write_bytes(first)
    printed = exits_with(capsys, lambda: train_script.main(small_run(a, out)))
    assert "data_batch_1 holds other images" in printed
    c = write_batches(tmp_path / "c", fixture_images(55, seed=0)[0])  # batches of 11 images
    size = (c / "cifar-10-batches-py" / "data_batch_1").stat().st_size
    printed = exits_with(capsys, lambda: train_script.main(small_run(c, out)))
    assert f"data_batch_1 has {size} bytes, checkpoint {len(first)}" in printed
    (batches / "data_batch_1").write_bytes(first)
    (batches / "data_batch_2").write_bytes(second)
    assert train_script.main(small_run(a, out)) == 0  # the original data: it resumes


def test_a_data_folder_without_images_is_refused(train_script, tmp_path, capsys):
    root = write_batches(tmp_path / "empty", np.zeros((0, 3, 32, 32), dtype=np.uint8))
    printed = exits_with(capsys, lambda: train_script.main(small_run(root, tmp_path / "run")))
    assert f"the batches in {root / 'cifar-10-batches-py'} hold no images" in printed
    assert "--data DIR" in printed and "Traceback" not in printed


def test_ctrl_c_prints_where_it_stopped_and_how_to_resume(
    train_script, tmp_path, capsys, monkeypatch
):
    real_train = train_script.train

    def interrupted_after_step_1(*args, callback, **kwargs):
        def then_ctrl_c(step, rows):
            callback(step, rows)
            if step == 1:
                raise KeyboardInterrupt

        return real_train(*args, callback=then_ctrl_c, **kwargs)

    monkeypatch.setattr(train_script, "train", interrupted_after_step_1)
    out = tmp_path / "run"
    capsys.readouterr()
    assert train_script.main(dry(out)) == 130
    err = capsys.readouterr().err
    assert err == (
        f"stopped (Ctrl-C); the newest checkpoint is {out / 'ckpt_00000001.pt'} (step 1 of 2): "
        "run the same command to resume from it\n"
    )
    monkeypatch.setattr(train_script, "train", real_train)
    assert train_script.main(dry(out)) == 0
    assert "resuming from step 1" in capsys.readouterr().out
