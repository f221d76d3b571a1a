"""``fpstream serve``: the library over HTTP (JSON API, the Lyrion mixer API, a web app).

Modules: ``vectors`` (the library in memory, reloaded when the file changes),
``queries`` (the JSON API), ``mixer`` (Lyrion's mixer API), ``media`` (audio with
Range), ``fingerprint`` (feeding the running stack), ``security`` (token, limits,
errors), ``app`` (wiring and the command's server loop). docs/serve.md documents it.
"""
