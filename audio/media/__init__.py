"""Media I/O: decoding any upload or URL to 16-kHz PCM (spooled to disk when long),
fetching URLs under the address policy, encoding speech, and rendering transcripts in
every response format."""
