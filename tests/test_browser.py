"""The HTML pages of vocoder-evaluate in a real headless Chromium, opened from disk: report.html and
the listening tests, down to a scripted listener whose downloaded answers score back to the numbers
it gave. One browser and one tiny A/B run (two untrained tiny vocos models + Griffin-Lim, three
generated files) serve the whole module; skipped when chromium, chromedriver or selenium is missing."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tests.helpers import browser as hb

pytestmark = pytest.mark.skipif(hb.missing() is not None, reason=f"browser tests: {hb.missing()}")

# what the scripted MUSHRA listener gives each condition of the key
RATINGS = {"reference": 100, "anchor_3.5kHz": 12, "A": 71, "B": 47, "griffin_lim": 23}


@pytest.fixture(scope="module")
def driver():
    d = hb.start_chromium()
    yield d
    d.quit()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict:
    from tests.helpers.audio import write_corpus

    root = tmp_path_factory.mktemp("browser_models")
    write_corpus(root, [("x.wav", 16000, 0.6, 1), ("y.wav", 16000, 0.5, 1), ("z.wav", 16000, 0.7, 1)], "wavs")
    return {
        "root": root,
        "models": [str(hb.write_tiny_vocos(root / name, seed=i)) for i, name in enumerate("ab")],
        "data": str(root / "wavs"),
    }


def _evaluate(models: dict, out: Path, *extra: str) -> Path:
    from vocoder_train.cli.evaluate import main

    args = [*models["models"], "--data", models["data"], "-o", str(out), "--metrics", "mel_l1"]
    assert main([*args, "--plots", "2", "--listening-items", "2", "--no-progress", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def mushra_run(models) -> Path:
    return _evaluate(models, models["root"] / "mushra", "--listening", "mushra")


def _wav_seconds(path: Path) -> float:
    from vocoder_train.io.audio import probe

    return probe(path).duration


def _check_audio(driver, folder: Path, expected: int) -> None:
    found = hb.audio_durations(driver)
    assert len(found) == expected
    for src, seconds, error in found:
        assert error == 0 and "://" not in src, src
        assert seconds == pytest.approx(_wav_seconds(folder / src), abs=2e-3), src


def test_the_checks_see_a_script_error_and_a_missing_file(driver, tmp_path):
    page = tmp_path / "broken.html"
    page.write_text(
        '<!DOCTYPE html><html><body><audio src="gone.wav"></audio><script>nope();</script></body></html>'
    )
    hb.open_page(driver, page)
    assert any("nope" in e for e in hb.console_errors(driver))
    assert [e for _, _, e in hb.audio_durations(driver)] == [4]  # MEDIA_ERR_SRC_NOT_SUPPORTED


def test_report_html_loads_every_player_and_sorts_the_means(driver, mushra_run):
    from selenium.webdriver.common.by import By

    hb.open_page(driver, mushra_run / "report.html")
    assert hb.console_errors(driver) == []
    _check_audio(driver, mushra_run, expected=2 * 4)  # 2 files shown in full: reference, A, B, griffin_lim
    means = json.loads((mushra_run / "metrics.json").read_text())["aggregate"]
    table = driver.find_element(By.XPATH, "//h2[starts-with(., 'Means')]/following-sibling::table[1]")
    column = table.find_element(By.XPATH, ".//th[starts-with(., 'mel_l1')]")

    def systems() -> list[str]:
        return [
            row.find_element(By.TAG_NAME, "td").text for row in table.find_elements(By.XPATH, "./tbody/tr")
        ]

    low_first = sorted(("A", "B", "griffin_lim"), key=lambda s: means[s]["mel_l1"]["mean"])
    column.click()
    assert systems() == [*low_first, "reference"]  # no value of its own: last either way
    column.click()
    assert systems() == [*low_first[::-1], "reference"]
    assert hb.console_errors(driver) == []


def _answer_mushra(driver, listener: str, ratings: dict[str, int], key: dict) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "listener").send_keys(listener)
    driver.find_element(By.ID, "start").click()
    labels = {tok: lab for t in key["trials"] for tok, lab in t["stimuli"].items()}
    for number in range(1, len(key["trials"]) + 1):
        section = driver.find_element(By.CSS_SELECTOR, f'section[data-trial="{number}"]')
        assert section.is_displayed()
        for slider in section.find_elements(By.CSS_SELECTOR, "input[type=range]"):
            value = ratings[labels[slider.get_attribute("data-stimulus")]]
            driver.execute_script(
                "arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'));",
                slider,
                value,
            )
        button = driver.find_element(By.ID, "next" if number < len(key["trials"]) else "download")
        assert button.is_enabled()
        button.click()


def test_mushra_page_round_trip_through_the_download(driver, models, mushra_run, tmp_path, capsys):
    from selenium.webdriver.common.by import By

    from vocoder_train.cli.evaluate import main

    page, key_path = mushra_run / "listening" / "index.html", mushra_run / "listening-key.json"
    key = json.loads(key_path.read_text())
    hb.open_page(driver, page)
    assert hb.console_errors(driver) == []
    _check_audio(driver, page.parent, expected=2 * 6)  # 2 trials: open reference + 5 conditions
    text = page.read_text()  # no system identity: only tokens, and no name of the run
    assert not any(name in text for name in ("griffin", "anchor", "mel_l1", "wavs", *models["models"]))
    tokens = {tok for t in key["trials"] for tok in (t["reference"], *t["stimuli"])}
    assert {p.stem for p in (page.parent / "stimuli").iterdir()} == tokens and all(
        tok in text for tok in tokens
    )
    hb.download_into(driver, tmp_path)
    driver.find_element(By.ID, "start").click()  # no listener id: it asks for one and stays
    assert "listener id" in driver.find_element(By.ID, "status").text
    _answer_mushra(driver, "ann", RATINGS, key)
    careless = {**RATINGS, "reference": 60}  # the hidden reference below 90 on every item: excluded
    hb.open_page(driver, page)
    _answer_mushra(driver, "bob, the second", careless, key)
    answers = [
        hb.wait_for_file(tmp_path, "ratings-ann.csv"),
        hb.wait_for_file(tmp_path, "ratings-bob_the_second.csv"),
    ]
    assert hb.console_errors(driver) == []
    out = tmp_path / "results"
    argv = ["--listening-results", *map(str, answers), "--listening-key", str(key_path), "-o", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "excluded bob, the second: hidden reference below 90 on 2 of 2 items" in printed
    doc = json.loads((out / "listening-results.json").read_text())
    assert doc["excluded"] == ["bob, the second"] and doc["listeners"]["ann"]["items"] == 2
    scores = {s["label"]: s for s in doc["scores"]}
    assert set(scores) == set(RATINGS)
    for label, value in RATINGS.items():
        s = scores[label]
        assert s["n"] == 2 and s["mean"] == value and s["ci_low"] == s["ci_high"] == value


def test_ab_page_round_trip(driver, models, tmp_path, capsys):
    from selenium.webdriver.common.by import By

    from vocoder_train.cli.evaluate import main

    run = _evaluate(models, tmp_path / "ab", "--listening", "ab", "--plots", "0")
    key_path = run / "listening-key.json"
    key = json.loads(key_path.read_text())
    assert [sorted(t["stimuli"].values()) for t in key["trials"]] == [["A", "B"]] * 2  # no Griffin-Lim
    page = run / "listening" / "index.html"
    hb.open_page(driver, page)
    assert hb.console_errors(driver) == []
    _check_audio(driver, page.parent, expected=2 * 3)
    hb.download_into(driver, tmp_path / "answers")
    driver.find_element(By.ID, "listener").send_keys("cy")
    driver.find_element(By.ID, "start").click()
    for number, trial in enumerate(key["trials"], start=1):  # prefers A, then hears no difference
        section = driver.find_element(By.CSS_SELECTOR, f'section[data-trial="{number}"]')
        token = next(tok for tok, lab in trial["stimuli"].items() if lab == "A") if number == 1 else ""
        section.find_element(By.CSS_SELECTOR, f'input[type=radio][value="{token}"]').click()
        driver.find_element(By.ID, "next" if number < len(key["trials"]) else "download").click()
    answers = hb.wait_for_file(tmp_path / "answers", "ratings-cy.csv")
    assert main(["--listening-results", str(answers), "--listening-key", str(key_path)]) == 0
    assert "A vs B" in capsys.readouterr().out
    (pair,) = json.loads((run / "listening-results.json").read_text())["scores"]
    assert pair["label"] == "A vs B" and pair["mean"] == pytest.approx(0.75) and pair["n"] == 2
    assert (pair["A_preferred"], pair["B_preferred"], pair["no_preference"]) == (1, 0, 1)
    assert math.isfinite(pair["ci_low"]) and pair["ci_low"] <= 0.75 <= pair["ci_high"]
