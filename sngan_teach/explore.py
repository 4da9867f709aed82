"""Interactive figures that work in JupyterLab and on the static site alike.

Introduced in lesson 00, which shows how to read one; every slider of the series goes through
it. A lesson writes a plain drawing function and the values each control may take::

    from sngan_teach.explore import explore

    def draw(k, r):
        fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        ...                                   # plot for these values; no plt.show()
        return fig, f"after k = {k} steps the error is {err:.2g}"

    explore(draw, k=[1, 2, 5, 10, 20, 40], r=[0.5, 0.8, 0.95])

:func:`explore` calls ``draw`` once for every combination of control values (here
6 x 3 = 18 frames), keeps each figure as a PNG and closes it. It then shows one output that
carries two views of the same frames:

- a live ipywidgets control (a ``SelectionSlider`` per numeric control, a ``Dropdown`` for
  any other) that swaps in the precomputed image and caption: this is what JupyterLab shows;
- a self-contained HTML slider (an ``<input type="range">`` per control and a few lines of
  inline JavaScript that swap the image and the caption, with every frame embedded as a
  ``data:`` URI; no outside script, style or font): this is what the static site shows, where
  there is no kernel to talk to. The site (``site/_config.yml``) ranks ``text/html`` above
  the widget view for that reason.

Since every frame is computed up front, moving a control costs nothing, at the price of a
small grid: at most :data:`MAX_FRAMES` frames in all.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["explore", "MAX_FRAMES", "DPI"]

#: Largest number of frames (combinations of control values) one call may render.
MAX_FRAMES = 48
#: Resolution of the frames: a 6 x 3.5 in figure becomes 480 x 280 pixels, about 20-40 kB.
DPI = 80


@dataclass(frozen=True)
class _Frames:
    """The rendered grid: control names, value labels per control, PNGs and captions in
    row-major order of the controls (the last control varies fastest)."""

    names: tuple[str, ...]
    labels: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]
    pngs: tuple[bytes, ...]
    captions: tuple[str, ...]

    def index(self, positions: Sequence[int]) -> int:
        i = 0
        for size, pos in zip((len(x) for x in self.labels), positions, strict=True):
            i = i * size + pos
        return i


def _label(value: object) -> str:
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        return f"{float(value):g}"
    return str(value)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check(draw: object, controls: dict[str, object]) -> dict[str, list]:
    if not callable(draw):
        raise TypeError(f"draw must be a callable, got {type(draw).__name__}")
    if not controls:
        raise ValueError("explore needs at least one control, e.g. explore(draw, k=[1, 2, 5])")
    sizes: dict[str, int] = {}
    for name, given in controls.items():
        if isinstance(given, (str, bytes, dict, set, frozenset)) or not hasattr(given, "__len__"):
            raise TypeError(
                f"control {name} must be a list, tuple or range of values, "
                f"got {type(given).__name__}"
            )
        try:
            sizes[name] = len(given)
        except TypeError:  # a 0-d array or tensor: one value, not a list of values
            raise TypeError(
                f"control {name} must be a list, tuple or range of values, got a 0-d "
                f"{type(given).__name__} (one value: put it in a list)"
            ) from None
        except OverflowError:  # range(10**20): more values than len() can count
            raise ValueError(
                f"control {name} has more values than len() can count; explore renders every "
                f"combination up front, at most MAX_FRAMES = {MAX_FRAMES}"
            ) from None
        if not sizes[name]:
            raise ValueError(f"control {name} must have at least one value, got {given!r}")
    # count the frames before any control becomes a list: range(10**12) is cheap, its list is not
    n_frames = math.prod(sizes.values())
    if n_frames > MAX_FRAMES:
        grid = " x ".join(f"{name} ({size} values)" for name, size in sizes.items())
        raise ValueError(
            f"explore renders every combination up front: {grid} = {n_frames} frames, "
            f"more than MAX_FRAMES = {MAX_FRAMES}; give the controls fewer values"
        )
    values: dict[str, list] = {}
    for name, given in controls.items():
        items = list(given)
        labels = [_label(v) for v in items]
        if len(set(labels)) != len(labels):
            raise ValueError(f"control {name} has repeated values: {labels}")
        values[name] = items
    return values


def _render(draw: Callable, values: dict[str, list]) -> _Frames:
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    names = tuple(values)
    pngs, captions = [], []
    for combo in itertools.product(*values.values()):
        kwargs = dict(zip(names, combo, strict=True))
        where = ", ".join(f"{n}={v!r}" for n, v in kwargs.items())
        result = draw(**kwargs)
        fig, caption = result if isinstance(result, tuple) and len(result) == 2 else (result, None)
        if not isinstance(fig, Figure):
            plt.close("all")
            raise TypeError(
                f"draw({where}) must return a matplotlib Figure or (Figure, caption), "
                f"got {type(result).__name__}"
            )
        if caption is None:
            caption = ", ".join(f"{n} = {_label(v)}" for n, v in kwargs.items())
        if not isinstance(caption, str):
            plt.close(fig)
            raise TypeError(
                f"draw({where}) returned a caption of type {type(caption).__name__}, not str"
            )
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        plt.close(fig)
        pngs.append(buffer.getvalue())
        captions.append(" ".join(caption.split()))
    return _Frames(
        names=names,
        labels=tuple(tuple(_label(v) for v in vals) for vals in values.values()),
        numeric=tuple(all(_is_number(v) for v in vals) for vals in values.values()),
        pngs=tuple(pngs),
        captions=tuple(captions),
    )


_SCRIPT = """\
(function () {
  var root = document.getElementById("%(id)s");
  var data = JSON.parse(root.querySelector("script.sngan-explore-data").textContent);
  var inputs = root.querySelectorAll("input.sngan-explore-range");
  var img = root.querySelector("img.sngan-explore-frame");
  var caption = root.querySelector(".sngan-explore-caption");
  function update() {
    var i = 0;
    for (var j = 0; j < inputs.length; j++) {
      var pos = Number(inputs[j].value);
      i = i * data.labels[j].length + pos;
      root.querySelector("output[for='" + inputs[j].id + "']").textContent = data.labels[j][pos];
    }
    img.src = "data:image/png;base64," + data.frames[i];
    img.alt = data.captions[i];
    caption.textContent = data.captions[i];
  }
  for (var j = 0; j < inputs.length; j++) { inputs[j].addEventListener("input", update); }
})();
"""


def _html(frames: _Frames, uid: str) -> str:
    """The site's view: range inputs, the first frame, its caption, the data and the script."""
    data = {
        "labels": frames.labels,
        "frames": [base64.b64encode(png).decode("ascii") for png in frames.pngs],
        "captions": frames.captions,
    }
    # inside <script> the HTML parser reacts to "</script", "<!--" and "<script": JSON may
    # write every "<", ">" and "&" as a \u escape, so no caption can end or hide the element
    payload = json.dumps(data, separators=(",", ":"))
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    rows = []
    for j, (name, labels) in enumerate(zip(frames.names, frames.labels, strict=True)):
        input_id = f"{uid}-{j}"
        rows.append(
            f'<div><label for="{input_id}" style="display:inline-block;min-width:6em">'
            f"{html.escape(name)}</label> "
            f'<input type="range" class="sngan-explore-range" id="{input_id}" '
            f'name="{html.escape(name)}" min="0" max="{len(labels) - 1}" step="1" value="0" '
            f'aria-label="{html.escape(name)}" style="vertical-align:middle;width:16em"> '
            f'<output for="{input_id}">{html.escape(labels[0])}</output></div>'
        )
    first = base64.b64encode(frames.pngs[0]).decode("ascii")
    caption = html.escape(frames.captions[0])
    return (
        f'<div class="sngan-explore" id="{uid}">\n'
        + "\n".join(rows)
        + f'\n<img class="sngan-explore-frame" src="data:image/png;base64,{first}" '
        f'alt="{caption}" style="max-width:100%">\n'
        f'<p class="sngan-explore-caption">{caption}</p>\n'
        f'<script type="application/json" class="sngan-explore-data">{payload}</script>\n'
        f"<script>\n{_SCRIPT % {'id': uid}}</script>\n</div>"
    )


def _widget(frames: _Frames):
    """The JupyterLab view: one control per name, the image and the caption."""
    import ipywidgets as widgets

    controls = []
    for name, labels, numeric in zip(frames.names, frames.labels, frames.numeric, strict=True):
        options = [(label, pos) for pos, label in enumerate(labels)]
        kind = widgets.SelectionSlider if numeric else widgets.Dropdown
        controls.append(
            kind(options=options, value=0, description=name, style={"description_width": "6em"})
        )
    width = int.from_bytes(frames.pngs[0][16:20], "big")  # the PNG header's width field
    image = widgets.Image(value=frames.pngs[0], format="png", width=width)  # natural size
    caption = widgets.Label(value=frames.captions[0])

    def update(_change=None) -> None:
        i = frames.index([c.value for c in controls])
        image.value = frames.pngs[i]
        caption.value = frames.captions[i]

    for control in controls:
        control.observe(update, names="value")
    box = widgets.VBox([*controls, image, caption])
    box.add_class("sngan-explore-widget")  # for the JupyterLab test (tests/test_lab.py)
    return box


def _show(bundle: dict) -> None:
    """Display a raw mimebundle in IPython; outside IPython there is nothing to show."""
    from IPython import get_ipython
    from IPython.display import display

    if get_ipython() is not None:
        display(bundle, raw=True)


_count = itertools.count()


def explore(draw: Callable, **controls: Sequence) -> None:
    """Show ``draw`` over a grid of control values, with one slider per control.

    Args:
        draw: called as ``draw(**values)`` with one value per control (keyword = control
            name); returns a matplotlib ``Figure``, or ``(Figure, caption)`` with a one-line
            caption. It must not call ``plt.show()``; :func:`explore` closes each figure. Without
            a caption, the frame is captioned with its control values. Frames are saved at a
            fixed size (no tight bounding box, so the image does not jump between frames):
            make the figure with ``layout="constrained"`` so that its labels fit.
        **controls: for each control, the non-empty list (tuple, range, array) of values it
            offers, in slider order; the first value is shown first. Numbers get a slider,
            anything else (strings, booleans) a drop-down menu in JupyterLab.

    Every combination is drawn once, up front: ``prod(len(values))`` frames, at most
    :data:`MAX_FRAMES`. The output shows the live ipywidgets control in JupyterLab and a
    self-contained HTML slider on the static site (see the module docstring). Returns None,
    so nothing is printed under the figure.

    Raises:
        TypeError: ``draw`` is not callable, a control is not a sequence (a string, a number,
            a 0-d array), or ``draw`` returns something other than a Figure or
            ``(Figure, str)``.
        ValueError: no control, a control without values or with repeated values, or more
            than :data:`MAX_FRAMES` combinations (counted before any control is listed, so a
            huge ``range`` fails at once).

    Captions, control names and values are escaped where they enter the HTML, so text such
    as ``<script>`` or ``<!--`` shows as written.
    """
    values = _check(draw, controls)
    frames = _render(draw, values)
    digest = hashlib.sha1(b"".join(frames.pngs)).hexdigest()[:10]
    uid = f"sngan-explore-{digest}-{next(_count)}"
    bundle = dict(_widget(frames)._repr_mimebundle_() or {})
    bundle["text/html"] = _html(frames, uid)
    sizes = (
        f"{name} ({len(labels)})" for name, labels in zip(frames.names, frames.labels, strict=True)
    )
    bundle["text/plain"] = f"interactive figure: {' x '.join(sizes)} frames"
    _show(bundle)
