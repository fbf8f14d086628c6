"""Batch wiring: a batch line run as the route would, the folder walker, the one choice
between running here and on a Ray cluster, and the `batch` command."""
