"""Framework-free pieces every room shares: the PCM facts and the model cache.

Nothing here knows HTTP, settings or a particular model; `segmenter/`,
`transcriber/`, `voices/` and `audio/` all build on it.
"""
