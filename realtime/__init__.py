"""Realtime transcription sessions (OpenAI's Realtime API in transcription mode).

Framework-free: a session takes the client's JSON events and audio, detects turns,
asks a `TurnTranscriber` (the seam; the service shell implements it on the STT engine)
for interim and final text, and hands server events to a `send` callable. The WebSocket
lives in `audio/api/realtime.py`.
"""
