"""Checkpoints that survive interruptions: atomic writes, safe loads, exact resume.

Introduced in lesson 09. A checkpoint is one ``torch.save``-d dict of tensors, numbers, strings,
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
half-written checkpoint under the real name (a crash may leave the temporary
``.ckpt_*.tmp`` file; ``Checkpointer.resume`` removes those). Before writing, every
floating-point tensor of the modules is checked: a NaN or inf raises ``FloatingPointError``
and the last good checkpoint stays the latest one. The state is serialized in memory and
loaded back with ``weights_only=True`` first, so a state that could not be resumed from (a
NumPy number in ``history``, say) raises ``TypeError`` instead of being written, and a full
disk raises a plain ``OSError`` naming the file.

``write_atomic`` is that write for any file: it replaces a symbolic link planted under the
target's name instead of writing through it, so a run never writes outside its folder.

A file that does not load (truncated, empty, not a checkpoint, a folder or a FIFO under a
checkpoint's name) raises ``CheckpointError`` naming it; ``load_newest`` then falls back to the
newest checkpoint that does load. ``check_state`` names what a dict lacks to be a checkpoint
(``step``, ``modules``, ...), and ``restore`` raises ``CheckpointError`` when the checkpoint
does not fit the objects it is loaded into (another network's shapes, a missing part).
"""

from __future__ import annotations

import io
import os
import re
import stat
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

_NAME = re.compile(r"^ckpt_(\d{8})\.pt$")
_PLAIN = (bool, int, float, str, bytes, type(None), torch.Tensor)


class CheckpointError(ValueError):
    """A checkpoint file exists but does not load as one, or does not fit the objects it is
    restored into (the message says what is wrong)."""


# The parts of a checkpoint (see ``training_state``) and their types.
PARTS = {"step": int, "modules": dict, "optimizers": dict, "generators": dict, "rng": dict,
         "history": list, "extra": dict}  # fmt: skip


def _non_plain(obj: object, where: str) -> str | None:
    """Where in ``obj`` the first value that is not a tensor, number, string, None, list, tuple
    or dict sits (``"history[3]['loss_D'] is numpy.float32"``), or None."""
    if isinstance(obj, dict):
        items = obj.items()
    elif isinstance(obj, (list, tuple)):
        items = enumerate(obj)
    elif type(obj) in _PLAIN or isinstance(obj, torch.Tensor):
        return None
    else:
        return f"{where} is {type(obj).__module__}.{type(obj).__qualname__}"
    for key, value in items:
        found = _non_plain(value, f"{where}[{key!r}]")
        if found:
            return found
    return None


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
    """Write ``state`` to ``path`` atomically (temporary file, fsync, rename); return the path.

    The state is serialized in memory and loaded back with ``weights_only=True`` before
    anything is written: ``TypeError`` (naming the value, e.g. a NumPy number in ``history``)
    when it would not load. A failed write (disk full) raises ``OSError`` and leaves any older
    file under ``path`` intact."""
    path = Path(path)
    for part in ("history", "extra"):
        found = _non_plain(state.get(part), part) if isinstance(state, dict) else None
        if found:
            raise TypeError(
                f"not saving {path}: {found}; a checkpoint holds only tensors, numbers, "
                "strings, None, lists and dicts (convert NumPy numbers with float() or int())"
            )
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    try:
        torch.load(buffer, weights_only=True)
    except Exception as err:
        raise TypeError(
            f"not saving {path}: it would not load back with weights_only=True ({err})"
        ) from err
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_atomic(path, buffer.getbuffer())


def write_atomic(path: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder (flushed to disk,
    then renamed over ``path`` with ``os.replace``); return the path.

    A crash mid-write leaves the old file intact (and perhaps a ``.NAME.*.tmp`` file). A
    symbolic link or hard link under ``path`` is replaced, not written through, so nothing
    outside the folder changes. A failed write raises ``OSError`` with its ``errno``, naming
    ``path`` (not the temporary file)."""
    path = Path(path)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint with ``weights_only=True`` (tensors and plain containers only).

    Raises ``FileNotFoundError`` when there is no file and ``CheckpointError`` (naming the
    file) when it does not load as a checkpoint: truncated, empty, not written by
    ``torch.save``, holding anything but tensors and plain containers, not a dict, or not a
    file at all (a folder, a FIFO, a broken link)."""
    path = Path(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    kind = _not_a_file(path)
    if kind:
        raise CheckpointError(f"checkpoint {path} is {kind}, not a file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else ""
        raise CheckpointError(
            f"checkpoint {path} does not load ({type(err).__name__}: {reason})"
        ) from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, not a dict")
    return state


def restore(
    state: dict,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    generators: dict[str, torch.Generator] | None = None,
    restore_rng: bool = True,
) -> int:
    """Load ``state`` into the given objects (same names as when saved); return its step.

    ``CheckpointError`` saying what does not fit when ``state`` lacks a part (see
    ``check_state``) or a name passed here, or when a saved state does not fit its object
    (another architecture's shapes), so nothing is silently left at its fresh initialisation.
    """
    check_state(state)
    for kind, objects in (("modules", modules), ("optimizers", optimizers or {}),
                          ("generators", generators or {})):  # fmt: skip
        missing = sorted(set(objects) - set(state[kind]))
        if missing:
            raise CheckpointError(
                f"the checkpoint has no {kind} named {missing}; it has {sorted(state[kind])}"
            )
    part = ""  # what is being loaded, for the message
    try:
        for part, module in modules.items():
            module.load_state_dict(state["modules"][part])
        for part, opt in (optimizers or {}).items():
            opt.load_state_dict(state["optimizers"][part])
        for part, gen in (generators or {}).items():
            gen.set_state(state["generators"][part].cpu())
        if restore_rng:
            part = "rng"
            torch.set_rng_state(state["rng"]["torch"].cpu())
            if "cuda" in state["rng"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all([s.cpu() for s in state["rng"]["cuda"]])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as err:
        reason = " ".join(str(err).split())[:300]
        raise CheckpointError(
            f"the checkpoint's {part} does not fit ({type(err).__name__}: {reason})"
        ) from err
    return int(state["step"])


def check_state(state: object) -> None:
    """``CheckpointError`` naming each part ``state`` lacks to be a checkpoint written by
    ``training_state`` (``step`` an int, ``modules`` a dict, ...); None when it has them all."""
    if not isinstance(state, dict):
        raise CheckpointError(f"the checkpoint holds a {type(state).__name__}, not a dict")
    wrong = [
        f"{key} ({kind.__name__})"
        for key, kind in PARTS.items()
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool)  # True: no step
    ]
    if wrong:
        raise CheckpointError(f"the checkpoint has no {', '.join(wrong)}")


def _not_a_file(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file (or a link to one), else None."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "a broken symbolic link"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a FIFO" if stat.S_ISFIFO(mode) else "not a regular file"


def step_of(path: str | os.PathLike) -> int:
    """The step in a checkpoint's name: 1200 for ``ckpt_00001200.pt``."""
    match = _NAME.match(Path(path).name)
    if match is None:
        raise ValueError(f"path must be named ckpt_NNNNNNNN.pt, got {Path(path).name!r}")
    return int(match.group(1))


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """The ``ckpt_NNNNNNNN.pt`` files in ``directory``, oldest step first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=step_of)


def load_newest(
    directory: str | os.PathLike, report: Callable[[str], None] | None = None
) -> tuple[Path, dict] | None:
    """The newest checkpoint in ``directory`` that loads, as ``(path, state)``; None if there
    is no checkpoint. A newer file that does not load is skipped and named through ``report``
    (default: ``warnings.warn``). ``CheckpointError`` when none of them loads."""
    found = list_checkpoints(directory)
    errors = []
    for path in reversed(found):
        try:
            state = load_checkpoint(path)
        except CheckpointError as err:
            errors.append(str(err))
            continue
        for message in errors:
            (report or warnings.warn)(f"{message}; using the older {path.name} instead")
        return path, state
    if errors:
        raise CheckpointError(f"no checkpoint in {directory} loads: {'; '.join(errors)}")
    return None


def remove_stale_temp_files(directory: str | os.PathLike) -> list[Path]:
    """Delete the ``.ckpt_*.tmp`` files that interrupted writes left in ``directory``; return
    them. Only call this while no other process writes checkpoints there."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = sorted(directory.glob(".ckpt_*.tmp"))
    for path in stale:
        path.unlink()
    return stale


def latest_step(directory: str | os.PathLike) -> int | None:
    """The step of the newest checkpoint in ``directory``, or None when there is none."""
    found = list_checkpoints(directory)
    return step_of(found[-1]) if found else None


class Checkpointer:
    """Save a run every time it is called and resume it from the newest checkpoint.

    Pass it as ``callback`` to ``sngan_teach.gan.train``: ``checkpointer(step, history)``
    writes ``directory/ckpt_{step:08d}.pt`` atomically and keeps the newest ``keep`` files.
    ``resume()`` removes temporary files left by interrupted writes, restores the newest
    checkpoint that loads (naming any newer one that does not) into the same objects and
    returns ``(step, history)``, or ``(0, [])`` when there is none yet.
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
        # files of later steps (a run resumed from an older checkpoint) are left alone
        done = [p for p in list_checkpoints(self.directory) if step_of(p) <= step]
        for old in done[: -self.keep]:
            if old.is_symlink() or not old.is_dir():  # a folder in the way is left alone
                old.unlink()
        return path

    def latest(self) -> Path | None:
        """The newest checkpoint file, or None."""
        found = list_checkpoints(self.directory)
        return found[-1] if found else None

    def resume(
        self, report: Callable[[str], None] | None = None
    ) -> tuple[int, list[dict[str, float]]]:
        """Restore the newest checkpoint that loads; return ``(step, history)`` (``(0, [])`` if
        none). Skipped files are named through ``report`` (see ``load_newest``)."""
        remove_stale_temp_files(self.directory)
        found = load_newest(self.directory, report)
        if found is None:
            return 0, []
        state = found[1]
        step = restore(state, self.modules, self.optimizers, self.generators)
        return step, list(state["history"])
