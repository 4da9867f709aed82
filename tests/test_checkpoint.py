"""Tests for sngan_teach.checkpoint: atomic writes, safe loads, exact resume, the NaN guard."""

from __future__ import annotations

import copy
import os
from unittest import mock

import pytest
import torch

from sngan_teach import checkpoint as ck
from sngan_teach.cifar import DeviceSampler, fixture_images
from sngan_teach.gan import train
from sngan_teach.models import StandardDiscriminator, StandardGenerator
from sngan_teach.sn import add_sn

N_STEPS, CUT = 4, 2


def make_run(seed: int = 0):
    """A tiny SN-GAN with every kind of state: BN (G), SN u/v (D), Adam, EMA, two generators."""
    torch.manual_seed(seed)
    net_G = StandardGenerator(z_dim=16, ch=32)
    net_D = add_sn(StandardDiscriminator(ch=4))
    ema_G = copy.deepcopy(net_G)
    opt_G = torch.optim.Adam(net_G.parameters(), lr=2e-4, betas=(0.0, 0.9))
    opt_D = torch.optim.Adam(net_D.parameters(), lr=2e-4, betas=(0.0, 0.9))
    images = torch.from_numpy(fixture_images(40, seed=0)[0])
    sampler = DeviceSampler(images, seed=seed + 1)
    gen_z = torch.Generator().manual_seed(seed + 2)
    modules = {"net_G": net_G, "net_D": net_D, "ema_G": ema_G}
    optimizers = {"opt_G": opt_G, "opt_D": opt_D}
    generators = {"z": gen_z, "real": sampler.generator}
    return modules, optimizers, generators, sampler


def run(
    modules, optimizers, generators, sampler, start_step=0, callback=None, every=0, loss="hinge"
):
    return train(
        modules["net_G"],
        modules["net_D"],
        optimizers["opt_G"],
        optimizers["opt_D"],
        sampler,
        N_STEPS,
        z_dim=16,
        generator=generators["z"],
        loss=loss,
        n_dis=2,
        batch_size_D=4,
        batch_size_G=8,
        ema_G=modules["ema_G"],
        ema_decay=0.9,
        lr_decay=True,
        start_step=start_step,
        log_every=1,
        callback=callback,
        callback_every=every,
        progress=False,
    )


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    # uninterrupted reference
    ref = make_run()
    run(*ref)

    # the same run, killed right after the checkpoint at step CUT
    first = make_run()
    saver = ck.Checkpointer(tmp_path, *first[:3])

    def save_then_die(step, history):
        saver(step, history)
        if step == CUT:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(*first, callback=save_then_die, every=CUT)

    # a fresh process: new objects (different init seed), restored from disk
    second = make_run(seed=123)
    resumer = ck.Checkpointer(tmp_path, *second[:3])
    step, history = resumer.resume()
    assert step == CUT and [row["step"] for row in history] == list(range(1, CUT + 1))
    run(*second, start_step=step)

    for name in ref[0]:
        for key, value in ref[0][name].state_dict().items():
            torch.testing.assert_close(
                second[0][name].state_dict()[key], value, rtol=0, atol=0, msg=f"{name}.{key}"
            )
    for name in ref[1]:
        assert ref[1][name].param_groups[0]["lr"] == second[1][name].param_groups[0]["lr"]
    # the generators continue identically too
    for name in ref[2]:
        assert torch.equal(ref[2][name].get_state(), second[2][name].get_state())

    # and the check can fail: a run that skips the restore ends with other weights
    fresh = make_run(seed=123)
    run(*fresh, start_step=CUT)
    assert not torch.equal(ref[0]["net_G"].l0.weight, fresh[0]["net_G"].l0.weight)


def test_checkpoint_loads_with_weights_only(tmp_path):
    modules, optimizers, generators, _ = make_run()
    path = ck.Checkpointer(tmp_path, modules, optimizers, generators)(7, [{"step": 7.0}])
    assert path.name == "ckpt_00000007.pt"
    state = torch.load(path, weights_only=True)
    assert state["step"] == 7 and set(state["modules"]) == {"net_G", "net_D", "ema_G"}
    assert any("_u" in k for k in state["modules"]["net_D"])  # SN's power-iteration vector


def test_keep_only_the_newest(tmp_path):
    modules, optimizers, generators, _ = make_run()
    saver = ck.Checkpointer(tmp_path, modules, optimizers, generators, keep=2)
    for step in (1, 2, 3, 10):
        saver(step, [])
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == [
        "ckpt_00000003.pt",
        "ckpt_00000010.pt",
    ]
    assert saver.latest().name == "ckpt_00000010.pt"
    assert ck.Checkpointer(tmp_path / "empty", modules).resume() == (0, [])


def test_write_is_atomic(tmp_path):
    modules, *_ = make_run()
    path = tmp_path / "x.pt"
    ck.save_checkpoint(path, ck.training_state(1, modules))
    before = path.read_bytes()
    # a crash in the middle of torch.save leaves the old file intact and no temp file behind
    with mock.patch("torch.save", side_effect=OSError("disk full")):
        with pytest.raises(OSError, match="disk full"):
            ck.save_checkpoint(path, ck.training_state(2, modules))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["x.pt"]


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path):
    modules, optimizers, generators, sampler = make_run()
    saver = ck.Checkpointer(tmp_path, modules, optimizers, generators, keep=10)
    calls = {"n": 0}

    def exploding_loss_D(d_real, d_fake):
        calls["n"] += 1
        base = torch.relu(1 - d_real).mean() + torch.relu(1 + d_fake).mean()
        return base * float("nan") if calls["n"] > 2 * 2 else base  # NaN from step 3 (n_dis=2)

    loss = (exploding_loss_D, lambda d_fake: -d_fake.mean())
    with pytest.raises(FloatingPointError, match="loss_D is nan at step 3"):
        run(modules, optimizers, generators, sampler, callback=saver, every=1, loss=loss)
    # step 3's NaN gradients poisoned the weights, but no checkpoint holds them
    assert not torch.isfinite(modules["net_D"].c0.parametrizations.weight.original).all()
    assert ck.latest_step(tmp_path) == 2
    state = ck.load_checkpoint(saver.latest())
    for value in state["modules"]["net_D"].values():
        assert torch.isfinite(value).all()
    # and saving the poisoned weights is refused
    with pytest.raises(FloatingPointError, match="holds NaN or inf"):
        saver(3, [])
    assert ck.latest_step(tmp_path) == 2


def test_restore_names_missing_parts(tmp_path):
    modules, optimizers, generators, _ = make_run()
    state = ck.training_state(1, {"net_G": modules["net_G"]})
    with pytest.raises(ck.CheckpointError, match=r"no modules named \['ema_G', 'net_D'\]"):
        ck.restore(state, modules)
    with pytest.raises(ck.CheckpointError, match=r"no generators named \['real', 'z'\]"):
        ck.restore(state, {"net_G": modules["net_G"]}, generators=generators)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        ck.load_checkpoint(tmp_path / "none.pt")
    with pytest.raises(ValueError, match="keep must be"):
        ck.Checkpointer(tmp_path, modules, keep=0)
    with pytest.raises(ValueError, match="step must be"):
        ck.training_state(-1, modules)


# ---- what goes wrong: corrupt files, stale temporary files, unloadable states, full disks ----


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]),  # truncated
        lambda p: p.write_bytes(b""),  # empty
        lambda p: p.write_text("garbage, not a checkpoint\n"),  # text
    ],
    ids=["truncated", "empty", "text"],
)
def test_corrupt_newest_checkpoint_is_named_and_the_older_one_used(tmp_path, damage):
    modules, optimizers, generators, _ = make_run()
    saver = ck.Checkpointer(tmp_path, modules, optimizers, generators, keep=2)
    saver(1, [{"step": 1.0}])
    saver(2, [{"step": 2.0}])
    damage(tmp_path / "ckpt_00000002.pt")
    with pytest.raises(ck.CheckpointError, match="ckpt_00000002.pt"):
        ck.load_checkpoint(tmp_path / "ckpt_00000002.pt")
    reports = []
    step, history = ck.Checkpointer(tmp_path, *make_run(seed=1)[:3]).resume(reports.append)
    assert (step, history) == (1, [{"step": 1.0}])
    assert (
        len(reports) == 1 and "ckpt_00000002.pt" in reports[0] and "ckpt_00000001.pt" in reports[0]
    )
    damage(tmp_path / "ckpt_00000001.pt")
    with pytest.raises(ck.CheckpointError, match="no checkpoint in .* loads"):
        ck.Checkpointer(tmp_path, modules).resume()


def test_resume_removes_temporary_files_of_interrupted_writes(tmp_path):
    modules, optimizers, generators, _ = make_run()
    saver = ck.Checkpointer(tmp_path, modules, optimizers, generators)
    saver(1, [])
    stale = tmp_path / ".ckpt_00000002.pt.abc123.tmp"
    stale.write_bytes(b"x" * 1000)  # what a kill during a write leaves
    other = tmp_path / "notes.tmp"
    other.write_text("not ours")
    assert saver.resume()[0] == 1
    assert not stale.exists() and other.exists()


def test_a_state_that_would_not_load_back_is_not_written(tmp_path):
    import numpy as np

    modules, *_ = make_run()
    state = ck.training_state(1, modules, history=[{"step": 1, "loss_D": np.float32(0.5)}])
    with pytest.raises(TypeError, match=r"history\[0\]\['loss_D'\] is numpy.float32"):
        ck.save_checkpoint(tmp_path / "ckpt_00000001.pt", state)
    state = ck.training_state(1, modules, extra={"seed": np.int64(3)})
    with pytest.raises(TypeError, match=r"extra\['seed'\] is numpy.int64"):
        ck.save_checkpoint(tmp_path / "ckpt_00000001.pt", state)
    assert os.listdir(tmp_path) == []


def test_a_full_disk_raises_oserror_and_keeps_the_old_file(tmp_path):
    # a file-size limit makes the write fail as a full disk does (EFBIG instead of ENOSPC)
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(f"""
        import resource, signal, torch
        from sngan_teach import checkpoint as ck
        path = {str(tmp_path / "ckpt.pt")!r}
        ck.save_checkpoint(path, {{"step": 1, "w": torch.zeros(10)}})
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, resource.RLIM_INFINITY))
        try:
            ck.save_checkpoint(path, {{"step": 2, "w": torch.zeros(100_000)}})
        except OSError as err:
            print("OSError", err)
        print("step", ck.load_checkpoint(path)["step"])
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OSError" in done.stdout and "step 1" in done.stdout
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_load_checkpoint_names_a_text_file(tmp_path):
    path = tmp_path / "ckpt_00000001.pt"
    path.write_text("hello\n")
    with pytest.raises(ck.CheckpointError, match="ckpt_00000001.pt does not load"):
        ck.load_checkpoint(path)
    torch.save([1, 2], path)
    with pytest.raises(ck.CheckpointError, match="holds a list"):
        ck.load_checkpoint(path)


def test_pruning_keeps_checkpoints_of_later_steps(tmp_path):
    modules, *_ = make_run()
    saver = ck.Checkpointer(tmp_path, modules, keep=1)
    saver(5, [])
    saver(2, [])  # a run resumed from an older checkpoint: step 5 is not deleted by step 2
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == [
        "ckpt_00000002.pt",
        "ckpt_00000005.pt",
    ]


def test_a_foreign_state_is_named_for_what_it_lacks_or_what_does_not_fit(tmp_path):
    modules, optimizers, generators, _ = make_run()
    with pytest.raises(ck.CheckpointError, match=r"has no step \(int\), modules \(dict\), "):
        ck.check_state({"weights": torch.zeros(2)})
    with pytest.raises(ck.CheckpointError, match=r"has no step \(int\)$"):
        ck.check_state(ck.training_state(1, modules) | {"step": True})
    with pytest.raises(ck.CheckpointError, match="holds a list, not a dict"):
        ck.check_state([1, 2])
    ck.check_state(ck.training_state(1, modules))  # a real one passes
    with pytest.raises(ck.CheckpointError, match="has no step"):
        ck.restore({"modules": {}}, modules)
    # another architecture's weights under the same names: named, not a raw RuntimeError
    state = ck.training_state(1, modules, optimizers, generators)
    other = add_sn(StandardDiscriminator(ch=8))
    with pytest.raises(ck.CheckpointError, match="checkpoint's net_D does not fit .*size mismatch"):
        ck.restore(state, {"net_D": other})
    state["rng"] = {}
    with pytest.raises(ck.CheckpointError, match="checkpoint's rng does not fit"):
        ck.restore(state, {})


def test_a_folder_fifo_or_broken_link_under_a_checkpoint_name_is_skipped(tmp_path):
    modules, optimizers, generators, _ = make_run()
    saver = ck.Checkpointer(tmp_path, modules, optimizers, generators, keep=5)
    saver(1, [{"step": 1.0}])
    for step, make, kind in [
        (2, os.mkdir, "a folder"),
        (3, os.mkfifo, "a FIFO"),  # torch.load would wait on it forever
        (4, lambda p: os.symlink(tmp_path / "gone", p), "a broken symbolic link"),
    ]:
        path = tmp_path / f"ckpt_{step:08d}.pt"
        make(path)
        with pytest.raises(ck.CheckpointError, match=f"{path.name} is {kind}, not a file"):
            ck.load_checkpoint(path)
    reports = []
    assert ck.Checkpointer(tmp_path, *make_run(seed=1)[:3]).resume(reports.append)[0] == 1
    assert len(reports) == 3 and all("using the older ckpt_00000001.pt" in r for r in reports)
    # later saves replace the FIFO and the link; the folder is left alone, never deleted
    saver.keep = 1
    for step in (3, 4, 5):
        saver(step, [])
    assert (tmp_path / "ckpt_00000002.pt").is_dir()
    assert [p.name for p in ck.list_checkpoints(tmp_path)] == [
        "ckpt_00000002.pt",
        "ckpt_00000005.pt",
    ]
    assert ck.step_of(tmp_path / "ckpt_00000005.pt") == 5
    with pytest.raises(ValueError, match="path must be named ckpt_NNNNNNNN.pt, got 'x.pt'"):
        ck.step_of("x.pt")


def test_write_atomic_replaces_a_link_instead_of_writing_through_it(tmp_path):
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").symlink_to(outside)
    ck.write_atomic(folder / "config.json", b"{}")
    assert outside.read_text() == "precious"
    assert (
        not (folder / "config.json").is_symlink() and (folder / "config.json").read_bytes() == b"{}"
    )
    # a failure names the target (not the temporary file) and keeps its errno
    (folder / "results.json").mkdir()
    with pytest.raises(IsADirectoryError) as raised:
        ck.write_atomic(folder / "results.json", b"{}")
    assert raised.value.filename == str(folder / "results.json")
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "results.json"]
