"""Everything that knows HTTP: who the client is, budgets, headers, refusals turned
into responses, the views, the sinks (SSE and text), the access log, stalls, metrics.

The only room that imports aiohttp's web.
"""
