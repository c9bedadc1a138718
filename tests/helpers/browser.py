"""A headless Chromium (Debian's chromium + chromium-driver, through selenium) to open the tools' HTML
pages from disk as a user would, and the tiny vocos folders those pages are made from."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import torch
import yaml

PAGE_LOAD_S = 20.0


def missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    absent = [name for name in ("chromium", "chromedriver") if shutil.which(name) is None]
    if absent:
        return (
            f"{' and '.join(absent)} not found (make chromium installs Debian's chromium and chromium-driver)"
        )
    return None


def start_chromium():
    """A headless Chromium that keeps the page's console messages and allows file:// media."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--autoplay-policy=no-user-gesture-required")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_page_load_timeout(PAGE_LOAD_S)
    return driver


def open_page(driver, path: Path) -> None:
    """Opens ``path`` from disk and empties the console log of earlier pages."""
    driver.get_log("browser")
    driver.get(path.resolve().as_uri())


def console_errors(driver) -> list[str]:
    """The console messages at level SEVERE since the last call (JavaScript errors, failed loads)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


# Loads the metadata of every audio element and reports its source, duration and any error, once
# every element has either its duration or an error.
_AUDIO_SCRIPT = """
var done = arguments[arguments.length - 1];
var audios = Array.from(document.querySelectorAll("audio"));
audios.forEach(function (a) { a.preload = "metadata"; a.load(); });
(function poll() {
  if (audios.every(function (a) { return a.readyState >= 1 || a.error; })) {
    done(audios.map(function (a) {
      return [a.getAttribute("src"), a.duration, a.error ? a.error.code : 0];
    }));
  } else {
    setTimeout(poll, 50);
  }
})();
"""


def audio_durations(driver) -> list[tuple[str, float, int]]:
    """(src attribute, duration in seconds, MediaError code or 0) of every audio element of the page."""
    driver.set_script_timeout(PAGE_LOAD_S)
    return [tuple(x) for x in driver.execute_async_script(_AUDIO_SCRIPT)]


def download_into(driver, folder: Path) -> None:
    """Sends the browser's downloads to ``folder`` without asking."""
    folder.mkdir(parents=True, exist_ok=True)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(folder)})


def wait_for_file(folder: Path, pattern: str, timeout: float = PAGE_LOAD_S) -> Path:
    """The one file matching ``pattern`` in ``folder`` once its download has finished."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if found and not list(folder.glob("*.crdownload")):
            return found[0]
        time.sleep(0.05)
    raise AssertionError(
        f"no download matching {pattern} in {folder} after {timeout} s: {list(folder.iterdir())}"
    )


def write_tiny_vocos(folder: Path, sample_rate: int = 16000, seed: int = 0) -> Path:
    """A vocos folder (config.yaml + pytorch_model.bin) of an untrained mel Vocos, tiny for any test."""
    from vocos import Vocos

    def part(path: str, **init_args) -> dict:
        return {"class_path": path, "init_args": init_args}

    cfg = {
        "sample_rate": sample_rate,
        "feature_extractor": part(
            "vocos.feature_extractors.MelSpectrogramFeatures",
            sample_rate=sample_rate,
            n_fft=256,
            hop_length=64,
            n_mels=32,
        ),
        "backbone": part(
            "vocos.models.VocosBackbone", input_channels=32, dim=32, intermediate_dim=64, num_layers=1
        ),
        "head": part("vocos.heads.ISTFTHead", dim=32, n_fft=256, hop_length=64),
    }
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
    torch.manual_seed(seed)
    torch.save(Vocos.from_hparams(str(folder / "config.yaml")).state_dict(), folder / "pytorch_model.bin")
    return folder
