#!/usr/bin/env bash
# Every endpoint of a local speech-pipeline (make serve), with the project's own samples.
set -euo pipefail
B=${BASE:-http://127.0.0.1:8000}
curl -s "$B/health"; echo
curl -s "$B/v1/models" | head -c 300; echo
curl -s "$B/v1/audio/transcriptions" -F model=whisper-1 -F file=@samples/hello_en.wav; echo
curl -s "$B/openai/v1/audio/transcriptions" -F model=whisper-large-v3-turbo \
  -F file=@samples/weather_en.mp3 -F response_format=verbose_json \
  -F 'timestamp_granularities[]=word' -F 'timestamp_granularities[]=segment' | head -c 400; echo
curl -s "$B/v1/audio/transcriptions" -F model=whisper-1 -F file=@samples/weather_en.mp3 -F response_format=srt
curl -sN "$B/v1/audio/transcriptions" -F model=whisper-1 -F file=@samples/weather_en.mp3 -F stream=true
curl -s "$B/openai/v1/audio/translations" -F model=whisper-large-v3 -F file=@samples/speech_de.mp3; echo
curl -s "$B/v1/audio/speech" -H 'content-type: application/json' \
  -d '{"model":"playai-tts","voice":"Fritz-PlayAI","input":"Hello from curl."}' -o /tmp/hello.wav
curl -s "$B/v1/audio/speech" -H 'content-type: application/json' \
  -d '{"model":"tts-1","voice":"nova","input":"Streaming, sentence by sentence. Like this.","stream_format":"audio","response_format":"pcm"}' -o /tmp/hello.pcm
curl -s "$B/v1/audio/voices" | head -c 300; echo
