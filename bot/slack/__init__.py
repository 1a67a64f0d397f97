"""Slack adapters: the Web API client and its retries, who acted (actor), who is asking
(identity), the organisations served, the allowlist middleware, Events API de-duplication,
OAuth installations, Socket Mode and request shape."""
