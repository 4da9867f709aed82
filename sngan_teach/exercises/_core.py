"""The checker behind every "your turn" exercise: run the learner's answer, judge it, show why.

An :class:`Exercise` holds a task, a hint, a reference solution and a *judge*: a function that
runs the learner's answer on inputs the lesson never showed (several shapes, seeds and dtypes)
and compares it with the reference. The judge raises :class:`Wrong` (with the input, expected
against got, and the :class:`Mistake` when the answer is a known one), lets
:class:`LearnerError` through when the learner's own code raised, and returns a one-line
summary of what it tried when the answer is right. :meth:`Exercise.check` turns all of that
into one verdict, a coloured box in JupyterLab and plain text elsewhere, and never raises.
"""

from __future__ import annotations

import ast
import html
import inspect
import numbers
import textwrap
import traceback
import types
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # sngan_teach/: frames here are ours

STATUSES = ("not attempted", "tried", "solved")


@dataclass(frozen=True)
class Mistake:
    """A known mistake: a short name and what is wrong with it, in the learner's terms."""

    name: str
    why: str


class Wrong(Exception):
    """The answer is wrong on one input: where, what differs, and the known mistake if any."""

    def __init__(self, where: str, detail: str, mistake: Mistake | None = None) -> None:
        super().__init__(detail)
        self.where, self.detail, self.mistake = where, detail, mistake


class LearnerError(Exception):
    """The learner's code raised ``error`` on the input ``where``."""

    def __init__(self, error: Exception, where: str, mistake: Mistake | None = None) -> None:
        super().__init__(str(error))
        self.error, self.where, self.mistake = error, where, mistake


class NotAttempted(Exception):
    """The answer is still the placeholder (``...``)."""


# --------------------------------------------------------------------------------------------
# running the learner's code


def is_placeholder(answer: object) -> bool:
    """True for ``...`` and for a function whose body is only ``...``, ``pass`` or a docstring."""
    if answer is Ellipsis:
        return True
    fn = inspect.unwrap(answer) if callable(answer) else None
    if not isinstance(fn, types.FunctionType):
        return False
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return False  # no source to read: calling it shows whether it returns the placeholder
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return False
    body = node.body
    if body and _is_constant(body[0], str):
        body = body[1:]
    return all(isinstance(s, ast.Pass) or _is_constant(s, type(Ellipsis)) for s in body)


def _is_constant(statement: ast.stmt, kind: type) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, kind)
    )


def _copy(x: object) -> object:
    if isinstance(x, Tensor):
        return x.detach().clone()
    if isinstance(x, np.ndarray):
        return x.copy()
    if isinstance(x, list):
        return list(x)
    return x


def call(fn: Callable, *args: object, where: str, copy: bool = True) -> Any:
    """``fn(*args)`` on copies of the arguments, so that the learner's code cannot change the
    inputs the reference is computed from. An exception there becomes :class:`LearnerError`,
    a placeholder result :class:`NotAttempted`, a ``None`` result :class:`Wrong`."""
    if copy:
        args = tuple(_copy(a) for a in args)
    try:
        result = fn(*args)
    except Exception as error:
        raise LearnerError(error, where) from None
    if result is Ellipsis:
        raise NotAttempted
    if result is None:
        raise Wrong(where, "your function returned None: is its `return` line missing?")
    return result


def learner_traceback(error: BaseException) -> str:
    """The traceback of ``error`` with every frame of this package left out: the learner's
    frames (and those of the libraries their code called) only."""
    te = traceback.TracebackException.from_exception(error)
    seen = set()
    link = te
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        kept = [f for f in link.stack if not _ours(f.filename)]
        link.stack = traceback.StackSummary.from_list(kept)
        link = link.__cause__ or link.__context__
    return "".join(te.format()).rstrip()


def _ours(filename: str) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(PACKAGE_DIR)
    except (OSError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# comparing what came back with the reference


def as_float64(got: object, what: str, where: str) -> Tensor:
    """``got`` (a tensor, an array or a real number) as a float64 tensor; :class:`Wrong` else."""
    if isinstance(got, Tensor):
        if got.is_complex():
            raise Wrong(where, f"{what} is complex ({got.dtype}); it should be real")
        return got.detach().to("cpu", torch.float64)
    if isinstance(got, np.ndarray) and got.dtype.kind in "biuf":
        return torch.from_numpy(np.asarray(got, dtype=np.float64))
    if isinstance(got, numbers.Real):
        return torch.tensor(float(got), dtype=torch.float64)
    raise Wrong(where, f"{what} is a {type(got).__name__}; expected a tensor or a number")


def show(t: Tensor, n: int = 4) -> str:
    """A few entries of a tensor, for a message: ``0.1234`` or ``[0.1234, -2.5, ...] (6 x 4)``."""
    t = t.detach().double()
    if t.dim() == 0:
        return f"{t.item():.6g}"
    flat = t.flatten()
    values = ", ".join(f"{x:.4g}" for x in flat[:n].tolist())
    more = ", ..." if flat.numel() > n else ""
    return f"[{values}{more}] (shape {shape_text(t)})"


def dtype_name(dtype: torch.dtype) -> str:
    """``float64`` for ``torch.float64``."""
    return str(dtype).removeprefix("torch.")


def shape_text(t: Tensor | Sequence[int]) -> str:
    shape = tuple(t.shape) if isinstance(t, Tensor) else tuple(t)
    return " x ".join(str(s) for s in shape) if shape else "scalar"


def close(a: Tensor, b: Tensor, rtol: float, atol: float) -> bool:
    """Same shape and values; NaN equals NaN, so that a mistake that gives NaN is recognised
    (a reference never gives NaN)."""
    return a.shape == b.shape and bool(torch.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def expect_close(
    got: Tensor,
    expected: Tensor,
    what: str,
    where: str,
    *,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    mistakes: Sequence[tuple[Mistake, Callable[[], object]]] = (),
) -> None:
    """Raise :class:`Wrong` unless ``got`` equals ``expected`` to the tolerance. Before that,
    name the first mistake whose outcome (``outcome()``, computed only when ``got`` is wrong)
    ``got`` equals, when that outcome differs from ``expected``."""
    expected = expected.detach().double()
    if close(got, expected, rtol, atol):
        return
    for mistake, outcome in mistakes:
        value = _evaluate(outcome)
        if value is not None and close(got, value, rtol, atol):
            if not close(value, expected, rtol, atol):
                raise Wrong(where, f"{what}: expected {show(expected)}, got {show(got)}", mistake)
    if got.shape != expected.shape:
        raise Wrong(
            where, f"{what} has shape {shape_text(got)}; expected shape {shape_text(expected)}"
        )
    if not torch.isfinite(got).all():
        raise Wrong(where, f"{what} holds NaN or inf: expected {show(expected)}, got {show(got)}")
    raise Wrong(where, f"{what}: expected {show(expected)}, got {show(got)}")


def _evaluate(outcome: Callable[[], object]) -> Tensor | None:
    """What a mistaken formula gives here, as float64; None where it cannot even run."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a mistaken formula may warn (NaN, overflow)
            return as_float64(outcome(), "outcome", "")
    except Exception:
        return None


def tolerance(dtype: torch.dtype) -> dict[str, float]:
    """rtol and atol for a comparison of results computed in ``dtype``."""
    if dtype == torch.float64:
        return {"rtol": 1e-8, "atol": 1e-10}
    return {"rtol": 1e-4, "atol": 1e-5}


def _is_number(x: object) -> bool:
    """A real number: a Python or NumPy scalar, or a one-element real tensor or array."""
    if isinstance(x, bool):
        return False
    if isinstance(x, Tensor):
        return x.numel() == 1 and not x.is_complex() and x.dtype != torch.bool
    if isinstance(x, np.ndarray):
        return x.size == 1 and x.dtype.kind in "iuf"
    return isinstance(x, numbers.Real)


@dataclass(frozen=True)
class Case:
    """One input the check runs: where (in the learner's terms), the arguments, and the dtype
    whose tolerance the comparison uses (or an explicit ``tol``, a dict of rtol and atol)."""

    where: str
    args: tuple
    dtype: torch.dtype = torch.float64
    tol: dict | None = None

    def tolerance(self) -> dict[str, float]:
        return self.tol or tolerance(self.dtype)


def randn(*shape: int, seed: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """Standard normal draws from a generator of their own: the global random state is left
    alone, so a check does not change what a lesson draws after it."""
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


MistakeList = Sequence[tuple[Mistake, Callable[..., object]]]


def compare_on(
    answer: Callable,
    reference: Callable,
    cases: Sequence[Case],
    what: str,
    mistakes: MistakeList = (),
) -> None:
    """Run ``answer`` on every case and compare it with ``reference``; each mistake is a pair
    (mistake, the mistaken formula, called on the same arguments)."""
    for case in cases:
        expected = as_float64(reference(*case.args), what, case.where)
        got = as_float64(call(answer, *case.args, where=case.where), what, case.where)
        outcomes = [(m, _bind(fn, case.args)) for m, fn in mistakes]
        expect_close(got, expected, what, case.where, mistakes=outcomes, **case.tolerance())


def _bind(fn: Callable, args: tuple) -> Callable[[], object]:
    return lambda: fn(*(_copy(a) for a in args))


def compare_number(
    answer: object, reference: float, what: str, mistakes: Sequence[tuple[Mistake, float]] = ()
) -> None:
    """Compare a number with the reference to 0.1 % (an answer may be rounded); name the
    mistake whose value it equals. The message does not give the right value away."""
    got = as_float64(answer, what, "your number").reshape(())
    value = got.item()

    def near(x: float) -> bool:
        return abs(value - x) <= 1e-3 * abs(x)

    if near(reference):
        return
    for mistake, outcome in mistakes:
        if near(outcome) and not near(reference):
            raise Wrong("", f"{value:.6g} is what that gives; {what} is another number", mistake)
    raise Wrong("", f"{value:.6g} is not {what} (it should be within 0.1 % of the exact value)")


DETACHED = Mistake(
    "the result is cut off from autograd",
    "It was computed with .item(), .detach(), .numpy() or torch.tensor(...) somewhere, so "
    "backward() cannot reach what it depends on. Keep every step a tensor operation.",
)


def compare_loss(
    answer: Callable,
    reference: Callable,
    cases: Sequence[Case],
    what: str,
    mistakes: MistakeList = (),
) -> None:
    """Like :func:`compare_on` for a loss: the answer must return a 0-d tensor whose value and
    gradient with respect to every tensor argument equal the reference's."""
    for case in cases:
        leaves = _leaves(case.args)
        expected = reference(*leaves)
        tensors = [a for a in leaves if isinstance(a, Tensor) and a.requires_grad]
        expected_grads = torch.autograd.grad(expected, tensors)
        args = _leaves(case.args)
        got = call(answer, *args, where=case.where, copy=False)
        if not isinstance(got, Tensor):
            raise Wrong(
                case.where,
                f"{what} is a {type(got).__name__}; return the 0-d tensor itself (no .item()), "
                "so that backward() can run through it",
            )
        if got.dim() != 0:
            raise Wrong(
                case.where,
                f"{what} has shape {shape_text(got)}; it should be a 0-d tensor (one number): "
                "average over the batch",
            )
        if not got.requires_grad:
            raise Wrong(case.where, f"{what} has no gradient", DETACHED)
        outcomes = [(m, _bind(fn, case.args)) for m, fn in mistakes]
        tol = case.tolerance()
        expect_close(
            as_float64(got, what, case.where), expected, what, case.where, mistakes=outcomes, **tol
        )
        inputs = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        grads = torch.autograd.grad(got, inputs, allow_unused=True)
        for i, (g, e) in enumerate(zip(grads, expected_grads, strict=True)):
            if g is None:
                raise Wrong(case.where, f"{what} does not depend on argument {i + 1}", DETACHED)
            expect_close(
                g.double(), e, f"the gradient of {what} (argument {i + 1})", case.where, **tol
            )


def _leaves(args: tuple) -> tuple:
    """Fresh copies of the arguments, the floating-point tensors among them requiring grad."""
    return tuple(
        a.detach().clone().requires_grad_(a.is_floating_point())
        if isinstance(a, Tensor)
        else _copy(a)
        for a in args
    )


# --------------------------------------------------------------------------------------------
# the verdict

_COLOURS = {  # (border, background) of the box, per kind of verdict
    "correct": ("#2e7d32", "#e8f5e9"),
    "not attempted": ("#607d8b", "#eceff1"),
    "wrong": ("#c62828", "#ffebee"),
    "error": ("#ef6c00", "#fff3e0"),
    "info": ("#1565c0", "#e3f2fd"),
}


@dataclass(frozen=True)
class Verdict:
    """One verdict: its kind (a key of ``_COLOURS``), a title, lines of text and, for an error,
    the learner's traceback."""

    kind: str
    title: str
    lines: tuple[str, ...] = ()
    code: str = ""

    def text(self) -> str:
        body = [self.title, *(f"  {line}" for line in self.lines)]
        if self.code:
            body += [f"    {line}" for line in self.code.splitlines()]
        return "\n".join(body)

    def html(self) -> str:
        border, background = _COLOURS[self.kind]
        lines = "".join(f"<div>{html.escape(line)}</div>" for line in self.lines)
        code = (
            '<pre style="margin:4px 0 0;padding:4px 6px;background:#ffffff;color:#1b1b1b;'
            f'white-space:pre-wrap;font-size:0.85em">{html.escape(self.code)}</pre>'
            if self.code
            else ""
        )
        return (
            f'<div style="border-left:5px solid {border};background:{background};'
            "color:#1b1b1b;padding:6px 10px;margin:4px 0;font-family:sans-serif;"
            f'font-size:0.92em;line-height:1.4"><div><b>{html.escape(self.title)}</b></div>'
            f"{lines}{code}</div>"
        )


def emit(verdict: Verdict) -> None:
    """Show a verdict: as a coloured box (with a text/plain twin) under IPython, printed else."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the lessons
        get_ipython = None  # noqa: N806
    if get_ipython is not None and get_ipython() is not None:
        from IPython.display import display

        display({"text/plain": verdict.text(), "text/html": verdict.html()}, raw=True)
    else:
        print(verdict.text())


# --------------------------------------------------------------------------------------------
# the exercise


@dataclass(eq=False)
class Exercise:
    """One checked exercise of a lesson.

    Args:
        name: its attribute name in :mod:`sngan_teach.exercises` (and, for a function, the name
            the lesson asks the learner to give it).
        lesson: the number of the lesson it belongs to.
        task: one line saying what to write.
        hint_text: what :meth:`hint` shows.
        reference: the reference solution: a function (:meth:`solution` shows its source) or a
            number.
        judge: ``judge(answer)`` runs and compares the answer; returns a one-line summary of
            what it tried when the answer is right, raises :class:`Wrong`,
            :class:`LearnerError` or :class:`NotAttempted` otherwise.
        kind: ``"function"`` or ``"number"``: what the answer must be.
        solution_text: for a number, the working that :meth:`solution` shows.
    """

    name: str
    lesson: int
    task: str
    hint_text: str
    reference: Callable | float
    judge: Callable[[Any], str]
    kind: str = "function"
    solution_text: str = ""
    status: str = field(default="not attempted", init=False)

    def __post_init__(self) -> None:
        if self.kind not in ("function", "number"):
            raise ValueError(f"kind must be 'function' or 'number', got {self.kind!r}")

    def __repr__(self) -> str:
        return f"<exercise {self.name} of lesson {self.lesson:02d}: {self.task}>"

    def check(self, answer: object) -> bool:
        """Run ``answer`` on inputs it has not seen, print the verdict, return True if right.

        Never raises: a wrong answer, an answer that raises and a placeholder each get their
        own verdict. The global random state is the same afterwards as before.
        """
        verdict = self._verdict(answer)
        if verdict.kind == "correct":
            self.status = "solved"
        elif verdict.kind != "not attempted":
            self.status = "tried"
        emit(verdict)
        return verdict.kind == "correct"

    def _verdict(self, answer: object) -> Verdict:
        hint = f"For a hint: exercises.{self.name}.hint(); the answer: exercises.{self.name}."
        hint += "solution()"
        try:
            if is_placeholder(answer):
                raise NotAttempted
            self._check_kind(answer)
            with torch.random.fork_rng(devices=[]), torch.enable_grad():
                tried = self.judge(answer)
        except NotAttempted:
            what = "the function's body" if self.kind == "function" else "your number"
            lines = (
                self.task,
                f"Write {what} in place of `...` in the cell above, run it, then run this cell.",
            )
            return Verdict("not attempted", f"Not attempted yet: {self.name}", lines)
        except Wrong as wrong:
            lines = [f"On {wrong.where}:"] if wrong.where else []
            if wrong.mistake is not None:
                lines.append(f"This is a known mistake: {wrong.mistake.name}. {wrong.mistake.why}")
            lines += [wrong.detail, hint]
            return Verdict("wrong", f"Not right yet: {self.name}", tuple(lines))
        except LearnerError as failure:
            lines = [f"On {failure.where}, your code raised {type(failure.error).__name__}."]
            if failure.mistake is not None:
                lines.append(
                    f"This is a known mistake: {failure.mistake.name}. {failure.mistake.why}"
                )
            lines.append(hint)
            return Verdict(
                "error",
                f"Your code raised an error: {self.name}",
                tuple(lines),
                learner_traceback(failure.error),
            )
        except Exception as error:  # what came back was unusable in a way no check foresaw
            return Verdict(
                "wrong",
                f"Not right yet: {self.name}",
                (
                    "The check could not use what your code returned "
                    f"({type(error).__name__}: {error}).",
                    self.task,
                    hint,
                ),
            )
        return Verdict("correct", f"Correct: {self.name}", (tried,))

    def _check_kind(self, answer: object) -> None:
        if self.kind == "function" and not callable(answer):
            raise Wrong(
                "your answer", f"expected a function, got a {type(answer).__name__}: {self.task}"
            )
        if self.kind == "number" and not _is_number(answer):
            raise Wrong("your answer", f"expected a number, got {answer!r}: {self.task}")

    def hint(self) -> None:
        """Show the hint."""
        emit(Verdict("info", f"Hint: {self.name}", tuple(self.hint_text.split("\n"))))

    def solution(self) -> None:
        """Show the reference solution."""
        if callable(self.reference):
            code = textwrap.dedent(inspect.getsource(self.reference)).rstrip()
        else:
            code = self.solution_text
        emit(Verdict("info", f"Solution: {self.name}", (self.task,), code))
