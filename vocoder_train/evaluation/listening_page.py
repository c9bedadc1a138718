"""The listening test page: one static file that listeners open from disk or from any web server.

It loads only the stimuli of its own folder (``stimuli/<token>.wav``, relative links), nothing from
the network, and it knows stimuli only by their random tokens: which token is which system lives
in the key (:mod:`vocoder_train.evaluation.listening`), never here. One trial shows at a time; the
next opens when every sample is rated (MUSHRA: each slider touched; A/B: one answer chosen). At
the end the listener downloads ``ratings-<listener>.csv`` with the columns of :data:`CSV_COLUMNS`,
one row per stimulus: MUSHRA ratings 0-100; A/B 1 for the sample preferred, 0 for the other,
0.5 for both when there is no preference.
"""

from __future__ import annotations

from collections.abc import Sequence

from vocoder_train.evaluation.html_report import STYLE, esc, link

CSV_COLUMNS = ("test", "listener", "trial", "stimulus", "rating")
NO_PREFERENCE = 0.5  # the A/B rating of both samples when the listener hears no difference

# one trial of the page: its number, the token of the open reference, the tokens of its samples in order
Trial = tuple[int, str, Sequence[str]]

PAGE_STYLE = """
section.trial { border-top: 2px solid #ddd; margin-top: 1em; }
section.trial th, section.trial td { text-align: left; }
input[type=range] { width: 22em; vertical-align: middle; }
output { display: inline-block; width: 5em; }
nav button, #start { font-size: 1em; padding: 0.3em 1em; margin-right: 0.5em; }
#status { color: #a33; }
"""

INSTRUCTIONS = {
    "mushra": (
        "Each trial plays a reference and several samples of the same recording. Rate how close each "
        "sample sounds to the reference, from 0 to 100: 80-100 excellent, 60-80 good, 40-60 fair, "
        "20-40 poor, 0-20 bad. One of the samples is the reference itself: rate it 100. Listen to every "
        "sample, as often as you like, with headphones in a quiet room."
    ),
    "ab": (
        "Each trial plays a reference and two samples of the same recording. Choose the sample that "
        "sounds better (closer to the reference), or no preference when you hear no difference. Listen "
        "as often as you like, with headphones in a quiet room."
    ),
}

SCRIPT = """
(function () {
  "use strict";
  function $(id) { return document.getElementById(id); }
  var kind = document.body.dataset.kind, test = document.body.dataset.test, current = 0;
  var trials = Array.from(document.querySelectorAll("section.trial"));
  document.addEventListener("play", function (e) {
    document.querySelectorAll("audio").forEach(function (a) { if (a !== e.target) a.pause(); });
  }, true);
  document.querySelectorAll("input[type=range]").forEach(function (r) {
    function rated() { r.dataset.rated = "1"; r.nextElementSibling.textContent = r.value; update(); }
    ["input", "change", "click"].forEach(function (ev) { r.addEventListener(ev, rated); });
  });
  document.querySelectorAll("input[type=radio]").forEach(function (r) {
    r.addEventListener("change", update);
  });
  function done(section) {
    if (kind === "ab") return section.querySelector("input[type=radio]:checked") !== null;
    return Array.from(section.querySelectorAll("input[type=range]")).every(function (r) {
      return r.dataset.rated === "1";
    });
  }
  function update() {
    var last = current === trials.length - 1, ok = done(trials[current]);
    $("prev").disabled = current === 0;
    $("next").hidden = last;
    $("next").disabled = !ok;
    $("download").hidden = !last;
    $("download").disabled = !trials.every(done);
    var ask = kind === "ab" ? "Choose an answer to go on." : "Rate every sample to go on.";
    $("status").textContent = ok ? "" : ask;
  }
  function show(i) {
    document.querySelectorAll("audio").forEach(function (a) { a.pause(); });
    trials.forEach(function (s, j) { s.hidden = j !== i; });
    trials[i].querySelectorAll("audio").forEach(function (a) {
      if (a.preload !== "auto") { a.preload = "auto"; a.load(); }
    });
    current = i;
    update();
    window.scrollTo(0, 0);
  }
  function quote(v) { v = String(v); return /[",\\r\\n]/.test(v) ? '"' + v.replace(/"/g, '""') + '"' : v; }
  function csv(listener) {
    var lines = [COLUMNS.join(",")];
    trials.forEach(function (s) {
      var trial = s.dataset.trial;
      function row(token, rating) { lines.push([test, listener, trial, token, rating].map(quote).join(",")); }
      if (kind === "ab") {
        var chosen = s.querySelector("input[type=radio]:checked").value;
        s.querySelectorAll("input[type=radio][data-stimulus]").forEach(function (r) {
          row(r.dataset.stimulus, chosen === "" ? NO_PREFERENCE : r.value === chosen ? 1 : 0);
        });
      } else {
        s.querySelectorAll("input[type=range]").forEach(function (r) { row(r.dataset.stimulus, r.value); });
      }
    });
    return lines.join("\\r\\n") + "\\r\\n";
  }
  $("start").addEventListener("click", function () {
    var listener = $("listener").value.trim();
    if (!listener) { $("status").textContent = "Enter your listener id first."; return; }
    $("listener").readOnly = true;
    $("intro").hidden = true;
    $("nav").hidden = false;
    show(0);
  });
  $("prev").addEventListener("click", function () { show(current - 1); });
  $("next").addEventListener("click", function () { show(current + 1); });
  $("download").addEventListener("click", function () {
    var listener = $("listener").value.trim();
    var a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([csv(listener)], { type: "text/csv" }));
    a.download = "ratings-" + listener.replace(/[^A-Za-z0-9_-]+/g, "_") + ".csv";
    document.body.appendChild(a);
    a.click();
    a.remove();
    $("status").textContent = "Saved " + a.download + ": send this file back. Thank you!";
  });
})();
"""


def _player(token: str) -> str:
    return f'<audio controls preload="none" src="{link(f"stimuli/{token}.wav")}"></audio>'


def _mushra_rows(number: int, tokens: Sequence[str]) -> list[str]:
    scale = "rating: 0 bad, 20 poor, 40 fair, 60 good, 80 excellent, 100"
    rows = [f"<tr><th>sample</th><th>listen</th><th>{scale}</th></tr>"]
    for i, token in enumerate(tokens, start=1):
        slider = (
            f'<input type="range" min="0" max="100" step="1" value="50" data-stimulus="{esc(token)}" '
            f'aria-label="rating of sample {i} in trial {number}"> <output>not rated</output>'
        )
        rows.append(f"<tr><td>{i}</td><td>{_player(token)}</td><td>{slider}</td></tr>")
    return rows


def _ab_rows(number: int, tokens: Sequence[str]) -> list[str]:
    rows = ["<tr><th>sample</th><th>listen</th><th>your choice</th></tr>"]
    for i, token in enumerate(tokens, start=1):
        radio = (
            f'<label><input type="radio" name="choice-{number}" value="{esc(token)}" '
            f'data-stimulus="{esc(token)}"> sample {i} is better</label>'
        )
        rows.append(f"<tr><td>{i}</td><td>{_player(token)}</td><td>{radio}</td></tr>")
    none = f'<label><input type="radio" name="choice-{number}" value=""> no preference</label>'
    return rows + [f"<tr><td></td><td></td><td>{none}</td></tr>"]


def _trial(kind: str, trial: Trial, total: int) -> str:
    number, reference, tokens = trial
    rows = _mushra_rows(number, tokens) if kind == "mushra" else _ab_rows(number, tokens)
    return "\n".join(
        [
            f'<section class="trial" data-trial="{number}" hidden>',
            f"<h2>Trial {number} of {total}</h2>",
            f"<p>Reference {_player(reference)}</p>",
            "<table>",
            *rows,
            "</table>",
            "</section>",
        ]
    )


def render(kind: str, test_id: str, trials: Sequence[Trial]) -> str:
    """The page of a ``kind`` ("mushra" or "ab") test ``test_id`` with ``trials``, in page order."""
    import json

    constants = f"var COLUMNS = {json.dumps(list(CSV_COLUMNS))}, NO_PREFERENCE = {NO_PREFERENCE};"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">',
        f"<title>Listening test</title><style>{STYLE}{PAGE_STYLE}</style></head>",
        f'<body data-kind="{esc(kind)}" data-test="{esc(test_id)}">',
        "<h1>Listening test</h1>",
        '<div id="intro">',
        f"<p>{esc(INSTRUCTIONS[kind])}</p>",
        f"<p>{len(trials)} trials. At the end, download your answers and send the file back.</p>",
        '<p><label>Listener id <input id="listener" autocomplete="off"></label> '
        '<button id="start" type="button">Start</button></p>',
        "</div>",
        *(_trial(kind, t, len(trials)) for t in trials),
        '<nav id="nav" hidden><button id="prev" type="button">Previous</button>'
        '<button id="next" type="button">Next</button>'
        '<button id="download" type="button" hidden>Download answers (CSV)</button></nav>',
        '<p id="status" role="status"></p>',
        f"<script>{constants}\n{SCRIPT}</script>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"
