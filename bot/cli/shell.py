"""`python -m bot shell`: type `/license acme`, read the card, no Slack needed.

Requests go through the real Bolt dispatch path as Slack would send them (form-encoded slash
commands, `payload=` JSON for button clicks), so what the shell prints is what Slack would get.
The terminal is the conversation: a small HTTP listener on loopback (`TerminalSlack`) stands in
for Slack, catching what the app posts to a `response_url` (a picked customer, a shared card)
and the Web API calls its buttons make (the conversation check sees the operator's own
channel; Send to me's DM is printed as the DM), so both buttons work and show what would be
posted, redacted as it would be.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO, cast
from urllib.parse import parse_qs, quote, urlencode

from slack_bolt import App

from bot import ids
from bot.app import LOCAL_TEAM_ID, LOCAL_USER_ID
from bot.slack.bolt_request import SlackRequest
from bot.views.text import render_message

LOCAL_CHANNEL_ID = "D0LOCAL"
RESPONSE_WAIT_SECONDS = 10.0
# After a button's first post, how long the shell waits for another before prompting again.
FOLLOW_UP_WAIT_SECONDS = 0.5
HELP = """Commands:
  /license <query>   licenses of a customer (name, email, @domain, A-S00012345, id, hostname)
  /recon <query>     seat reconciliations of a customer
  press <number>     press the numbered button of the last reply (or just the number)
  help, quit"""


@dataclass(frozen=True)
class Button:
    action_id: str
    block_id: str
    value: str
    label: str


# What the terminal's conversation is, as conversations.info would describe it: an internal
# public channel the bot is in, so a shared card shows as it would in one (emails hidden
# unless SHOW_CONTACT_EMAILS_IN_CHANNELS).
TERMINAL_CHANNEL = {
    "id": LOCAL_CHANNEL_ID,
    "name": "terminal",
    "is_channel": True,
    "is_private": False,
    "is_member": True,
    "is_archived": False,
}
LOCAL_DM_CHANNEL_ID = "D0LOCALDM"
DM_MARK = "_sent_as_direct_message"


class TerminalSlack:
    """Stands in for Slack at the terminal: collects what the app posts to a response_url and
    as a direct message, and answers the Web API calls its buttons make."""

    def __init__(self) -> None:
        self.posts: queue.Queue[dict[str, Any]] = queue.Queue()
        terminal = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) or b"{}"
                answer: dict[str, Any] = {"ok": True}
                try:
                    if self.path == "/respond":
                        terminal.posts.put(json.loads(raw))
                    else:
                        answer = terminal.web_api(self.path.rsplit("/", 1)[-1], _params(raw))
                finally:
                    body = json.dumps(answer).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def web_api(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "conversations.info":
            return {"ok": True, "channel": TERMINAL_CHANNEL}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": LOCAL_DM_CHANNEL_ID}}
        if method == "chat.postMessage":
            blocks = params.get("blocks")
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            self.posts.put({"text": params.get("text", ""), "blocks": blocks or [], DM_MARK: True})
            return {"ok": True, "channel": params.get("channel"), "ts": f"{time.time():.6f}"}
        return {"ok": False, "error": "not_available_in_the_shell"}

    @property
    def url(self) -> str:
        # Bound to "127.0.0.1" above: the host is a str (typeshed's address also admits bytes).
        host, port = cast(tuple[str, int], self._server.server_address[:2])
        return f"http://{host}:{port}/respond"

    @property
    def api_url(self) -> str:
        # Bound to "127.0.0.1" above: the host is a str (typeshed's address also admits bytes).
        host, port = cast(tuple[str, int], self._server.server_address[:2])
        return f"http://{host}:{port}/api/"

    def __enter__(self) -> TerminalSlack:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Shell:
    def __init__(self, app: App, catcher: TerminalSlack, out: TextIO) -> None:
        self._app = app
        self._catcher = catcher
        self._out = out
        self._buttons: list[Button] = []

    def handle_line(self, line: str) -> bool:
        """Run one input line; False when the user asked to leave."""
        line = line.strip()
        if not line:
            return True
        if line in {"quit", "exit", r"\q"}:
            return False
        if line in {"help", "?"}:
            self._print(HELP)
            return True
        # What the shell prints under a reply: `press 1: Share in channel`. A bare `1` too.
        pressed = line.removeprefix("press").strip()
        if pressed.isdigit():
            if not self._buttons:
                self._print("The last reply has no buttons to press.")
                return True
            self._press(int(pressed))
            return True
        command, _, text = line.partition(" ")
        if not command.startswith("/"):
            command = "/" + command
        if command not in ids.COMMANDS:
            self._print(f"Unknown command {command!r}.\n{HELP}")
            return True
        self._run_command(command, text)
        return True

    def _run_command(self, command: str, text: str) -> None:
        body = urlencode(
            {
                "token": "local",
                "team_id": LOCAL_TEAM_ID,
                "team_domain": "local",
                "channel_id": LOCAL_CHANNEL_ID,
                "channel_name": "directmessage",
                "user_id": LOCAL_USER_ID,
                "user_name": "operator",
                "command": command,
                "text": text,
                "api_app_id": "A0LOCAL",
                "is_enterprise_install": "false",
                "response_url": self._catcher.url,
                "trigger_id": "local.trigger",
            }
        )
        self._dispatch(body, "application/x-www-form-urlencoded")

    def _press(self, number: int) -> None:
        if not 1 <= number <= len(self._buttons):
            self._print(f"No button {number}; the last reply has 1 to {len(self._buttons)}.")
            return
        button = self._buttons[number - 1]
        payload = {
            "type": "block_actions",
            "token": "local",
            "api_app_id": "A0LOCAL",
            "user": {"id": LOCAL_USER_ID, "username": "operator", "team_id": LOCAL_TEAM_ID},
            "team": {"id": LOCAL_TEAM_ID, "domain": "local"},
            "container": {"type": "message", "is_ephemeral": True},
            "channel": {"id": LOCAL_CHANNEL_ID, "name": "directmessage"},
            "trigger_id": "local.trigger",
            "response_url": self._catcher.url,
            "actions": [
                {
                    "type": "button",
                    "action_id": button.action_id,
                    "block_id": button.block_id,
                    "value": button.value,
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        self._dispatch("payload=" + quote(json.dumps(payload)), "application/x-www-form-urlencoded")
        try:
            posted = self._catcher.posts.get(timeout=RESPONSE_WAIT_SECONDS)
        except queue.Empty:
            self._print("(no reply arrived)")
            return
        # A button can post more than once (Send to me: the DM, then a note under the card).
        arrived = [posted]
        while True:
            try:
                arrived.append(self._catcher.posts.get(timeout=FOLLOW_UP_WAIT_SECONDS))
            except queue.Empty:
                break
        pressed_on = self._buttons
        for message in arrived:
            if message.pop(DM_MARK, False):
                self._print("── sent to your direct messages with CustomersDot ──")
            elif message.get("response_type") == "in_channel":
                self._print("── posted in the channel, for everyone ──")
            self._show(message)
        if not self._buttons:
            # Nothing new to press (a DM, a note under the card): the card's buttons stay.
            self._buttons = pressed_on
            self._print("  (the buttons above still work)")

    def _dispatch(self, body: str, content_type: str) -> None:
        response = self._app.dispatch(
            SlackRequest(body=body, headers={"content-type": [content_type]})
        )
        if response.status != 200:
            self._print(f"(the app answered HTTP {response.status}: {response.body})")
            return
        if response.body:
            self._show(json.loads(response.body))

    def _show(self, message: dict[str, Any]) -> None:
        self._print(render_message(message, color=self._out.isatty()))
        self._buttons = list(_clickable_buttons(message.get("blocks") or []))
        for number, button in enumerate(self._buttons, start=1):
            self._print(f"  press {number}: {button.label}")

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)


def _clickable_buttons(blocks: list[dict[str, Any]]) -> Iterator[Button]:
    """Buttons that send an action (not URL buttons), labelled so a terminal user can choose."""
    for block in blocks:
        elements = [block["accessory"]] if block.get("accessory") else block.get("elements", [])
        context = _plain(block.get("text", {}).get("text", "")) if block.get("accessory") else ""
        for element in elements:
            if element.get("type") != "button" or element.get("url"):
                continue
            label = element["text"]["text"]
            yield Button(
                action_id=element["action_id"],
                block_id=block.get("block_id", ""),
                value=element.get("value", ""),
                label=f"{label} — {context[:70]}" if context else label,
            )


def _plain(mrkdwn: str) -> str:
    first_line = mrkdwn.splitlines()[0] if mrkdwn else ""
    return first_line.replace("*", "").replace("_", " ").strip()


def _params(raw: bytes) -> dict[str, Any]:
    """A Web API call's parameters: slack_sdk sends JSON or a form."""
    text = raw.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        loaded = json.loads(text)
        return loaded if isinstance(loaded, dict) else {}
    return {key: values[-1] for key, values in parse_qs(text).items()}


def run_shell(make_app: Callable[[str], App], stdin: TextIO, stdout: TextIO) -> int:
    """`make_app(api_url)`: the app, its Web API client pointed at the terminal's Slack."""
    interactive = stdin.isatty()
    with TerminalSlack() as catcher:
        shell = Shell(make_app(catcher.api_url), catcher, stdout)
        if interactive:
            print("CustomersDot shell. Try: /license initech   (help, quit)", file=stdout)
        while True:
            if interactive:
                try:
                    line = input("> ")
                except EOFError:
                    print(file=stdout)
                    break
            else:
                line = stdin.readline()
                if not line:
                    break
                print(f"> {line.rstrip()}", file=stdout)
            if not shell.handle_line(line):
                break
    return 0
