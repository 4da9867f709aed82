"""Checked "your turn" exercises: the lessons' checks of the learner's own code.

Every lesson from 01 on has a few exercises placed where their idea is fresh. Each is an
attribute of this module with three methods::

    from sngan_teach import exercises

    def power_step(W, u):
        ...                                  # the learner's answer

    exercises.power_step.check(power_step)  # runs it on unseen inputs, prints the verdict
    exercises.power_step.hint()
    exercises.power_step.solution()
    exercises.progress()                    # which exercises are solved in this kernel

``check(answer)`` prints one verdict (a coloured box in JupyterLab, plain text elsewhere) and
returns True when the answer is accepted, False otherwise. It runs the answer on inputs of
several shapes, seeds and dtypes that the lesson never used, compares with the reference, and
says what is wrong in the learner's terms: which input, expected against got, and the name of
the mistake where it is a known one (``u <- W^T v`` in power iteration, dividing by
``sigma^2``, the hinge loss with its sign flipped, ...). It never raises: an exception in the
learner's code is shown with the learner's frames only, and a placeholder (``...``, or a
function whose body is ``...``) is "not attempted yet".

The exercises of lesson NN live in ``lessonNN.py``; ``_core.py`` holds the checker.
"""

from __future__ import annotations

from . import (
    lesson01,
    lesson02,
    lesson03,
    lesson04,
    lesson05,
    lesson06,
    lesson07,
    lesson08,
    lesson09,
    lesson10,
    lesson11,
)
from ._core import Exercise

_LESSONS = (lesson01, lesson02, lesson03, lesson04, lesson05)
_LESSONS += (lesson06, lesson07, lesson08, lesson09, lesson10, lesson11)
EXERCISES: dict[str, Exercise] = {e.name: e for module in _LESSONS for e in module.EXERCISES}
globals().update(EXERCISES)

_MARKS = {
    "solved": "[x] solved",
    "tried": "[~] checked, not right yet",
    "not attempted": "[ ] not checked yet",
}


def progress(lesson: int | str | None = None) -> None:
    """Print which exercises are solved in this kernel (the verdict of their latest check).

    Args:
        lesson: a lesson number (``3`` or ``"03"``) for its exercises; ``None`` for the
            lessons whose exercises were checked in this kernel, or every lesson if none was.

    Raises:
        ValueError: ``lesson`` is not the number of a lesson that has exercises.
    """
    lessons = sorted({e.lesson for e in EXERCISES.values()})
    if lesson is None:
        touched = sorted({e.lesson for e in EXERCISES.values() if e.status != "not attempted"})
        chosen = touched or lessons
    else:
        number = _lesson_number(lesson)
        if number not in lessons:
            raise ValueError(f"lesson must be one of {lessons}, got {lesson!r}")
        chosen = [number]
    lines = []
    for number in chosen:
        mine = [e for e in EXERCISES.values() if e.lesson == number]
        solved = sum(e.status == "solved" for e in mine)
        lines.append(f"Lesson {number:02d}: {solved} of {len(mine)} solved in this kernel")
        width = max(len(e.name) for e in mine)
        lines += [f"  {e.name:<{width}}  {_MARKS[e.status]}" for e in mine]
    print("\n".join(lines))


def _lesson_number(lesson: object) -> int:
    if isinstance(lesson, bool):
        raise ValueError(f"lesson must be a lesson number, got {lesson!r}")
    if isinstance(lesson, int):
        return lesson
    if isinstance(lesson, str) and lesson[:2].isdigit():
        return int(lesson[:2])
    raise ValueError(f"lesson must be a lesson number such as 3 or '03', got {lesson!r}")


__all__ = ["EXERCISES", "Exercise", "progress", *EXERCISES]
