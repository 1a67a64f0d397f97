"""Socket Mode: the same payload shape check the HTTP path applies, before Bolt sees a payload.

Over HTTP, `bot.slack.request_shape` answers a malformed body 400 before Bolt parses it. Socket Mode
delivers payloads already parsed into the envelope, so they never pass that check: a payload
whose `actions` is empty or whose `event` is a list raised inside Bolt, slack_sdk logged a
traceback, and the envelope was never acknowledged, so Slack delivered the same poison payload
again (and, for an interaction, showed the user an error). Here such a payload is acknowledged
with an empty response and logged once with the reason; everything else goes to Bolt as before.
"""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.slack.request_shape import malformed_payload_reason

logger = logging.getLogger(__name__)


def refuse_malformed(client: BaseSocketModeClient, request: SocketModeRequest) -> bool:
    """Acknowledge and log a payload Bolt could not handle; True when it was one."""
    reason = malformed_payload_reason(request.payload)
    if reason is None:
        return False
    # The reason only: the payload may carry user text, and logs are no place for it.
    logger.warning(
        "socket mode: malformed %s payload acknowledged and dropped: %s", request.type, reason
    )
    client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
    return True


class ShapeCheckingSocketModeHandler(SocketModeHandler):
    """slack_bolt's built-in Socket Mode handler with `refuse_malformed` in front of Bolt."""

    # The client is the builtin SocketModeClient this handler connects with: Bolt's own
    # SocketModeHandler narrows its base class's BaseSocketModeClient the same way (and carries
    # the same ignore).
    def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        if not refuse_malformed(client, req):
            super().handle(client, req)
