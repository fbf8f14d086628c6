"""Operations: API keys and their projects, rate limits, metrics, and the heap."""
