"""A LiveKit Agents voice agent whose ears and voice are this server.

Run a LiveKit server and an LLM of your choice; STT and TTS never leave the machine:
    python examples/livekit_agent.py dev
"""

from livekit import agents
from livekit.agents import Agent, AgentSession
from livekit.plugins import groq

BASE_URL = "http://127.0.0.1:8000/openai/v1"


async def entrypoint(ctx: agents.JobContext) -> None:
    session = AgentSession(
        stt=groq.STT(base_url=BASE_URL, api_key="local", model="whisper-large-v3-turbo"),
        tts=groq.TTS(
            base_url=BASE_URL, api_key="local", model="playai-tts", voice="Celeste-PlayAI"
        ),
        # llm=...  your LLM plugin here
    )
    await session.start(room=ctx.room, agent=Agent(instructions="You are a helpful assistant."))


if __name__ == "__main__":
    agents.cli.run_app(agents.WorkerOptions(entrypoint_fnc=entrypoint))
