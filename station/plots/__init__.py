"""Charts: figures drawn with matplotlib's object API (``matplotlib.figure.Figure`` on a ``FigureCanvasAgg``, never
``pyplot``, whose global state is not safe in the server's threads) and the one DET drawing every report uses.

- ``figures``: a new figure, and its PNG bytes or data URI.
- ``det``: DET curves on normal-deviate (probit) axes, ISO/IEC 19795-1, with each curve's EER marked.
"""
