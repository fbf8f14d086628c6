"""Text-to-speech: the PlayAI-style voice catalog and the engines that render it.

Framework-free: no HTTP, no output containers (those live in `audio/`).
"""
