"""Ingest: reads paths, decodes them in blocks, and sends chunks to the broker."""
