"""Tests for sngan_teach.gan (lesson 07; reused by lessons 08 and 09)."""

import copy
import sys

import pytest
import torch
from torch import nn

from sngan_teach.gan import (
    SETTINGS,
    check_finite,
    d_step,
    linear_lr,
    make_optimizers,
    recompute_bn_stats,
    sample_z,
    train,
    train_step,
    update_ema,
)

Z_DIM = 4


def make_nets(seed=0):
    torch.manual_seed(seed)
    net_G = nn.Sequential(nn.Linear(Z_DIM, 16), nn.ReLU(), nn.Linear(16, 2))
    net_D = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    return net_G, net_D


def make_run(seed=0, setting="C"):
    net_G, net_D = make_nets(seed)
    opt_G, opt_D = make_optimizers(net_G, net_D, setting)
    gen = torch.Generator().manual_seed(seed)

    def sample_real(n):
        return torch.randn(n, 2, generator=gen) * 0.1 + torch.tensor([3.0, -2.0])

    return net_G, net_D, opt_G, opt_D, sample_real, gen


def test_settings_are_table_1():
    assert SETTINGS["A"] == {"alpha": 1e-4, "beta1": 0.5, "beta2": 0.9, "n_dis": 5}
    assert SETTINGS["B"] == {"alpha": 1e-4, "beta1": 0.5, "beta2": 0.999, "n_dis": 1}
    assert SETTINGS["C"] == {"alpha": 2e-4, "beta1": 0.5, "beta2": 0.999, "n_dis": 1}
    assert SETTINGS["D"] == {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.9, "n_dis": 5}
    assert SETTINGS["E"] == {"alpha": 1e-3, "beta1": 0.5, "beta2": 0.999, "n_dis": 5}
    assert SETTINGS["F"] == {"alpha": 1e-3, "beta1": 0.9, "beta2": 0.999, "n_dis": 5}


def test_make_optimizers_uses_the_setting():
    net_G, net_D = make_nets()
    opt_G, opt_D = make_optimizers(net_G, net_D, "F")
    for opt in (opt_G, opt_D):
        assert opt.param_groups[0]["lr"] == 1e-3
        assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    with pytest.raises(ValueError, match="setting must be one of .* got 'G'"):
        make_optimizers(net_G, net_D, "G")


def test_sample_z_is_reproducible_from_the_generator():
    a = sample_z(5, 3, torch.Generator().manual_seed(1))
    b = sample_z(5, 3, torch.Generator().manual_seed(1))
    assert a.shape == (5, 3)
    torch.testing.assert_close(a, b)
    assert sample_z(0, 3, torch.Generator()).shape == (0, 3)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((-1, 3, torch.Generator()), ValueError, "n must be >= 0, got -1"),
        ((2.5, 3, torch.Generator()), TypeError, "n must be an int, got float"),
        ((4, 0, torch.Generator()), ValueError, "z_dim must be >= 1, got 0"),
        ((4, 3, 7), TypeError, "generator must be a torch.Generator, got int"),
    ],
)
def test_sample_z_refuses_bad_sizes_by_name(args, error, match):
    with pytest.raises(error, match=match):
        sample_z(*args)


def test_train_step_counts_and_batch_sizes():
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
    real_sizes, penalty_calls, clip_calls, d_inputs = [], [], [], []

    def counting_sample_real(n):
        real_sizes.append(n)
        return sample_real(n)

    def penalty(net, real, fake, generator):
        penalty_calls.append((len(real), len(fake), generator))
        return 0.5 * sum((p**2).sum() for p in net.parameters())

    net_D.register_forward_hook(lambda m, args, out: d_inputs.append(args[0].shape[0]))
    out = train_step(
        net_G,
        net_D,
        opt_G,
        opt_D,
        counting_sample_real,
        z_dim=Z_DIM,
        generator=gen,
        n_dis=3,
        batch_size_D=8,
        batch_size_G=12,
        penalty=penalty,
        after_D_step=lambda net: clip_calls.append(net),
    )
    assert real_sizes == [8, 8, 8]
    assert [(r, f) for r, f, _ in penalty_calls] == [(8, 8)] * 3
    assert all(g is gen for _, _, g in penalty_calls)
    assert clip_calls == [net_D] * 3
    # one joint D call on cat(real, fake) per D update (the penalty here does not call D),
    # then one call on the generator's 12 fakes
    assert d_inputs == [16, 16, 16, 12]
    assert set(out) == {"loss_D", "loss_G", "penalty"}
    for v in out.values():
        assert v.shape == () and not v.requires_grad
    assert out["penalty"] > 0


def test_joint_and_separate_D_calls_give_the_same_update():
    results = []
    for joint in (True, False):
        net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
        out = train_step(
            net_G,
            net_D,
            opt_G,
            opt_D,
            sample_real,
            z_dim=Z_DIM,
            generator=gen,
            loss="ns",
            n_dis=2,
            joint_D_call=joint,
        )
        results.append((out, [p.detach().clone() for p in net_D.parameters()]))
    (out_a, params_a), (out_b, params_b) = results
    torch.testing.assert_close(out_a["loss_D"], out_b["loss_D"])
    for a, b in zip(params_a, params_b, strict=True):
        torch.testing.assert_close(a, b)


def test_d_update_leaves_G_and_g_update_leaves_D():
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
    g0 = [p.detach().clone() for p in net_G.parameters()]
    d0 = [p.detach().clone() for p in net_D.parameters()]
    # lr 0 for G: after a step, G must be unchanged and D changed
    opt_G.param_groups[0]["lr"] = 0.0
    train_step(net_G, net_D, opt_G, opt_D, sample_real, z_dim=Z_DIM, generator=gen)
    assert all(torch.equal(a, b) for a, b in zip(g0, net_G.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(d0, net_D.parameters(), strict=True))
    # lr 0 for D: D unchanged, G changed, and D's parameters end up trainable again
    opt_G.param_groups[0]["lr"], opt_D.param_groups[0]["lr"] = 1e-3, 0.0
    d1 = [p.detach().clone() for p in net_D.parameters()]
    train_step(net_G, net_D, opt_G, opt_D, sample_real, z_dim=Z_DIM, generator=gen)
    assert all(torch.equal(a, b) for a, b in zip(d1, net_D.parameters(), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(g0, net_G.parameters(), strict=True))
    assert all(p.requires_grad for p in net_D.parameters())


def test_train_step_never_reads_a_value_on_the_host(monkeypatch):
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()

    # A read from our code (gan.py, losses.py) is an error; torch.optim reads its CPU step
    # counter, which is host memory even when the model is on a GPU, so it is allowed.
    for name in ("item", "tolist", "__bool__", "__float__"):
        original = getattr(torch.Tensor, name)

        def guarded(self, *args, _original=original, _name=name):
            caller = sys._getframe(1).f_code.co_filename
            if "sngan_teach" in caller:
                raise AssertionError(f"host sync ({_name}) inside the step, in {caller}")
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, name, guarded)
    train_step(net_G, net_D, opt_G, opt_D, sample_real, z_dim=Z_DIM, generator=gen, n_dis=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n_dis": 0}, ValueError, "n_dis must be >= 1, got 0"),
        ({"n_dis": 1.5}, TypeError, "n_dis must be an int"),
        ({"batch_size_D": 0}, ValueError, "batch_size_D must be >= 1, got 0"),
        ({"batch_size_G": -1}, ValueError, "batch_size_G must be >= 1, got -1"),
        ({"loss": "lsgan"}, ValueError, "loss must be one of"),
        ({"autocast_dtype": torch.float64}, ValueError, "autocast_dtype must be"),
        ({"ema_decay": 1.0}, ValueError, "ema_decay must be in"),
        ({"generator": 0}, TypeError, "generator must be a torch.Generator"),
    ],
)
def test_train_step_rejects_bad_arguments(kwargs, error, message):
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
    args = {"z_dim": Z_DIM, "generator": gen, **kwargs}
    with pytest.raises(error, match=message):
        train_step(net_G, net_D, opt_G, opt_D, sample_real, **args)


def test_check_finite_names_the_loss_and_the_step():
    check_finite({"loss_D": torch.tensor(1.0), "loss_G": torch.tensor(-2.0)}, 5)
    with pytest.raises(FloatingPointError, match="loss_G is nan at step 7"):
        check_finite({"loss_D": torch.tensor(1.0), "loss_G": torch.tensor(float("nan"))}, 7)
    with pytest.raises(FloatingPointError, match="loss_D is inf at step 3"):
        check_finite({"loss_D": torch.tensor(float("inf"))}, 3)


def test_train_raises_on_a_nan_loss_at_the_next_log_step():
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
    calls = []

    def nan_after_three(n):
        calls.append(n)
        x = sample_real(n)
        return x * float("nan") if len(calls) > 3 else x

    with pytest.raises(FloatingPointError, match="loss_D is nan at step 5"):
        train(
            net_G,
            net_D,
            opt_G,
            opt_D,
            nan_after_three,
            20,
            z_dim=Z_DIM,
            generator=gen,
            log_every=5,
            progress=False,
        )
    assert len(calls) == 5  # it stopped at the first log step after the NaN


def test_train_rejects_bad_arguments():
    run = make_run()
    with pytest.raises(ValueError, match="start_step must be <= n_steps"):
        train(*run[:5], 3, z_dim=Z_DIM, generator=run[5], start_step=4, progress=False)
    with pytest.raises(ValueError, match="log_every must be >= 1, got 0"):
        train(*run[:5], 3, z_dim=Z_DIM, generator=run[5], log_every=0, progress=False)
    with pytest.raises(ValueError, match="n_dis must be >= 1, got 0"):
        train(*run[:5], 3, z_dim=Z_DIM, generator=run[5], n_dis=0, progress=False)


def test_train_refuses_a_missing_or_unknown_step_option_before_any_step():
    run = make_run()
    before = [p.clone() for p in run[0].parameters()]
    with pytest.raises(TypeError, match="bogus"):
        train(*run[:5], 3, z_dim=Z_DIM, generator=run[5], bogus=1, progress=False)
    with pytest.raises(TypeError, match="z_dim"):
        train(*run[:5], 3, generator=run[5], progress=False)
    assert all(torch.equal(a, b) for a, b in zip(before, run[0].parameters(), strict=True))


class Labelled(nn.Module):
    """A network of (input, label) that records the labels it is called with."""

    def __init__(self, n_in, n_out, n_classes=3):
        super().__init__()
        self.lin, self.n_classes, self.seen = nn.Linear(n_in + n_classes, n_out), n_classes, []

    def forward(self, x, y):
        self.seen.append(y.clone())
        return self.lin(torch.cat([x, nn.functional.one_hot(y, self.n_classes).float()], 1))


def test_conditional_train_step_feeds_real_and_drawn_labels():
    torch.manual_seed(0)
    net_G, net_D = Labelled(Z_DIM, 2), Labelled(2, 1)
    opt_G, opt_D = make_optimizers(net_G, net_D, "C")
    gen = torch.Generator().manual_seed(0)

    def sample_real(n):  # every real sample has label 2
        return torch.randn(n, 2, generator=gen), torch.full((n,), 2)

    kw = dict(z_dim=Z_DIM, generator=gen, n_classes=3, n_dis=2, batch_size_D=4, batch_size_G=6)
    train_step(net_G, net_D, opt_G, opt_D, sample_real, **kw)
    assert [len(y) for y in net_G.seen] == [4, 4, 6] and [len(y) for y in net_D.seen] == [8, 8, 6]
    for y_G, y_D in zip(net_G.seen, net_D.seen, strict=True):  # D judges fakes with G's labels
        assert torch.equal(y_D[-len(y_G) :], y_G) and 0 <= int(y_G.min()) <= int(y_G.max()) < 3
    assert all(torch.equal(y[:4], torch.full((4,), 2)) for y in net_D.seen[:2])  # the real labels
    assert len(torch.cat(net_G.seen).unique()) > 1  # fake labels are drawn, not fixed
    with pytest.raises(ValueError, match="penalty"):
        train_step(net_G, net_D, opt_G, opt_D, sample_real, **kw, penalty=lambda *a: 0)
    with pytest.raises(ValueError, match="n_classes"):
        train_step(net_G, net_D, opt_G, opt_D, sample_real, **kw | {"n_classes": 0})
    with pytest.raises(ValueError, match="y_real and y_fake"):
        x, y = sample_real(4)
        d_step(net_G, net_D, opt_D, x, torch.randn(4, Z_DIM), lambda r, f: r.mean(), generator=gen,
               y_real=y)  # fmt: skip


def test_train_history_and_callback_steps():
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
    seen = []
    history = train(
        net_G,
        net_D,
        opt_G,
        opt_D,
        sample_real,
        10,
        z_dim=Z_DIM,
        generator=gen,
        log_every=4,
        callback=lambda step, hist: seen.append((step, len(hist))),
        callback_every=3,
        progress=False,
    )
    assert [row["step"] for row in history] == [4, 8, 10]
    assert seen == [(3, 0), (6, 1), (9, 2), (10, 3)]
    assert set(history[0]) == {"step", "loss_D", "loss_G", "penalty", "lr", "seconds"}


def test_linear_lr_decay():
    assert linear_lr(0, 10, 1e-3) == 1e-3
    assert linear_lr(5, 10, 1e-3) == pytest.approx(5e-4)
    assert linear_lr(10, 10, 1e-3) == 0.0
    with pytest.raises(ValueError, match="n_steps must be >= 1, got 0"):
        linear_lr(0, 0, 1e-3)
    with pytest.raises(ValueError, match="step must be >= 0, got -1"):
        linear_lr(-1, 10, 1e-3)
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
    history = train(
        net_G,
        net_D,
        opt_G,
        opt_D,
        sample_real,
        4,
        z_dim=Z_DIM,
        generator=gen,
        lr_decay=True,
        log_every=1,
        progress=False,
    )
    alpha = SETTINGS["C"]["alpha"]
    assert [row["lr"] for row in history] == pytest.approx([alpha * (1 - s / 4) for s in range(4)])


def test_resume_from_saved_state_is_exact():
    full = make_run()
    train(*full[:5], 6, z_dim=Z_DIM, generator=full[5], n_dis=2, progress=False)

    part = make_run()
    saved = {}

    def save(step, history):
        if step == 3:
            saved.update(
                G=copy.deepcopy(part[0].state_dict()),
                D=copy.deepcopy(part[1].state_dict()),
                opt_G=copy.deepcopy(part[2].state_dict()),
                opt_D=copy.deepcopy(part[3].state_dict()),
                gen=part[5].get_state(),
            )

    train(*part[:5], 3, z_dim=Z_DIM, generator=part[5], n_dis=2, callback=save, progress=False)
    resumed = make_run(seed=123)  # different weights and generator state, then restored
    resumed[0].load_state_dict(saved["G"])
    resumed[1].load_state_dict(saved["D"])
    resumed[2].load_state_dict(saved["opt_G"])
    resumed[3].load_state_dict(saved["opt_D"])
    resumed[5].set_state(saved["gen"])
    train(*resumed[:5], 6, z_dim=Z_DIM, generator=resumed[5], n_dis=2, start_step=3, progress=False)
    for a, b in zip(full[0].parameters(), resumed[0].parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_update_ema():
    net_G, _ = make_nets(0)
    ema_G = copy.deepcopy(net_G)
    before = [p.detach().clone() for p in ema_G.parameters()]
    with torch.no_grad():
        for p in net_G.parameters():
            p.add_(1.0)
    update_ema(ema_G, net_G, 0.9)
    for b, p_ema in zip(before, ema_G.parameters(), strict=True):
        torch.testing.assert_close(p_ema, b + 0.1)
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
    ema_G = copy.deepcopy(net_G)
    train(
        net_G,
        net_D,
        opt_G,
        opt_D,
        sample_real,
        3,
        z_dim=Z_DIM,
        generator=gen,
        ema_G=ema_G,
        ema_decay=0.5,
        progress=False,
    )
    assert not torch.equal(ema_G[0].weight, net_G[0].weight)


def test_recompute_bn_stats_describes_the_ema_generator_not_net_G():
    torch.manual_seed(0)
    net_G = nn.Sequential(nn.Linear(Z_DIM, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    net_G(torch.randn(256, Z_DIM))  # net_G's own running statistics
    ema_G = copy.deepcopy(net_G)
    with torch.no_grad():
        ema_G[0].weight.mul_(3.0)  # an average that differs from net_G
        ema_G[0].bias.add_(1.0)
    update_ema(ema_G, net_G, 1.0 - 1e-12)  # copies net_G's BN buffers
    gen = torch.Generator().manual_seed(1)
    z = torch.randn(20 * 64, Z_DIM, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        h = ema_G[0](z)  # what ema_G's BN layer really sees
    assert (ema_G[1].running_mean - h.mean(0)).abs().max() > 0.5  # copied stats are wrong
    ema_G.eval()
    recompute_bn_stats(ema_G, z_dim=Z_DIM, generator=gen, n_batches=20, batch_size=64)
    assert not ema_G.training and ema_G[1].momentum == 0.1
    torch.testing.assert_close(ema_G[1].running_mean, h.mean(0), rtol=0, atol=1e-5)
    batch_vars = torch.stack([c.var(0) for c in h.split(64)]).mean(0)
    torch.testing.assert_close(ema_G[1].running_var, batch_vars, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="n_batches must be >= 1, got 0"):
        recompute_bn_stats(ema_G, z_dim=Z_DIM, generator=gen, n_batches=0)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        recompute_bn_stats(ema_G, z_dim=Z_DIM, generator=0)


def test_bf16_autocast_runs_and_returns_float32_losses():
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run()
    out = train_step(
        net_G,
        net_D,
        opt_G,
        opt_D,
        sample_real,
        z_dim=Z_DIM,
        generator=gen,
        autocast_dtype=torch.bfloat16,
    )
    check_finite(out, 1)
    assert out["loss_D"].dtype == torch.float32
    assert net_G[0].weight.dtype == torch.float32


@pytest.mark.parametrize("loss", ["ns", "hinge", "wgan"])
def test_training_moves_the_generator_to_the_data(loss):
    net_G, net_D, opt_G, opt_D, sample_real, gen = make_run(setting="D")
    target = torch.tensor([3.0, -2.0])
    z = sample_z(512, Z_DIM, torch.Generator().manual_seed(9))
    start = (net_G(z).mean(0) - target).norm().item()
    penalty = None
    if loss == "wgan":  # keep the critic bounded with a weight penalty

        def penalty(net, real, fake, generator):
            return 0.1 * sum((p**2).sum() for p in net.parameters())

    train(
        net_G,
        net_D,
        opt_G,
        opt_D,
        sample_real,
        300,
        z_dim=Z_DIM,
        generator=gen,
        loss=loss,
        n_dis=1,
        penalty=penalty,
        progress=False,
    )
    end = (net_G(z).mean(0) - target).norm().item()
    assert end < 0.25 * start, (start, end)
