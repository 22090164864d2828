"""Read a file into text sections: Markdown, plain text, HTML (bs4) and PDF (pypdf).

Each loader returns a `LoadedDocument`: the document title and a list of (heading, text) sections,
so the chunker can keep headings as metadata and never splits across a section boundary.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".text": "text",
            ".html": "html", ".htm": "html", ".pdf": "pdf"}


class UnsupportedFile(ValueError):
    """The file's type has no loader."""


class LoadError(RuntimeError):
    """The file could not be read or parsed; the message says which and why."""


@dataclass
class Section:
    heading: str
    text: str


@dataclass
class LoadedDocument:
    source: str
    title: str
    kind: str
    file_hash: str
    sections: list[Section] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)  # extra per-chunk metadata (str/int/float/bool)


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(path: Path, source: str | None = None) -> LoadedDocument:
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise UnsupportedFile(f"{path}: unsupported file type {path.suffix!r}; "
                              f"supported: {', '.join(sorted(SUFFIXES))}")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(f"{path}: cannot read: {e}") from e
    doc = LoadedDocument(source=source or str(path), title=path.stem, kind=kind, file_hash=file_hash(data))
    try:
        _LOADERS[kind](data, doc)
    except (UnicodeDecodeError, ValueError) as e:
        raise LoadError(f"{path}: cannot parse as {kind}: {e}") from e
    return doc


def _markdown(data: bytes, doc: LoadedDocument) -> None:
    from langchain_text_splitters import MarkdownHeaderTextSplitter

    text = data.decode("utf-8")
    splitter = MarkdownHeaderTextSplitter([("#", "h1"), ("##", "h2"), ("###", "h3")], strip_headers=True)
    for part in splitter.split_text(text):
        md = part.metadata
        if "h1" in md and doc.title == Path(doc.source).stem:
            doc.title = md["h1"]
        heading = " / ".join(md[h] for h in ("h1", "h2", "h3") if h in md)
        if part.page_content.strip():
            doc.sections.append(Section(heading, part.page_content))


def _text(data: bytes, doc: LoadedDocument) -> None:
    text = data.decode("utf-8")
    if text.strip():
        doc.sections.append(Section("", text))


def _html(data: bytes, doc: LoadedDocument) -> None:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for tag in soup(["script", "style", "nav", "noscript"]):
        tag.decompose()
    if soup.title and soup.title.string:
        doc.title = soup.title.string.strip()
    body = soup.body or soup
    heading = ""
    buf: list[str] = []
    # Walk block elements in order; a heading closes the running section.
    for el in body.find_all(["h1", "h2", "h3", "h4", "p", "li", "pre", "td", "blockquote"]):
        if el.find_parent(["p", "li", "pre", "td", "blockquote"]):
            continue  # nested inside a block already taken
        text = el.get_text(" ", strip=True)
        if not text:
            continue
        if el.name in ("h1", "h2", "h3", "h4"):
            if buf:
                doc.sections.append(Section(heading, "\n".join(buf)))
                buf = []
            heading = text
        else:
            buf.append(text)
    if buf:
        doc.sections.append(Section(heading, "\n".join(buf)))


def _pdf(data: bytes, doc: LoadedDocument) -> None:
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.metadata and reader.metadata.title:
            doc.title = str(reader.metadata.title)
        for i, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            if text.strip():
                doc.sections.append(Section(f"page {i}", text))
    except PdfReadError as e:
        raise ValueError(str(e)) from e


_LOADERS = {"markdown": _markdown, "text": _text, "html": _html, "pdf": _pdf}
