"""speech-pipeline's service shell: the HTTP API (`api/`), the wiring of the capability
rooms into services (`wiring.py`, `services/`), media I/O (`media/`), operations
(`ops/`), batch work (`batch/`) and the command line (`cli.py`)."""

__version__ = "0.1.0"
