"""Home Assistant's Wyoming protocol beside HTTP: speech-to-text and text-to-speech for a
voice assistant over one TCP connection per request (`speech-pipeline serve --wyoming
tcp://127.0.0.1:10300`). Off by default; bound to loopback unless the operator says
otherwise, since Wyoming has no authentication."""
