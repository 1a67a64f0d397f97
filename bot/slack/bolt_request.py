"""Slack requests as Bolt reads them, with Bolt's form parsing corrected at the boundary.

slack-bolt 1.30's `parse_body` reads any form body that *contains* the word "payload" as an
interactivity payload (`"payload" in body`), and returns `{}` when it has no `payload` key: so
`/license payload`, a command from a channel named `payload-eng` or a workspace whose domain
contains `payloadco` reached no listener (an empty 200, an audit row with no user). A body is a
`payload=` form only when its `payload` *key* exists (`bot.slack.request_shape.parse_slack_body`).
`SlackRequest` is a BoltRequest parsed that way, copies included (lazy listeners rebuild the
request from its raw body); every HTTP request and the shell's are built as one.
"""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltRequest
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_bolt.adapter.wsgi.http_request import WsgiHttpRequest
from slack_bolt.context.context import BoltContext
from slack_bolt.request.internals import build_context
from slack_bolt.response import BoltResponse

from bot.request_body import parsed_body
from bot.slack.request_shape import parse_slack_body


class SlackRequest(BoltRequest):
    def __init__(
        self,
        *,
        body: str | dict[str, Any],
        parsed_body: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if not isinstance(body, str) or not body:
            super().__init__(body=body, **kwargs)
            return
        # Parsed once, by our rule (or given, parsed by it at the boundary): Bolt is handed an
        # empty body, which it parses to nothing, and the parsed one replaces it.
        super().__init__(body="", **kwargs)
        self.raw_body = body
        parsed = parse_slack_body(body, self.content_type) if parsed_body is None else parsed_body
        self.body = parsed
        self.context = build_context(BoltContext(kwargs.get("context") or {}), parsed)

    def to_copyable(self) -> SlackRequest:
        copied = super().to_copyable()
        return SlackRequest(
            body=copied.raw_body if copied.mode == "http" else copied.body,
            query=copied.query,
            headers=copied.headers,
            context=copied.context,
            mode=copied.mode,
        )


class SlackWsgiHandler(SlackRequestHandler):
    """Bolt's WSGI adapter, dispatching SlackRequests."""

    def dispatch(self, request: WsgiHttpRequest) -> BoltResponse:
        body = request.get_body()
        return self.app.dispatch(
            SlackRequest(
                body=body,
                # The HTTP boundary's parse (bot/app.py), if it made one of this very text.
                parsed_body=parsed_body(request.environ, body),
                query=request.query_string,
                headers=request.get_headers(),
            )
        )
