"""Query text -> what kind of search it asks for (`parse_query`, `ParsedQuery`, `QueryKind`).

One box, many meanings: digits are a license id (also as the card prints it, `#12345`),
`jane@acme.io` an email, `@acme.io` an email domain, `A-S00012345` a subscription name (also
without its `A-`), `0016100001AbCdE` a Salesforce account id (15 or 18 characters, or its
record's URL), 32 hex digits a Zuora id (a subscription version's or an account's; or a license
file's MD5), `A00009001` a Zuora account number, `gitlab.acme.io` a hostname, anything else a
name (a company's or a contact's). Slack's markup (`<mailto:...|...>`, links, mentions) is
unwrapped first. Pure: no database.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot import ids
from bot.names import company_search_key
from bot.salesforce_ids import salesforce_id_18

# Anything longer is not a customer name; searching on it only costs time.
MAX_QUERY_LENGTH = 200
# The largest value a BigInteger license id can hold; larger digit strings cannot be an id.


class QueryKind(enum.Enum):
    EMPTY = "empty"
    LICENSE_ID = "license_id"
    EMAIL = "email"
    EMAIL_DOMAIN = "email_domain"
    SUBSCRIPTION_NAME = "subscription_name"
    SALESFORCE_ID = "salesforce_id"
    ZUORA_ID = "zuora_id"
    ACCOUNT_NUMBER = "account_number"
    HOSTNAME = "hostname"
    NAME = "name"


@dataclass(frozen=True)
class ParsedQuery:
    kind: QueryKind
    text: str  # what the user typed, Slack's markup removed, trimmed and capped
    # The term for `kind`: lowercased email/domain/host/Zuora id, the subscription name
    # upper-cased with its `A-`, a Salesforce id in its 18-character form, an account number
    # upper-cased, a license id's digits.
    value: str
    name_key: str  # company_search_key(text): what the fallback to names searches for
    license_id: int | None = None  # LICENSE_ID only; None when the digits overflow an id

    @property
    def email_domain(self) -> str | None:
        """An EMAIL query's domain, lowercased; None for other kinds."""
        return self.value.rpartition("@")[2] if self.kind is QueryKind.EMAIL else None


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Slack rewrites typed emails, links, mentions and channels as <target|label> or <target>.
_SLACK_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_EMAIL = re.compile(r"^[^@\s<>]+@([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z0-9-]+)$", re.IGNORECASE)
_EMAIL_DOMAIN = re.compile(r"^@([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z0-9-]+)$", re.IGNORECASE)
# Zuora names subscriptions `A-S00012345`; people often drop the `A-` (the number is the name).
_SUBSCRIPTION_NAME = re.compile(r"^(?:A-)?(S[0-9]+)$", re.IGNORECASE)
# Salesforce account ids start with the Account object's key prefix, 001; 15 characters, or 18
# with the case-checksum Salesforce adds.
_SALESFORCE_ACCOUNT_ID = re.compile(r"^001[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?$")
_SALESFORCE_HOSTS = ("salesforce.com", "force.com")
# Zuora's object ids are 32 lowercase hex digits (a license file's MD5 is too).
_ZUORA_ID = re.compile(r"^[0-9a-f]{32}$", re.IGNORECASE)
# Zuora's default account numbering: `A` and digits (`A00009001`).
_ACCOUNT_NUMBER = re.compile(r"^A[0-9]{5,12}$", re.IGNORECASE)
_HOSTNAME = re.compile(
    r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+$", re.IGNORECASE
)


def _unwrap_slack_markup(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("mailto:"):
        return target.removeprefix("mailto:")
    if target[:1] in {"@", "#", "!"}:
        # A mention or channel: its label if Slack sent one, else the bare id. Never a customer,
        # but searched as a name (finding nothing) rather than refused.
        return (label or target[1:]).lstrip("@#")
    if "://" in target:
        return label or target
    return label if label is not None else target


def _hostname_of_url(candidate: str) -> str | None:
    if "://" not in candidate:
        return None
    try:
        return urlsplit(candidate).hostname
    except ValueError:
        return None


def _salesforce_record_id(candidate: str) -> str | None:
    """The account id a Salesforce record URL names (classic `https://x.my.salesforce.com/001…`
    or Lightning `…/lightning/r/Account/001…/view`), else None."""
    if "://" not in candidate:
        return None
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not any(host == known or host.endswith("." + known) for known in _SALESFORCE_HOSTS):
        return None
    for segment in parts.path.split("/"):
        if _SALESFORCE_ACCOUNT_ID.match(segment):
            return segment
    return None


def parse_query(text: str) -> ParsedQuery:
    """What kind of search the text asks for. Accepts any input; never raises."""
    # Control characters (C0, DEL, C1) are part of no name, email, id or hostname; a NUL
    # reaching PostgreSQL in an email's local part was a DataError, not an answer.
    text = _CONTROL_CHARACTERS.sub(" ", text)
    cleaned = _SLACK_MARKUP.sub(_unwrap_slack_markup, text).strip()[:MAX_QUERY_LENGTH].strip()
    name_key = company_search_key(cleaned)
    if not cleaned:
        return ParsedQuery(QueryKind.EMPTY, "", "", "")
    lowered = cleaned.lower()
    salesforce_id = _salesforce_record_id(cleaned) or (
        cleaned if _SALESFORCE_ACCOUNT_ID.match(cleaned) else None
    )
    if salesforce_id is not None:
        value = salesforce_id_18(salesforce_id)
        return ParsedQuery(QueryKind.SALESFORCE_ID, cleaned, value, name_key)
    if _ZUORA_ID.match(cleaned):
        return ParsedQuery(QueryKind.ZUORA_ID, cleaned, lowered, name_key)
    # Cards print license ids as `#12345`: a copied id means the license, as the bare digits do.
    digits = cleaned.removeprefix("#")
    if digits.isascii() and digits.isdigit():
        number = int(digits)
        license_id = number if number <= ids.LICENSE_ID_MAX else None
        return ParsedQuery(QueryKind.LICENSE_ID, cleaned, digits, name_key, license_id)
    if _EMAIL.match(cleaned):
        return ParsedQuery(QueryKind.EMAIL, cleaned, lowered, name_key)
    if match := _EMAIL_DOMAIN.match(cleaned):
        return ParsedQuery(QueryKind.EMAIL_DOMAIN, cleaned, match.group(1).lower(), name_key)
    if _ACCOUNT_NUMBER.match(cleaned):
        return ParsedQuery(QueryKind.ACCOUNT_NUMBER, cleaned, cleaned.upper(), name_key)
    if match := _SUBSCRIPTION_NAME.match(cleaned):
        subscription_name = f"A-{match.group(1).upper()}"
        return ParsedQuery(QueryKind.SUBSCRIPTION_NAME, cleaned, subscription_name, name_key)
    hostname = _hostname_of_url(cleaned) or lowered.rstrip(".").split("/", 1)[0]
    hostname = hostname.rsplit(":", 1)[0] if re.search(r":\d+$", hostname) else hostname
    if " " not in cleaned and "." in hostname and _HOSTNAME.match(hostname):
        return ParsedQuery(QueryKind.HOSTNAME, cleaned, hostname.lower(), name_key)
    return ParsedQuery(QueryKind.NAME, cleaned, name_key, name_key)
