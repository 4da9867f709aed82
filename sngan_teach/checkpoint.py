"""Checkpoints that survive interruptions: atomic writes, safe loads, exact resume.

Introduced in lesson 08. A checkpoint is one ``torch.save``-d dict of tensors, numbers, strings,
lists and dicts only, so it loads with ``torch.load(..., weights_only=True)`` (no pickled code
runs). It holds, by name:

* ``modules``: state dicts of ``net_G``, ``net_D``, ``ema_G`` ... (SN's ``u``, ``v`` and BN's
  running statistics are buffers, so they are included);
* ``optimizers``: Adam's moments, step counts and param groups, including ``lr`` and
  ``initial_lr``, which is all the state the linear learning-rate decay of
  ``sngan_teach.gan.train`` has;
* ``generators``: the states of the explicit ``torch.Generator`` objects (z, real batches);
* ``rng``: PyTorch's global CPU (and CUDA) generator states;
* ``step``, ``history`` and any ``extra`` numbers or strings.

Writes go to a temporary file in the same folder, are flushed to disk, then renamed over the
target (``os.replace`` is atomic on POSIX and Windows), so a crash mid-write never leaves a
half-written checkpoint under the real name. Before writing, every floating-point tensor of
the modules is checked: a NaN or inf raises ``FloatingPointError`` and the last good
checkpoint stays the latest one.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import torch
from torch import nn

_NAME = re.compile(r"^ckpt_(\d{8})\.pt$")


def _check_finite_modules(modules: dict[str, nn.Module]) -> None:
    for mname, module in modules.items():
        for key, value in module.state_dict().items():
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                raise FloatingPointError(
                    f"not saving a checkpoint: {mname}.{key} holds NaN or inf; "
                    "the last good checkpoint is kept"
                )


def training_state(
    step: int,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    history: list[dict[str, float]] | None = None,
    extra: dict | None = None,
) -> dict:
    """Collect everything needed to resume a run at ``step`` into one plain dict."""
    if not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be an int >= 0, got {step!r}")
    rng = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return {
        "step": step,
        "modules": {k: m.state_dict() for k, m in modules.items()},
        "optimizers": {k: o.state_dict() for k, o in (optimizers or {}).items()},
        "generators": {k: g.get_state() for k, g in (generators or {}).items()},
        "rng": rng,
        "history": list(history or []),
        "extra": dict(extra or {}),
    }


def save_checkpoint(path: str | os.PathLike, state: dict) -> Path:
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename); return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    return torch.load(path, map_location=map_location, weights_only=True)


def restore(
    state: dict,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    restore_rng: bool = True,
) -> int:
    """Load ``state`` into the given objects (same names as when saved); return its step.

    Every name passed must be in the checkpoint (``KeyError`` otherwise), so nothing is
    silently left at its fresh initialisation."""
    for kind, objects in (("modules", modules), ("optimizers", optimizers or {})):
        missing = sorted(set(objects) - set(state[kind]))
        if missing:
            raise KeyError(
                f"checkpoint has no {kind} named {missing}; it has {sorted(state[kind])}"
            )
    for name, module in modules.items():
        module.load_state_dict(state["modules"][name])
    for name, opt in (optimizers or {}).items():
        opt.load_state_dict(state["optimizers"][name])
    for name, gen in (generators or {}).items():
        if name not in state["generators"]:
            raise KeyError(f"checkpoint has no generator named {name!r}")
        gen.set_state(state["generators"][name].cpu())
    if restore_rng:
        torch.set_rng_state(state["rng"]["torch"].cpu())
        if "cuda" in state["rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
    return int(state["step"])


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The ``ckpt_NNNNNNNN.pt`` files in ``directory``, oldest step first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))


def latest_step(directory: str | os.PathLike) -> int | None:
    """The step of the newest checkpoint in ``directory``, or None when there is none."""
    found = list_checkpoints(directory)
    return int(_NAME.match(found[-1].name).group(1)) if found else None


class Checkpointer:
    """Save a run every time it is called and resume it from the newest checkpoint.

    Pass it as ``callback`` to ``sngan_teach.gan.train``: ``checkpointer(step, history)``
    writes ``directory/ckpt_{step:08d}.pt`` atomically and keeps the newest ``keep`` files.
    ``resume()`` restores the newest one into the same objects and returns
    ``(step, history)``, or ``(0, [])`` when there is none yet.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        modules: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer] | None = None,
        generators: dict[str, torch.Generator] | None = None,
        keep: int = 2,
        extra: dict | None = None,
    ) -> None:
        if not isinstance(keep, int) or keep < 1:
            raise ValueError(f"keep must be an int >= 1, got {keep!r}")
        self.directory = Path(directory)
        self.modules, self.optimizers = modules, optimizers or {}
        self.generators, self.keep, self.extra = generators or {}, keep, extra or {}

    def __call__(self, step: int, history: list[dict[str, float]]) -> Path:
        _check_finite_modules(self.modules)
        state = training_state(
            step, self.modules, self.optimizers, self.generators, history, self.extra
        )
        path = save_checkpoint(self.directory / f"ckpt_{step:08d}.pt", state)
        for old in list_checkpoints(self.directory)[: -self.keep]:
            old.unlink()
        return path

    def latest(self) -> Path | None:
        """The newest checkpoint file, or None."""
        found = list_checkpoints(self.directory)
        return found[-1] if found else None

    def resume(self) -> tuple[int, list[dict[str, float]]]:
        """Restore the newest checkpoint; return ``(step, history)`` (``(0, [])`` if none)."""
        path = self.latest()
        if path is None:
            return 0, []
        state = load_checkpoint(path)
        step = restore(state, self.modules, self.optimizers, self.generators)
        return step, list(state["history"])
