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

from bot.slack.request_shape import parse_slack_body


class SlackRequest(BoltRequest):
    def __init__(self, *, body: str | dict[str, Any], **kwargs: Any) -> None:
        super().__init__(body=body, **kwargs)
        if isinstance(body, str) and body:
            parsed = parse_slack_body(self.raw_body, self.content_type)
            if parsed != self.body:
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
        return self.app.dispatch(
            SlackRequest(
                body=request.get_body(), query=request.query_string, headers=request.get_headers()
            )
        )
