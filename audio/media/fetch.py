"""Fetch a `url` input safely (Groq's alternative to `file`).

- Only http(s) and `data:` URLs.
- The host is resolved once; every address must be public (private, loopback,
  link-local, multicast, reserved and cloud-metadata addresses are refused unless
  a configured network allows them), and the connection goes to that address
  (no second lookup that DNS rebinding could change).
- Redirects are followed by hand, each target checked again, at most N.
- Connect and read timeouts; the size limit is enforced while streaming.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass

import httpx

from audio.errors import InvalidRequest, RequestTooLarge
from audio.settings import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


@dataclass(frozen=True)
class FetchPolicy:
    """Limits for one fetch."""

    max_bytes: int
    """Largest body accepted."""
    allow_networks: tuple[Network, ...] = ()
    """Networks exempt from the private-address ban."""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_redirects: int = 3

    @classmethod
    def build(cls, max_bytes: int, allow: Sequence[str], **kwargs: float) -> FetchPolicy:
        nets = tuple(ipaddress.ip_network(n, strict=False) for n in allow)
        return cls(max_bytes=max_bytes, allow_networks=nets, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        """The policy of `url` inputs (the upload limit, the operator's networks)."""
        return cls.build(
            settings.limits.max_upload_bytes, settings.url.allow_networks,
            connect_timeout=settings.url.connect_timeout,
            read_timeout=settings.url.read_timeout, max_redirects=settings.url.max_redirects,
        )  # fmt: skip


def _bad_url(reason: str, param: str = "url") -> InvalidRequest:
    return InvalidRequest(f"{param} is not allowed: {reason}", param=param)


def address_allowed(addr: IPAddress, policy: FetchPolicy) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if any(addr in net for net in policy.allow_networks):
        return True
    return not (
        addr in _METADATA
        or addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_multicast
        or addr.is_reserved
        or addr.is_unspecified
    )


async def _resolve(host: str, port: int, policy: FetchPolicy) -> IPAddress:
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addrs = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise _bad_url(f"cannot resolve host {host!r}") from exc
        addrs = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addrs:
        raise _bad_url(f"cannot resolve host {host!r}")
    for addr in addrs:
        if not address_allowed(addr, policy):
            raise _bad_url(f"host {host!r} resolves to a non-public address")
    return addrs[0]


def decode_data_url(url: str, max_bytes: int, param: str = "url") -> bytes:
    """The bytes of a `data:` URL (base64 or percent-encoded); 400 naming `param`."""
    header, sep, payload = url.partition(",")
    if not sep or not header.startswith("data:"):
        raise _bad_url("malformed data: URL", param)
    if len(payload) * 3 // 4 > max_bytes:
        raise RequestTooLarge(max_bytes)
    try:
        if header.endswith(";base64"):
            return base64.b64decode(payload, validate=True)
        return urllib.parse.unquote_to_bytes(payload)
    except (binascii.Error, ValueError) as exc:
        raise _bad_url("malformed base64 in data: URL", param) from exc


async def fetch_url(url: str, policy: FetchPolicy) -> bytes:
    """Return the body at `url`, or raise InvalidRequest / RequestTooLarge."""
    if url.startswith("data:"):
        return decode_data_url(url, policy.max_bytes)
    timeout = httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as c:
        for _ in range(policy.max_redirects + 1):
            location, body = await _get_pinned(c, url, policy)
            if location is None:
                return body
            url = urllib.parse.urljoin(url, location)
    raise _bad_url(f"more than {policy.max_redirects} redirects")


async def _get_pinned(
    client: httpx.AsyncClient, url: str, policy: FetchPolicy
) -> tuple[str | None, bytes]:
    """One hop: (redirect location, b"") or (None, body)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _bad_url("only http, https and data: URLs are accepted")
    if not parts.hostname:
        raise _bad_url("no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addr = await _resolve(parts.hostname, port, policy)
    ip_host = f"[{addr}]" if addr.version == 6 else str(addr)
    pinned = urllib.parse.urlunsplit(
        (parts.scheme, f"{ip_host}:{port}", parts.path or "/", parts.query, "")
    )
    host_header = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
    request = client.build_request(
        "GET",
        pinned,
        headers={"Host": host_header},
        extensions={"sni_hostname": parts.hostname},
    )
    try:
        response = await client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise InvalidRequest("url could not be fetched: timed out", param="url") from exc
    except httpx.HTTPError as exc:
        raise InvalidRequest(f"url could not be fetched: {exc}", param="url") from exc
    try:
        if response.is_redirect:
            return response.headers.get("location", ""), b""
        if response.status_code >= 400:
            raise InvalidRequest(
                f"url could not be fetched: HTTP {response.status_code}", param="url"
            )
        declared = int(response.headers.get("content-length") or 0)
        if declared > policy.max_bytes:
            raise RequestTooLarge(policy.max_bytes)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body.extend(chunk)
            if len(body) > policy.max_bytes:
                raise RequestTooLarge(policy.max_bytes)
        return None, bytes(body)
    except httpx.HTTPError as exc:
        raise InvalidRequest(f"url could not be fetched: {exc}", param="url") from exc
    finally:
        await response.aclose()
