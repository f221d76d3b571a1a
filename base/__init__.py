"""The base layer every process imports: wire protocol, configuration, sockets,
the feature table and logging. It imports nothing from the process packages
(broker, ingest, analyzer, sink) nor from the user layer (fpstream)."""
