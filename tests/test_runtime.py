import pytest
import torch

from sngan_teach import runtime


def test_budget_defaults_to_full(monkeypatch):
    monkeypatch.delenv(runtime.BUDGET_ENV, raising=False)
    assert runtime.budget() == "full"
    assert not runtime.is_quick()
    assert runtime.pick(quick=1, full=2) == 2


@pytest.mark.parametrize("value", ["quick", "QUICK", " quick "])
def test_quick_mode_picks_quick_values(monkeypatch, value):
    monkeypatch.setenv(runtime.BUDGET_ENV, value)
    assert runtime.is_quick()
    assert runtime.pick(quick=1, full=2) == 1


def test_unknown_budget_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(runtime.BUDGET_ENV, "medium")
    with pytest.raises(ValueError, match="SNGAN_BUDGET must be one of .* got 'medium'"):
        runtime.budget()


def test_seed_all_makes_draws_repeatable():
    g1 = runtime.seed_all(3)
    a, b = torch.randn(4), torch.randn(4, generator=g1)
    g2 = runtime.seed_all(3)
    assert torch.equal(a, torch.randn(4))
    assert torch.equal(b, torch.randn(4, generator=g2))


@pytest.mark.parametrize("seed", [1.5, "1", True])
def test_seed_all_rejects_non_integers(seed):
    with pytest.raises(TypeError, match="seed must be an int"):
        runtime.seed_all(seed)


def test_default_device_is_usable():
    device = runtime.default_device()
    assert torch.zeros(1, device=device).device.type == device.type


def test_base_seed_defaults_to_zero(monkeypatch):
    monkeypatch.delenv(runtime.SEED_ENV, raising=False)
    assert runtime.base_seed() == 0
    monkeypatch.setenv(runtime.SEED_ENV, " ")
    assert runtime.base_seed() == 0


def test_base_seed_reads_the_environment(monkeypatch):
    monkeypatch.setenv(runtime.SEED_ENV, " 7 ")
    assert runtime.base_seed() == 7


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("one", "must be a whole number, got 'one'"),
        ("1.5", "must be a whole number"),
        ("-1", "must be between 0 and 2\\*\\*62, got -1"),
        (str(2**62 + 1), "must be between 0 and 2\\*\\*62"),
    ],
)
def test_base_seed_rejects_bad_values(monkeypatch, value, message):
    monkeypatch.setenv(runtime.SEED_ENV, value)
    with pytest.raises(ValueError, match=f"SNGAN_SEED {message}"):
        runtime.base_seed()


@pytest.mark.parametrize("seed", [-1, 2**63, 2**70])
def test_seed_all_names_a_seed_out_of_range(seed):
    with pytest.raises(ValueError, match="seed must be between 0 and 2\\*\\*63 - 1"):
        runtime.seed_all(seed)
