"""Who spoke when: speaker embeddings, clustering, speaker turns and their join with a
transcript's words. Framework-free; the service shell (`audio/`) wires it in."""
