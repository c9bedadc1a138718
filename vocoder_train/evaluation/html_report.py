"""report.html: one self-contained page beside report.md, to read and listen from disk.

The page links only files of its own folder, by relative paths (spectrogram PNGs, ``audio/``), and
loads nothing else: no server, no network, no external script. Its tables sort by any column
(a click on the header; again to reverse) with the few lines of :data:`SORT_SCRIPT`. Every text
that comes from outside (file names, model paths, labels) is escaped; links are also URL-quoted.
:mod:`vocoder_train.evaluation.report` and :mod:`vocoder_train.evaluation.compare_report` build
their pages from the pieces here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from urllib.parse import quote

# the text shown and what it sorts by: a number, "" (last: a value that is not finite) or None (its text)
Cell = tuple[str, float | str | None]

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; vertical-align: middle; }
th { background: #f2f2f2; }
td:first-child, th:first-child { text-align: left; }
table.sortable th { cursor: pointer; }
table.sortable th[data-dir=asc]::after { content: " \\25B2"; }
table.sortable th[data-dir=desc]::after { content: " \\25BC"; }
section.file { border-top: 2px solid #ddd; margin-top: 1.5em; }
section.file img { max-width: 100%; }
audio { height: 2em; width: 18em; }
code { background: #f5f5f5; }
"""

# Sorts a table.sortable by the clicked column: by each cell's data-v when it has one (a number; empty
# for a value that is not finite, kept last), else by its text; a second click reverses.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th) {
  th.addEventListener("click", function () {
    var body = th.closest("table").tBodies[0], col = th.cellIndex;
    var dir = th.dataset.dir === "asc" ? -1 : 1;
    th.parentNode.querySelectorAll("th").forEach(function (h) { delete h.dataset.dir; });
    th.dataset.dir = dir === 1 ? "asc" : "desc";
    function key(row) {
      var c = row.cells[col];
      return c.dataset.v !== undefined ? c.dataset.v : c.textContent.trim();
    }
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === "" || y === "") return (x === "") - (y === "");
      var nx = Number(x), ny = Number(y);
      return dir * (isNaN(nx) || isNaN(ny) ? x.localeCompare(y) : nx - ny);
    }).forEach(function (row) { body.appendChild(row); });
  });
});
"""


def esc(text) -> str:
    """``text`` as HTML text or attribute value."""
    return html.escape(str(text), quote=True)


def link(relative: str) -> str:
    """A relative path (``/``-separated) as an attribute value: URL-quoted, then escaped."""
    return esc(quote(relative))


def number(value: float, text: str) -> Cell:
    """A cell showing ``text`` that sorts by ``value`` (last when it is not finite)."""
    return text, float(value) if math.isfinite(value) else ""


def table(headers: Sequence[str], rows: Sequence[Sequence[Cell]], sortable: bool = True) -> str:
    """An HTML table; with ``sortable``, a click on a header sorts the rows by that column."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = (
            f"<td>{esc(text)}</td>" if key is None else f'<td data-v="{esc(key)}">{esc(text)}</td>'
            for text, key in row
        )
        body.append("<tr>" + "".join(cells) + "</tr>")
    cls = ' class="sortable"' if sortable else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def player(relative: str) -> str:
    return f'<audio controls preload="none" src="{link(relative)}"></audio>'


def file_section(
    rank: int,
    name: str,
    note: str,
    headers: Sequence[str],
    rows: Sequence[tuple[str, str | None, Sequence[Cell]]],
    image: str | None,
) -> str:
    """One file shown in full: its name, ``note``, a row per ``(label, audio path or None, values)``
    with a player, and its spectrogram image."""
    lines = [f'<section class="file"><h3>{rank}. <code>{esc(name)}</code></h3>', f"<p>{esc(note)}</p>"]
    head = "".join(f"<th>{esc(h)}</th>" for h in ("", "listen", *headers))
    lines.append(f"<table><thead><tr>{head}</tr></thead><tbody>")
    for label, audio, values in rows:
        cells = "".join(f"<td>{esc(text)}</td>" for text, _ in values)
        lines.append(f"<tr><td>{esc(label)}</td><td>{player(audio) if audio else ''}</td>{cells}</tr>")
    lines.append("</tbody></table>")
    if image:
        lines.append(f'<img src="{link(image)}" alt="spectrograms of {esc(name)}">')
    return "\n".join(lines + ["</section>"])


def page(title: str, facts: Sequence[str], method: Sequence[str], sections: Sequence[tuple[str, str]]) -> str:
    """The whole document: ``title``, a list of ``facts`` and of the ``method`` (plain text, escaped
    here), then ``(heading, HTML)`` sections."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        "<ul>" + "".join(f"<li>{esc(f)}</li>" for f in facts) + "</ul>",
        "<h2>How these numbers were made</h2>",
        "<ul>" + "".join(f"<li>{esc(m)}</li>" for m in method) + "</ul>",
    ]
    for heading, body in sections:
        parts += [f"<h2>{esc(heading)}</h2>", body]
    parts += [f"<script>{SORT_SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"
