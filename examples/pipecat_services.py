"""Pipecat services that use only this server for STT and TTS.

Put them in any Pipecat pipeline (transport -> stt -> llm -> tts -> transport).
GroqTTSService reads GROQ_BASE_URL; the others take base_url.
"""

import os

from pipecat.services.groq.stt import GroqSTTService
from pipecat.services.groq.tts import GroqTTSService
from pipecat.services.openai.stt import OpenAISTTService
from pipecat.services.openai.tts import OpenAITTSService

os.environ.setdefault("GROQ_BASE_URL", "http://127.0.0.1:8000")

groq_stt = GroqSTTService(api_key="local", base_url="http://127.0.0.1:8000/openai/v1")
groq_tts = GroqTTSService(api_key="local", model_name="playai-tts", voice_id="Fritz-PlayAI")
openai_stt = OpenAISTTService(
    api_key="local", base_url="http://127.0.0.1:8000/v1", model="whisper-1"
)
openai_tts = OpenAITTSService(
    api_key="local",
    base_url="http://127.0.0.1:8000/v1",
    model="tts-1",
    voice="nova",
    sample_rate=24000,
)
