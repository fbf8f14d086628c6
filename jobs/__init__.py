"""Batch jobs: Groq's and OpenAI's Batch API over the speech routes.

Framework-free: the durable store (SQLite), the JSONL input rules, and the runner that
takes pending lines to a `LineHandler` (the seam; the service shell implements it on the
same code as the synchronous routes) and writes each result in one transaction. HTTP
lives in `audio/api/batches.py`.
"""
