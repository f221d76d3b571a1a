"""Broker: the one process that binds; proxies chunks, partials and acks."""
