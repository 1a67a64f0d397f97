"""An access decision: may this person look up customers, by which allowlist entry, or why not.

Made by the identity resolver (bot/slack/identity.py), enforced by the allowlist middleware
(bot/slack/allowlist.py), shown by App Home (bot/views/home.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.outcomes import RefusalReason

# Which allowlist entry let someone in (AccessDecision.rule).
RULE_USER_ID = "user_id"
RULE_EMAIL = "email"
RULE_EMAIL_DOMAIN = "email_domain"
RULE_USERGROUP_PREFIX = "usergroup:"
RULE_LOCAL_OPERATOR = "local_operator"


@dataclass(frozen=True)
class AccessDecision:
    """May this user look up customers? `rule` says which allowlist entry let them in."""

    allowed: bool
    reason: RefusalReason | None  # None when allowed
    email: str | None = None
    rule: str | None = None  # "user_id", "email", "email_domain", "usergroup:sales", ...

    @classmethod
    def allow(cls, rule: str, email: str | None = None) -> AccessDecision:
        return cls(allowed=True, reason=None, email=email, rule=rule)

    @classmethod
    def refuse(cls, reason: RefusalReason, email: str | None = None) -> AccessDecision:
        return cls(allowed=False, reason=reason, email=email, rule=None)
