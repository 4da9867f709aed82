import json
import sys
import types

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


def write_kernel(jupyter_dir, python: str) -> None:
    spec_dir = jupyter_dir / "kernels" / runtime.KERNEL_NAME
    spec_dir.mkdir(parents=True)
    argv = [python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {"argv": argv, "display_name": runtime.KERNEL_DISPLAY, "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))


def test_kernel_check_is_silent_on_the_registered_kernel(tmp_path, monkeypatch, capsys):
    write_kernel(tmp_path, sys.executable)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    runtime.kernel_check()
    assert capsys.readouterr() == ("", "")


def test_kernel_check_names_the_kernel_to_choose(tmp_path, monkeypatch, capsys):
    write_kernel(tmp_path, str(tmp_path / "elsewhere" / "python"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    runtime.kernel_check()
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"runs on {sys.executable}, not on the kernel 'Python (sngan-teach)'" in err
    assert str(tmp_path / "elsewhere" / "python") in err and "Change Kernel" in err


def test_kernel_check_says_when_no_project_kernel_is_registered(monkeypatch, capsys):
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def missing(self, name):
        raise NoSuchKernel(name)

    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", missing)
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    runtime.kernel_check()
    err = capsys.readouterr().err
    assert err.startswith("warning: no kernel named 'sngan-teach' is registered")
    assert "python3 tasks.py lab" in err and err.count("\n") == 1


def test_kernel_check_does_nothing_outside_a_kernel(tmp_path, monkeypatch, capsys):
    write_kernel(tmp_path, str(tmp_path / "elsewhere" / "python"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    runtime.kernel_check()
    assert capsys.readouterr() == ("", "")


def test_stored_result_is_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = runtime.stored_result("toy_long.csv", "python experiments/toy_long.py")
    assert path.is_file() and path.parent == runtime.RESULTS_DIR


def test_stored_result_names_a_missing_file_and_its_command():
    with pytest.raises(
        FileNotFoundError, match="nothing.csv is missing.*make it again with `cmd x`"
    ):
        runtime.stored_result("nothing.csv", "cmd x")


@pytest.mark.parametrize("name", ["", "../README.md", "a/b.csv", ".."])
def test_stored_result_takes_only_a_file_name(name):
    with pytest.raises(ValueError, match="name must be a file name inside benchmarks/results"):
        runtime.stored_result(name, "cmd")
