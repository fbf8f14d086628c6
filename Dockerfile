# CPU image of speech-pipeline with the embedded Whisper base model and Piper voice.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md LICENSE THIRD_PARTY_NOTICES.md ./
COPY audio ./audio
COPY common ./common
COPY diarizer ./diarizer
COPY jobs ./jobs
COPY realtime ./realtime
COPY segmenter ./segmenter
COPY transcriber ./transcriber
COPY voices ./voices
RUN pip install --no-cache-dir . \
    && pip install --no-cache-dir --no-deps resemblyzer==0.1.4 \
    && speech-pipeline models pull whisper-base
ENV SPEECH_HOST=0.0.0.0 \
    SPEECH_PORT=8000 \
    SPEECH_STT__FALLBACK_MODEL=whisper-base
EXPOSE 8000
CMD ["speech-pipeline", "serve"]
