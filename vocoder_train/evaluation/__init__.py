"""Evaluating vocoders: copy-synthesis runs, their reports, A/B comparisons, baselines and timing.

- :mod:`.copy_synthesis`: one model on reference files (audio -> features -> audio), scored with the
  metrics of :mod:`vocoder_train.metrics` (``vocoder-evaluate`` with one model); :mod:`.report` writes
  its ``metrics.json``, ``metrics.csv``, ``report.md``, ``report.html`` and plots.
- :mod:`.compare`: several systems on the same files (``vocoder-evaluate`` with several models);
  :mod:`.compare_report` writes the A/B report with deltas against the first, and
  :mod:`.statistics` its bootstrap intervals and signed-rank p-values.
- :mod:`.media`: the worst files by one metric, whose audio and spectrograms the reports show;
  :mod:`.html_report`: the pieces of ``report.html``; :mod:`.method`: how the numbers were made,
  in words.
- :mod:`.baselines`: Griffin-Lim from a vocoder's own mel, the no-training baseline beside a model,
  and a model's network alone, without its inference-time add-ons.
- :mod:`.listening`: a blind MUSHRA or A/B listening test from a run's audio (its page:
  :mod:`.listening_page`); :mod:`.listening_results` screens and scores the listeners' answers.
- :mod:`.timing`: wall-clock figures of a streaming decode (``vocoder-synthesize --stream``,
  ``benchmarks/bench_stream.py``).

The metric math itself (distances, PESQ/STOI, pitch, DNSMOS, UTMOS) lives in :mod:`vocoder_train.metrics`.
"""
