"""Which Slack organisations the app serves: ALLOWED_TEAM_IDS and ALLOWED_ENTERPRISE_IDS.

One rule, used at install time (bot.slack.oauth refuses an OAuth install elsewhere), on every
request that acts for a user (bot.slack.allowlist refuses a request whose installation is
elsewhere), and for the allowlist's own sources (bot.slack.identity: user groups are read only from
an allowed workspace, and email rules count only for users of an allowed organisation).

A workspace is allowed when its team id is listed, or when it belongs to a listed Enterprise
Grid organisation. With neither setting (single-workspace mode only; OAuth mode refuses to
start without one) the one workspace SLACK_BOT_TOKEN belongs to is the organisation, and the
member-or-external check (bot.slack.identity) is what keeps others out.

In OAuth mode a user group is named with the workspace (or Grid organisation) that owns it,
`T0123:S0456`: a handle like `sales` means whatever group any installing workspace chose to
call `sales`, and an id alone would be read with the requesting workspace's token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# `T0123:S0456` (a workspace's group) or `E0123:S0456` (an Enterprise Grid organisation's).
WORKSPACE_USERGROUP_PATTERN = re.compile(r"^(?P<owner>[TE][A-Z0-9]+):(?P<group>S[A-Z0-9]+)$")


@dataclass(frozen=True)
class WorkspaceUsergroup:
    """A user group and the workspace or organisation whose token may read it."""

    owner_id: str  # T… (a workspace) or E… (an Enterprise Grid organisation)
    group_id: str


def parse_workspace_usergroup(entry: str) -> WorkspaceUsergroup | None:
    """`T0123:S0456` -> its owner and group; None for anything else (a handle, a bare id)."""
    match = WORKSPACE_USERGROUP_PATTERN.match(entry.strip())
    if match is None:
        return None
    return WorkspaceUsergroup(owner_id=match["owner"], group_id=match["group"])


@dataclass(frozen=True)
class OrganisationAllowlist:
    """The workspaces (team ids) and Grid organisations (enterprise ids) the app serves."""

    team_ids: frozenset[str] = frozenset()
    enterprise_ids: frozenset[str] = frozenset()

    @property
    def is_restricted(self) -> bool:
        """False only when neither setting is given (single-workspace mode)."""
        return bool(self.team_ids or self.enterprise_ids)

    def allows(self, team_id: str | None, enterprise_id: str | None) -> bool:
        """May a workspace (or an org-wide install, team None) with these ids use the app?"""
        if not self.is_restricted:
            return True
        return (team_id is not None and team_id in self.team_ids) or (
            enterprise_id is not None and enterprise_id in self.enterprise_ids
        )
