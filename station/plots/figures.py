"""Figures without ``pyplot``: a ``Figure`` with its own Agg canvas, rendered to PNG bytes.

``pyplot`` keeps a global current figure and a global backend; two server threads drawing at once would draw into
each other's figures, and ``matplotlib.use`` changes the backend for the whole process. A ``Figure`` built here
belongs to its caller alone and is freed with it (nothing to close)."""
from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(width: float, height: float, **subplot_args: Any) -> tuple["Figure", Any]:
    """A figure of ``width`` x ``height`` inches on its own Agg canvas, and its axes (``Figure.subplots``
    arguments: nrows, ncols, gridspec_kw...)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig, fig.subplots(**subplot_args)


def png_bytes(fig: "Figure", *, dpi: int = 90, tight: bool = True) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight" if tight else None)
    return buf.getvalue()


def png_data_uri(fig: "Figure", *, dpi: int = 90) -> str:
    """The figure as a ``data:image/png;base64,...`` URI, for a self-contained HTML page."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig, dpi=dpi)).decode()


def save_png(fig: "Figure", path: str | Path, *, dpi: int = 110) -> None:
    Path(path).write_bytes(png_bytes(fig, dpi=dpi, tight=False))
