"""`python -m bot shell`: type `/license acme`, read the card, no Slack needed.

Requests go through the real Bolt dispatch path as Slack would send them (form-encoded slash
commands, `payload=` JSON for button clicks), so what the shell prints is what Slack would get.
Replies that Slack would receive on a `response_url` (a picked customer, a shared card) are
caught by a small HTTP listener on loopback and printed the same way.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO
from urllib.parse import quote, urlencode

from slack_bolt import App

from bot import ids
from bot.app import LOCAL_TEAM_ID, LOCAL_USER_ID
from bot.slack.bolt_request import SlackRequest
from bot.views.text import render_message

LOCAL_CHANNEL_ID = "D0LOCAL"
RESPONSE_WAIT_SECONDS = 10.0
HELP = """Commands:
  /license <query>   licenses of a customer (name, email, @domain, A-S00012345, id, hostname)
  /recon <query>     seat reconciliations of a customer
  <number>           press the numbered button of the last reply
  help, quit"""


@dataclass(frozen=True)
class Button:
    action_id: str
    block_id: str
    value: str
    label: str


class ResponseCatcher:
    """Stands in for Slack's response_url: collects what the app posts there."""

    def __init__(self) -> None:
        self.posts: queue.Queue[dict[str, Any]] = queue.Queue()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    catcher.posts.put(json.loads(self.rfile.read(length) or b"{}"))
                finally:
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/respond"

    def __enter__(self) -> ResponseCatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class Shell:
    def __init__(self, app: App, catcher: ResponseCatcher, out: TextIO) -> None:
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
        if line.isdigit() and self._buttons:
            self._press(int(line))
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
        if posted.get("response_type") == "in_channel":
            self._print("── posted in the channel, for everyone ──")
        self._show(posted)

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


def run_shell(app: App, stdin: TextIO, stdout: TextIO) -> int:
    interactive = stdin.isatty()
    with ResponseCatcher() as catcher:
        shell = Shell(app, catcher, stdout)
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
