"""Tables in a notebook that read as tables: a DataFrame shown as Markdown, which the book renders as a real table
(and nbval compares as text), instead of a printed block of fixed-width text."""
from __future__ import annotations

import pandas as pd
from IPython.display import Markdown, display


def markdown_table(frame: pd.DataFrame, index: bool = True, digits: int = 3) -> str:
    """``frame`` as a Markdown table: numbers rounded to ``digits``, hierarchical column names joined by spaces."""
    shown = frame.round(digits)
    if isinstance(shown.columns, pd.MultiIndex):
        shown.columns = [" ".join(str(part) for part in name if str(part)) for name in shown.columns]
    if index and isinstance(shown.index, pd.MultiIndex):
        shown = shown.reset_index()
        index = False
    return shown.to_markdown(index=index, floatfmt="g")


def show_table(frame: pd.DataFrame, index: bool = True, digits: int = 3) -> None:
    """Display ``frame`` as a Markdown table (see :func:`markdown_table`)."""
    display(Markdown(markdown_table(frame, index, digits)))
