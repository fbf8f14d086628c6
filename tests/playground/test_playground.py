"""The playground page in real headless Chromium (Debian's chromium + chromedriver, driven
by Selenium): upload and see highlighted words, record through the fake microphone,
speak with three voices, live captions over the realtime socket, a batch, a 401 shown
as the server's message, the CSP, the keyboard and a phone-width layout. Screenshots of
each tab are written to docs/ (shown in the README)."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..helpers import JFK_REFERENCE, REFERENCES, ROOT, SAMPLES, live_server, wav_bytes, wer

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.select import Select  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
DOCS = ROOT / "docs"
HELLO = SAMPLES / "hello_en.wav"
HELLO_TEXT = REFERENCES["hello_en.wav"]["text"]
KEY = "playground-test-key"

pytestmark = pytest.mark.slow


def _chromium_or_skip() -> None:
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (make test-deps "
            "installs them when run as root)"
        )


@pytest.fixture(scope="module")
def fake_microphone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """hello_en.wav with a second of silence after it, as Chromium's fake microphone
    plays it (16-bit PCM WAV, looped)."""
    import numpy as np

    from audio.media.decode import decode_audio

    audio = decode_audio(str(HELLO))
    path = tmp_path_factory.mktemp("mic") / "hello.wav"
    path.write_bytes(wav_bytes(np.concatenate([audio, np.zeros(16000, np.float32)])))
    return path


def _driver(microphone: Path, width: int = 1280, height: int = 1000) -> webdriver.Chrome:
    _chromium_or_skip()
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager download
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}",
        "--autoplay-policy=no-user-gesture-required", f"--window-size={width},{height}",
    ):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = webdriver.ChromeService(executable_path=CHROMEDRIVER)
    return webdriver.Chrome(options=options, service=service)


@pytest.fixture(scope="module")
def site(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    with live_server(make_settings(warmup=True)) as (url, _app):
        yield url


@pytest.fixture(scope="module")
def browser(fake_microphone: Path) -> Iterator[webdriver.Chrome]:
    driver = _driver(fake_microphone)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: webdriver.Chrome, condition, timeout: float = 60):  # type: ignore[no-untyped-def]
    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition)
    except TimeoutException:
        error = driver.find_element(By.ID, "error")
        raise AssertionError(f"timed out; page error: {error.text!r}") from None


def _open(driver: webdriver.Chrome, url: str, tab: str = "transcribe") -> None:
    driver.get("about:blank")  # a fresh page even when only the #tab differs
    driver.get(f"{url}/#{tab}")
    _wait(driver, _ready)


def _shot(driver: webdriver.Chrome, name: str) -> None:
    """The whole page (the window grown to its height, then put back)."""
    DOCS.mkdir(exist_ok=True)
    size = driver.get_window_size()
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(size["width"], min(max(height, size["height"]), 2400))
    driver.save_screenshot(str(DOCS / f"playground-{name}.png"))
    driver.set_window_size(size["width"], size["height"])


def _csp_violations(driver: webdriver.Chrome) -> list[str]:
    logs = driver.get_log("browser")
    return [e["message"] for e in logs if "Content Security Policy" in e["message"]]


def _attr(driver: webdriver.Chrome, element_id: str, name: str) -> str:
    return str(driver.find_element(By.ID, element_id).get_attribute(name) or "")


def _ready(driver: webdriver.Chrome) -> bool:
    return "ready" in str(driver.find_element(By.TAG_NAME, "body").get_attribute("class"))


PLAYER_DURATION = (
    "const a = document.getElementById('speak-player');"
    "return a.src && isFinite(a.duration) ? a.duration : 0"
)


def test_page_is_served_with_a_strict_csp(site: str) -> None:
    for path in ("/", "/playground"):
        r = httpx.get(site + path)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert "http" not in csp and "*" not in csp and "unsafe" not in csp
    page = httpx.get(site + "/").text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from elsewhere
    assert 'src="/playground/static/js/main.js"' in page
    modules = sorted((ROOT / "audio/playground/js").glob("*.js"))
    assert len(modules) >= 6
    for module in modules:  # an ES module each: the client, one per tab, the start
        script = httpx.get(f"{site}/playground/static/js/{module.name}")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert not re.search(r"""fetch\(["'`]https?:""", script.text)
        assert len(script.text.splitlines()) < 250, module.name


def test_upload_shows_the_text_and_highlights_words(browser: webdriver.Chrome, site: str,
                                                    shared_samples: Path) -> None:  # fmt: skip
    _open(browser, site)
    browser.find_element(By.ID, "file").send_keys(str(shared_samples / "jfk.flac"))
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    browser.find_element(By.ID, "go").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#transcript .word")) >= 20)
    text = browser.find_element(By.ID, "transcript").text
    assert wer(JFK_REFERENCE, text) <= 0.1, text
    rows = browser.find_elements(By.CSS_SELECTOR, "#segments tbody tr")
    assert rows and float(rows[0].find_elements(By.TAG_NAME, "td")[0].text) < 1.0
    # play it (4x) and watch the words light up in step with the audio
    browser.execute_script("const p = document.getElementById('player'); p.muted = true; "
                           "p.playbackRate = 4; p.currentTime = 0; p.play();")  # fmt: skip
    _wait(browser, lambda d: d.execute_script("return document.getElementById('player').ended"))
    seen = browser.find_elements(By.CSS_SELECTOR, "#transcript .word[data-seen='true']")
    assert len(seen) >= 20
    # click a word: the player seeks to it
    word = browser.find_elements(By.CSS_SELECTOR, "#transcript .word")[10]
    word.click()
    at = browser.execute_script("return document.getElementById('player').currentTime")
    assert abs(at - float(word.get_attribute("data-start"))) < 0.5
    browser.execute_script("document.getElementById('player').pause()")
    _shot(browser, "transcribe")
    assert not _csp_violations(browser)


def test_subtitle_downloads_are_the_servers_own_with_speakers(
    browser: webdriver.Chrome, site: str, shared_samples: Path, tmp_path: Path
) -> None:
    """The page's srt and vtt of a diarized transcript are what the API answers for the
    same audio (the page asks the server; its own formatters had drifted and dropped the
    speaker labels)."""
    browser.execute_cdp_cmd("Page.setDownloadBehavior",
                            {"behavior": "allow", "downloadPath": str(tmp_path)})  # fmt: skip
    audio = shared_samples / "jfk.flac"
    _open(browser, site)
    browser.find_element(By.ID, "file").send_keys(str(audio))
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    Select(browser.find_element(By.ID, "format")).select_by_value("diarized_json")
    browser.find_element(By.ID, "go").click()
    _wait(browser, lambda d: "A:" in d.find_element(By.ID, "transcript").text, 120)
    for kind in ("srt", "vtt"):
        browser.find_element(By.CSS_SELECTOR, f'[data-download="{kind}"]').click()
        target = tmp_path / f"jfk.{kind}"
        _wait(browser, lambda d, target=target: target.is_file() and target.stat().st_size > 0)
        fields = {"model": "whisper-base", "language": "en", "response_format": kind,
                  "diarize": "true"}  # fmt: skip
        upload = {"file": ("jfk.flac", audio.read_bytes())}
        server = httpx.post(f"{site}/v1/audio/transcriptions", data=fields, files=upload,
                            timeout=120)  # fmt: skip
        assert server.status_code == 200, server.text
        assert target.read_text() == server.text
        assert "[A]" in server.text if kind == "srt" else "<v A>" in server.text
    assert not _csp_violations(browser)


def test_record_from_the_fake_microphone(browser: webdriver.Chrome, site: str) -> None:
    _open(browser, site)
    Select(browser.find_element(By.ID, "language")).select_by_value("en")
    browser.find_element(By.ID, "record").click()
    _wait(browser, lambda d: _attr(d, "record", "aria-pressed") == "true")
    time.sleep(6.5)
    browser.find_element(By.ID, "record").click()
    _wait(browser, lambda d: "recording.webm" in d.find_element(By.ID, "chosen").text)
    browser.find_element(By.ID, "go").click()
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#transcript .word")) >= 5)
    heard = browser.find_element(By.ID, "transcript").text.lower()
    words = [w.strip(".,") for w in HELLO_TEXT.lower().split()]
    assert sum(w in heard for w in words) / len(words) >= 0.7, heard


def test_speak_with_three_voices(browser: webdriver.Chrome, site: str) -> None:
    _open(browser, site, "speak")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#voices li")) == 23 + 28
    browser.find_element(By.ID, "voice-filter").send_keys("Celeste")
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#voices li")) == 1)
    browser.find_element(By.CSS_SELECTOR, "#voices li button").click()  # its sample
    browser.find_element(By.ID, "voice-filter").clear()
    browser.execute_script(
        "document.getElementById('voice-filter').dispatchEvent(new Event('input'))"
    )
    text = browser.find_element(By.ID, "speak-text")
    assert browser.find_element(By.ID, "speak-count").text == str(len(text.get_attribute("value")))
    for voice, words in (("Fritz-PlayAI", "Good morning."), ("Celeste-PlayAI", "Hello there."),
                         ("Ahmad-PlayAI", "مرحبا بكم")):  # fmt: skip
        Select(browser.find_element(By.ID, "speak-voice")).select_by_value(voice)
        text.clear()
        text.send_keys(words)
        browser.execute_script("document.getElementById('speak-player').removeAttribute('src')")
        browser.find_element(By.ID, "speak").click()
        _wait(browser, lambda d: d.find_element(By.ID, "speak").is_enabled()
              and d.execute_script(PLAYER_DURATION) > 0)  # fmt: skip
        assert browser.find_element(By.ID, "error").is_displayed() is False
    assert "first audio after" in browser.find_element(By.ID, "speak-meta").text
    browser.find_element(By.ID, "voice-filter").send_keys("female")
    _shot(browser, "speak")
    assert not _csp_violations(browser)


def test_realtime_captions(browser: webdriver.Chrome, site: str) -> None:
    _open(browser, site, "realtime")
    Select(browser.find_element(By.ID, "rt-language")).select_by_value("en")
    browser.find_element(By.ID, "rt-toggle").click()
    # words while the sentence is spoken (grey), then the turn's final text (black)
    _wait(
        browser,
        lambda d: any(p.text for p in d.find_elements(By.CSS_SELECTOR, "#captions p.partial")),
        30,
    )
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#captions p.final"), 90)
    final = browser.find_element(By.CSS_SELECTOR, "#captions p.final").text.lower()
    assert "ms after you stopped" in final
    assert sum(w.strip(".,") in final for w in HELLO_TEXT.lower().split()) >= 5, final
    _shot(browser, "realtime")
    browser.find_element(By.ID, "rt-toggle").click()
    assert not _csp_violations(browser)


def test_batch_runs_and_offers_the_output(browser: webdriver.Chrome, site: str,
                                          tmp_path: Path) -> None:  # fmt: skip
    data_url = "data:audio/wav;base64," + base64.b64encode(HELLO.read_bytes()).decode()
    lines = [{"custom_id": f"clip-{i}", "method": "POST", "url": "/v1/audio/transcriptions",
              "body": {"model": "whisper-1", "url": data_url, "language": "en"}}
             for i in range(2)]  # fmt: skip
    jsonl = tmp_path / "requests.jsonl"
    jsonl.write_text("\n".join(json.dumps(line) for line in lines))
    _open(browser, site, "batch")
    browser.find_element(By.ID, "batch-file").send_keys(str(jsonl))
    _wait(browser, lambda d: "2 requests" in _attr(d, "batch-urls", "placeholder"))
    browser.find_element(By.ID, "batch-go").click()
    _wait(browser, lambda d: d.find_element(By.ID, "batch-state").text == "completed", 120)
    assert browser.find_element(By.ID, "batch-completed").text == "2"
    _wait(browser, lambda d: d.find_element(By.ID, "batch-output").is_displayed())
    _shot(browser, "batch")
    assert not _csp_violations(browser)


def test_keyboard_and_phone_width(site: str, fake_microphone: Path) -> None:
    phone = _driver(fake_microphone, 390, 844)
    try:
        _open(phone, site)
        tab = phone.find_element(By.ID, "tab-transcribe")
        tab.send_keys(Keys.ARROW_RIGHT)
        assert phone.find_element(By.ID, "tab-speak").get_attribute("aria-selected") == "true"
        assert phone.switch_to.active_element.get_attribute("id") == "tab-speak"
        assert phone.find_element(By.ID, "panel-speak").is_displayed()
        unlabeled = phone.execute_script(
            "return [...document.querySelectorAll('input, select, textarea')]"
            ".filter(e => !e.labels || !e.labels.length).map(e => e.id)"
        )
        assert unlabeled == []
        overflow = phone.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth"
        )
        assert overflow <= 0
        _shot(phone, "phone")
    finally:
        phone.quit()


def test_a_401_shows_the_servers_message(make_settings, fake_microphone: Path) -> None:  # type: ignore[no-untyped-def]
    with live_server(make_settings(api_keys=[KEY])) as (url, _app):
        expected = httpx.get(f"{url}/v1/models").json()["error"]["message"]
        driver = _driver(fake_microphone)
        try:
            driver.get(url + "/")
            error = driver.find_element(By.ID, "error")
            _wait(driver, lambda d: error.is_displayed())
            assert error.text == expected
            assert "Traceback" not in driver.page_source
            key = driver.find_element(By.ID, "api-key")
            key.send_keys(KEY, Keys.TAB)
            _wait(driver, _ready)
            assert not error.is_displayed()
            assert (
                driver.execute_script("return localStorage.getItem('speech-pipeline.api-key')")
                == KEY
            )
        finally:
            driver.quit()


def test_the_batch_tab_lists_only_the_keys_own_batches(  # type: ignore[no-untyped-def]
    make_settings, fake_microphone: Path, tmp_path: Path
) -> None:
    import openai

    from audio.settings import BatchSettings

    keys = ("team-a-key", "team-b-key")
    settings = make_settings(api_keys=list(keys), batch=BatchSettings(data_dir=tmp_path))
    with live_server(settings) as (url, _app):
        made: dict[str, str] = {}
        for key in keys:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
            line = {"custom_id": "x", "method": "POST", "url": "/v1/audio/transcriptions",
                    "body": {"url": "file-" + "0" * 24}}  # fmt: skip
            source = client.files.create(file=("in.jsonl", json.dumps(line).encode()),
                                         purpose="batch")  # fmt: skip
            made[key] = client.batches.create(input_file_id=source.id, completion_window="24h",
                                              endpoint="/v1/audio/transcriptions").id  # fmt: skip
        driver = _driver(fake_microphone)
        try:
            driver.get(f"{url}/#batch")
            listed = driver.find_element(By.ID, "batch-list")
            for key in keys:
                field = driver.find_element(By.ID, "api-key")
                field.clear()
                field.send_keys(key, Keys.TAB)
                _wait(driver, lambda d, key=key: made[key] in listed.text)  # type: ignore[misc]
                other = made[keys[1 - keys.index(key)]]
                assert other not in listed.text
                assert listed.text.count("batch_") == 1, listed.text
        finally:
            driver.quit()
