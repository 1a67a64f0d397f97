"""Every command name, action_id, callback_id and block_id the app uses, in one place.

The manifest test checks `manifest.yml` against these names, so a rename here that is not
made there (or the other way round) fails CI instead of failing in Slack.
"""

from __future__ import annotations

import re

# Slash commands
LICENSE_COMMAND = "/license"
RECON_COMMAND = "/recon"
COMMANDS = (LICENSE_COMMAND, RECON_COMMAND)

# Block actions. Buttons that only open a URL still send block_actions; they are acked
# and otherwise ignored, so Slack shows no warning triangle next to them.
LINK_ACTION_PREFIX = "link:"
LINK_ACTION_PATTERN = re.compile(r"^link:")
LICENSE_SHARE_ACTION = "license_share"
CUSTOMER_PICK_LICENSE_ACTION = "customer_pick_license"
CUSTOMER_PICK_RECON_ACTION = "customer_pick_recon"

# Block ids
CARD_HEADER_BLOCK = "card_header"
CARD_ACTIONS_BLOCK = "card_actions"
CARD_LINKS_BLOCK = "card_links"  # URL buttons (Zuora, CustomersDot, hostnames)
PICK_LIST_BLOCK_PREFIX = "pick:"
FOOTER_BLOCK = "card_footer"


def link_action_id(name: str) -> str:
    """action_id for a URL button; unique per button within one block."""
    return f"{LINK_ACTION_PREFIX}{name}"[:255]
