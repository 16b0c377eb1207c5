"""The Public Summary as a PDF a regulator can file: the printable HTML page (A4, page numbers,
version block, ☒/☐ as text) laid out by WeasyPrint, so what is printed is also in the text layer.
The same page gives the same bytes.

WeasyPrint is imported on first use (about a second per render); it needs the Pango library and
a font with the ☒/☐ glyphs (DejaVu Sans, the page's first choice).
"""

from __future__ import annotations

import logging
import os

from apertus_compliance.errors import ApertusError

__all__ = ["PdfError", "html_to_pdf"]


class PdfError(ApertusError, RuntimeError):
    """The PDF could not be laid out (WeasyPrint or its system libraries missing)."""


def html_to_pdf(html: str) -> bytes:
    """The PDF of a self-contained HTML page (its CSS inline; links are not fetched)."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as error:  # OSError: Pango or its fonts are missing
        raise PdfError(f"cannot write the PDF: WeasyPrint is not usable here ({error})") from error
    logging.getLogger("fontTools").setLevel(logging.WARNING)  # subsetting chatter at INFO

    def refuse(url: str, *args: object, **kwargs: object) -> dict:
        raise ValueError(f"the summary page fetches nothing ({url})")

    # fontTools stamps each embedded font subset with the current time unless SOURCE_DATE_EPOCH
    # is set: pinned here, the same page gives the same bytes (the lock hashes the documents).
    previous = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ.setdefault("SOURCE_DATE_EPOCH", "0")
    try:
        return HTML(string=html, url_fetcher=refuse).write_pdf()
    finally:
        if previous is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
