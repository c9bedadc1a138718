"""Reading a vocoder-evaluate report.html as the tests check it."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote


class ReportPage(HTMLParser):
    """What the tests read from report.html: per file section its name and audio/image sources, in
    order; scripts; how many sortable tables; and that every element it opens closes in order."""

    VOID = {"meta", "img", "br", "hr", "link", "input"}

    def __init__(self, text: str):
        super().__init__()
        self.stack, self.sections, self.scripts, self.sortable, self.srcs = [], [], [], 0, []
        self.feed(text)
        self.close()
        assert not self.stack, f"unclosed elements: {self.stack}"

    @property
    def files(self) -> list[str]:
        """The names of the files shown in full, in page order (headings read "rank. name")."""
        return [s["name"].split(". ", 1)[1] for s in self.sections]

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section" and a.get("class") == "file":
            self.sections.append({"name": "", "audio": [], "img": []})
        in_file = self.sections and "section" in self.stack
        if tag in ("audio", "img"):
            self.srcs.append(a["src"])
            if in_file:
                self.sections[-1][tag].append(a["src"])
        self.sortable += tag == "table" and a.get("class") == "sortable"
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        if "h3" in self.stack and self.sections:
            self.sections[-1]["name"] += data
        if self.stack[-1:] == ["script"]:
            self.scripts.append(data)


def check_links(out: Path, page: ReportPage) -> None:
    """Every audio and image the page links is a relative path to a file of the report folder."""
    for src in page.srcs:
        assert "://" not in src and not src.startswith("/"), src
        assert (out / unquote(src)).is_file(), src
