"""Sink: merges partials per track and commits rows to SQLite in batches."""
