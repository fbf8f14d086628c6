"""Groq's `url` input: fetched safely from loopback test servers only."""

from __future__ import annotations

import base64
import ipaddress
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from audio.media.fetch import FetchPolicy, address_allowed

from ..helpers import SAMPLES, live_server

CLIP = (SAMPLES / "hello_en.wav").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        routes = {
            "/hello.wav": lambda: self._send(CLIP),
            "/redirect-ok": lambda: self._redirect("/hello.wav"),
            "/redirect-metadata": lambda: self._redirect("http://169.254.169.254/latest/"),
            "/loop": lambda: self._redirect("/loop"),
            "/chunked-big": self._chunked_big,
            "/slow": self._slow,
            "/missing": lambda: self.send_error(404),
        }
        routes.get(self.path, lambda: self.send_error(404))()

    def _send(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, where: str) -> None:
        self.send_response(302)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _chunked_big(self) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for _ in range(40):
            chunk = b"\0" * 100_000
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        self.wfile.write(b"0\r\n\r\n")

    def _slow(self) -> None:
        time.sleep(3)
        self._send(CLIP)


@pytest.fixture(scope="module")
def media_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def api(make_settings) -> Iterator[str]:  # type: ignore[no-untyped-def]
    settings = make_settings(
        url={"allow_networks": ["127.0.0.1/32"], "read_timeout": 1.0, "max_redirects": 3},
        limits={"max_upload_bytes": 2_000_000},
    )
    with live_server(settings) as (url, _app):
        yield url


def _transcribe_url(api: str, url: str) -> httpx.Response:
    return httpx.post(
        f"{api}/openai/v1/audio/transcriptions",
        data={"model": "whisper-large-v3", "url": url},
        timeout=120,
    )


def test_allowed_loopback_url_transcribes(api: str, media_server: str) -> None:
    response = _transcribe_url(api, f"{media_server}/hello.wav")
    assert response.status_code == 200
    assert "hello" in response.json()["text"].lower()


def test_groq_sdk_url_field(api: str, media_server: str) -> None:
    import groq

    client = groq.Groq(api_key="x", base_url=api, max_retries=0)
    result = client.audio.transcriptions.create(
        url=f"{media_server}/redirect-ok", model="whisper-large-v3"
    )
    assert "hello" in result.text.lower()


def test_data_url(api: str) -> None:
    data_url = "data:audio/wav;base64," + base64.b64encode(CLIP).decode()
    response = _transcribe_url(api, data_url)
    assert response.status_code == 200
    assert "hello" in response.json()["text"].lower()


@pytest.mark.parametrize(
    ("path", "status", "fragment"),
    [
        ("/redirect-metadata", 400, "non-public"),
        ("/loop", 400, "redirects"),
        ("/chunked-big", 413, "limit"),
        ("/slow", 400, "timed out"),
        ("/missing", 400, "HTTP 404"),
    ],
)
def test_refused_urls(api: str, media_server: str, path: str, status: int, fragment: str) -> None:
    response = _transcribe_url(api, media_server + path)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert fragment in error["message"]


def test_hostname_resolving_to_loopback_is_refused(server: str) -> None:
    """The default server allows no private network: `localhost` is refused."""
    response = _transcribe_url(server, "http://localhost:1/a.wav")
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "url"


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2606:4700:4700::1111", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("fd00:ec2::254", False),
        ("::1", False),
        ("::ffff:127.0.0.1", False),
        ("224.0.0.1", False),
        ("0.0.0.0", False),
    ],
)
def test_address_policy(address: str, allowed: bool) -> None:
    policy = FetchPolicy(max_bytes=1)
    assert address_allowed(ipaddress.ip_address(address), policy) is allowed
