"""Every command name, action_id, callback_id and block_id the app uses, in one place.

The manifest test checks `manifest.yml` against these names, so a rename here that is not
made there (or the other way round) fails CI instead of failing in Slack.
"""

from __future__ import annotations

import re

# License (and reconciliation) ids: CustomersDot's BigInteger columns hold up to 2**63 - 1, so
# a longer digit string cannot be an id; every number of up to 18 digits fits.
LICENSE_ID_MAX = 2**63 - 1
LICENSE_ID_DIGITS_MAX = len(str(LICENSE_ID_MAX)) - 1

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
# "Show more" under a pick list: the next page of the same search (value: bot.views.pick_list).
PICK_MORE_LICENSE_ACTION = "pick_more_license"
PICK_MORE_RECON_ACTION = "pick_more_recon"

LICENSE_SEND_TO_ME_ACTION = "license_send_to_me"
# "Show all licenses" under a card, and "Show more" on that list (value: bot.views.license_card).
LICENSE_HISTORY_ACTION = "license_history"
HOME_RECENT_LOOKUP_ACTION = "home_recent_lookup"
# "Follow in this thread" on a card the bot posted into a conversation (value: the customer's
# key, checked against the message the button is on), and "Unfollow" (value: the follow's id)
# on App Home and in the following list.
FOLLOW_IN_THREAD_ACTION = "follow_in_thread"
UNFOLLOW_ACTION = "unfollow"
# "Open the full card" on an update a follow posted (value: the customer's key): the card for
# whoever clicks, ephemeral where the update is.
FOLLOW_OPEN_CARD_ACTION = "follow_open_card"

# `/license follow|unfollow|following …`: the first word of /license's text. A customer with one
# of these names is looked up quoted (`/license "Following"`).
FOLLOW_SUBCOMMAND = "follow"
UNFOLLOW_SUBCOMMAND = "unfollow"
FOLLOWING_SUBCOMMAND = "following"
FOLLOW_SUBCOMMANDS = (FOLLOW_SUBCOMMAND, UNFOLLOW_SUBCOMMAND, FOLLOWING_SUBCOMMAND)

# Shortcuts (callback_id) and the modals they open (view callback_id)
POST_CARD_SHORTCUT = "post_license_card"  # message shortcut: post a card into the thread
LOOKUP_SHORTCUT = "lookup_license"  # global shortcut: look up in a modal
SHORTCUTS = (POST_CARD_SHORTCUT, LOOKUP_SHORTCUT)
POST_CARD_MODAL = "post_license_card_modal"
LOOKUP_MODAL = "lookup_license_modal"
LOOKUP_RESULT_MODAL = "lookup_license_result_modal"
CUSTOMER_SELECT_ACTION = "customer_select"  # external_select: block_suggestion + block_actions
# The shortcut modals' inputs (block_id, action_id): read back from view.state on submission.
CUSTOMER_BLOCK = "customer"
LICENSE_BLOCK = "featured_license"
LICENSE_SELECT_ACTION = "featured_license_select"
NOTE_BLOCK = "note"
NOTE_ACTION = "note_input"
CONVERSATION_BLOCK = "conversation"
CONVERSATION_SELECT_ACTION = "conversation_select"
# The post-card modal's "keep this thread updated" checkbox.
FOLLOW_THREAD_BLOCK = "follow_thread"
FOLLOW_THREAD_ACTION = "follow_thread_input"
FOLLOW_THREAD_OPTION = "follow"

# Events that say the bot can no longer post into a conversation: archived (public, private),
# the bot removed (Slack sends the bot channel_left/group_left, and member_left_channel naming
# it), or shared with another organisation (Slack Connect). Each pauses the conversation's
# follows. They act for no user the allowlist could check: they only ever make the bot post less.
CONVERSATION_GONE_EVENTS = (
    "channel_archive",
    "group_archive",
    "channel_left",
    "group_left",
    "member_left_channel",
    "channel_shared",
)
# Events the app subscribes to (manifest bot_events)
BOT_EVENTS = (
    "app_home_opened",
    "link_shared",
    "app_uninstalled",
    "tokens_revoked",
    *CONVERSATION_GONE_EVENTS,
)

# Block ids
CARD_HEADER_BLOCK = "card_header"
CARD_ACTIONS_BLOCK = "card_actions"
CARD_LINKS_BLOCK = "card_links"  # URL buttons (Zuora, CustomersDot, hostnames) of a subscription
HISTORY_MORE_BLOCK = "history_more"
PICK_LIST_BLOCK_PREFIX = "pick:"
PICK_MORE_BLOCK = "pick_more"
ALSO_MATCHING_BLOCK_PREFIX = "also:"  # customers offered beside a card (bot.views.pick_list)
FOOTER_BLOCK = "card_footer"
STALE_BLOCK = "data_stale"  # a card's first lines when its data is older than STALE_AFTER_HOURS


def link_action_id(name: str) -> str:
    """action_id for a URL button; unique per button within one block."""
    return f"{LINK_ACTION_PREFIX}{name}"[:255]
