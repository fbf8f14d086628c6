# ruff: noqa: SIM115  (snippets mirror the SDK docs: open() inline)
"""The README's SDK calls, runnable against `make serve` (python examples/sdk_snippets.py)."""

from groq import Groq
from openai import OpenAI

groq = Groq(api_key="anything", base_url="http://127.0.0.1:8000")
result = groq.audio.transcriptions.create(
    file=open("samples/hello_en.wav", "rb"),
    model="whisper-large-v3-turbo",
    response_format="verbose_json",
    timestamp_granularities=["word", "segment"],
)
print(result.text)
print(
    groq.audio.translations.create(
        file=open("samples/speech_de.mp3", "rb"), model="whisper-large-v3"
    ).text
)
groq.audio.speech.create(
    model="playai-tts", voice="Fritz-PlayAI", input="I love building and shipping new features!"
).write_to_file("speech.wav")

openai = OpenAI(api_key="x", base_url="http://127.0.0.1:8000/v1")
print(
    openai.audio.transcriptions.create(
        file=open("samples/weather_en.mp3", "rb"), model="whisper-1", response_format="srt"
    )
)
for event in openai.audio.transcriptions.create(
    file=open("samples/weather_en.mp3", "rb"), model="whisper-1", stream=True
):
    print(event.type, getattr(event, "delta", getattr(event, "text", "")))
