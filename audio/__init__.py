"""The audio library: sniffing a file's format by content, opening it with the
right reader (libsndfile or FFmpeg through PyAV), streaming decode into chunks
with pre-roll, and the identity of a path as the library stores it.

Used by ingest (the feeder process) and by the user layer (``fpstream analyze``,
``fpstream master``). It imports only ``base``."""
