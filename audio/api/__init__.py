"""HTTP layer: routes, request parsing, error envelope (the only FastAPI users)."""
