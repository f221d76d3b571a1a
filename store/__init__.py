"""The store library: the SQLite library file. The schema and its migrations,
every write (the sink's batched upserts, ``master``'s row, ``prune``'s delete)
and every read (``show``, ``similar``, ``export``, ingest's skip check).

The only package that speaks SQL. It imports only ``base``."""
