"""Where the Wyoming listener binds, and whether that is loopback."""

from __future__ import annotations

import ipaddress
import urllib.parse


def parse_uri(uri: str) -> tuple[str, int]:
    """`tcp://HOST:PORT` -> (host, port); ValueError for anything else."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme != "tcp" or not parts.hostname or parts.port is None:
        raise ValueError("a Wyoming address is tcp://HOST:PORT, e.g. tcp://127.0.0.1:10300")
    return parts.hostname, parts.port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
