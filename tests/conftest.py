"""Fixtures shared by the test files: one torch thread for the model tests, and the book, built once per session for
test_book.py and test_browser.py."""
import os
import time
from pathlib import Path

import pytest
import torch

from acai_repro.book import build_book


@pytest.fixture(scope="module")
def one_thread():
    """Tiny batches gain nothing from a second thread, and on a busy 2-core machine threads spin-wait."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    """Build the book from fresh smoke runs; return the html folder and the build's wall time.

    Set ACAI_REPRO_BOOK_HTML to the html folder of a book built already (e.g. ``_build/html`` after ``make book``)
    to check that book instead of building one (the reported build time is then 0).
    """
    prebuilt = os.environ.get("ACAI_REPRO_BOOK_HTML")
    if prebuilt:
        html_dir = Path(prebuilt).resolve()
        if not (html_dir / "index.html").is_file():
            pytest.fail(f"ACAI_REPRO_BOOK_HTML={prebuilt} is not a built book's html folder (no index.html)")
        return html_dir, 0.0
    tmp = tmp_path_factory.mktemp("book")
    start = time.perf_counter()
    html_dir = build_book(source_profile="smoke", results_root=tmp / "results", out_dir=tmp / "out")
    return html_dir, time.perf_counter() - start
