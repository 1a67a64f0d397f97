"""The customer rule: which licenses are one real company (docs/customer-rule.md).

Strongest evidence first:

1. Licenses of one Salesforce account are one customer, whatever their company names say.
   Salesforce ids are compared in their 18-character form (`salesforce_id_18`); their case is
   never folded.
2. Else licenses of one Zuora account (joining the Salesforce account's customer when that
   Zuora account is linked to exactly one Salesforce account, by a license or the subscriptions
   export); else of one subscription, by its name (`A-S…`, the same across its versions) or
   any of its versions' Zuora ids (joining the one account customer its other licenses are
   under, if they agree on one). A license takes its subscription's accounts from the
   subscriptions export where the export has them: the export wins over the ids on the row.
3. A license with none of these (a self-requested trial, a legacy license) is compared only
   with the customers rules 1-2 formed ("anchored" customers), by their account names and their
   licenses' company names (`bot.search.company_name`):
   a. it joins the one such customer with the same folded name (case, accents, punctuation and
      spacing folded; a trailing legal form kept but spelt one way, as
      `bot.search.LEGAL_FORM_SPELLINGS` lists: `Corp` = `Corp.` = `Corporation`, `Inc` =
      `Incorporated`, `Ltd` = `Limited`, `Co` = `Company`; Japanese forms such as 株式会社,
      before or after the name, as `kk`);
   b. failing that, and only when its own name has no legal form, the one such customer
      with a name that is its name once the legal form is dropped (`Initrode` joins
      `Initrode Inc.`; `Initrode LLC` does not);
   c. where two or more customers qualify, it joins none.
4. By email, for the licenses rule 3 left alone, compared by their folded-name group (the
   licenses with one folded name) and only by *company* domains: never a public mail
   provider's (`public_email_domain`), never a domain the licenses of several anchored
   customers were sent to (a reseller requesting trials for its clients):
   a. a group joins the one anchored customer whose licenses were sent to its company domains,
      when its folded name without spaces is that domain's own label (`Yamato Giken` at
      yamato-giken.co.jp) or one of that customer's folded names without spaces;
   b. else groups whose names agree once spaces and the legal form are ignored too, and whose
      licenses were sent to one company domain, are one customer (`Pied Piper`, `Pied Piper,
      Inc.` and `piedpiper` at piedpiper.com: `name:piedpiper@piedpiper.com`).
   Licenses left over group by folded name (`Kramerica Corp` trials together). A license
   without a company (CustomersDot's export has some) joins the one anchored customer whose
   licenses went to its contact's company domain, else groups by that domain, else (a public
   mail domain, or no address) is a customer of its own (`license:<id>`).
5. Otherwise licenses are different customers (`Acme Corp` and `ACME GmbH`).

A customer is keyed by its evidence (`sf:`, `za:`, `sub:`, `name:` + folded name, `domain:`,
`license:`), shown with the account's name where known, else the company name of its newest
license (paid before trials: a trial's company is whatever its requester typed). Every name it
is known by (that one, its accounts', its licenses' company names, its contacts') is a row of
`customer_name`, which name search reads.

A reconciliation belongs to the customer of its subscription (by name, or any version's Zuora
id), else to the one customer one of whose names is its folded name (else, when its name has
no legal form, the one whose name without the legal form it is).

The grouping is a function of what the rule reads, over the whole store: the subscriptions,
the public mail domains, and the license columns in `LICENSE_COLUMNS_READ`. `regroup`
recomputes it, set-based, in the store's upkeep (bot/store/upkeep.py: when CUSTOMER_RULE_VERSION,
the name folding or the public domains changed) and inside the transaction of every licenses or
subscriptions import that changed some of that: inserted or deleted a row, updated a subscription, or updated a license in one of
those columns (a daily export whose rows changed only seats, dates, plan or notes leaves the
customers as they are). So the same data gives the same customers whatever order the files came
in. Every step is a statement over the whole tables into a temporary table of the connection
(a hash join or a sort, never a per-license round trip), so memory stays in the database, not
in Python, whatever the store's size; only rows that change are written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ARRAY, Connection, Text, bindparam, column, func, select, table, true
from sqlalchemy.exc import DBAPIError

from bot.names import cjk_bigrams, search_words
from bot.salesforce_ids import salesforce_id_18
from bot.store.db import dialect_insert

__all__ = ["salesforce_id_18"]

# Bump with any change to what the rule computes from the same data (its steps below, the keys,
# the shown names, the names indexed): the store's upkeep then regroups every store once
# (bot/store/upkeep.py), at `python -m bot db upgrade` or the next import.
CUSTOMER_RULE_VERSION = "4"


# Rules 1-2's evidence, strongest first: the prefix of the key of a customer it forms, and the
# column of the rule's steps (`evidence` on) holding a license's own evidence of that kind: its
# Salesforce account, its Zuora account, its subscription. The one home of this order: the
# rule's SQL (`_first_key` in `account_anchor` and `anchored`) and the importer's
# `provisional_customer_key` are both generated from it. Its shape is not free: the accounts come
# first and the subscription last (the slices below take them apart; `subscription_anchor` needs
# the accounts' anchors first, and `linked` maps a Zuora account to its Salesforce account).
ANCHOR_EVIDENCE: tuple[tuple[str, str], ...] = (("sf:", "sf"), ("za:", "za"), ("sub:", "sub"))
_ACCOUNT_EVIDENCE = ANCHOR_EVIDENCE[:-1]
_SUBSCRIPTION_EVIDENCE = ANCHOR_EVIDENCE[-1:]
# The keys of the customers rule 4 and its leftovers form (`grouped`): by the contact's email
# domain (a license without a company), by folded name, a license of its own.
DOMAIN_KEY_PREFIX = "domain:"
NAME_KEY_PREFIX = "name:"
LICENSE_KEY_PREFIX = "license:"


def _first_key(evidence: tuple[tuple[str, str], ...], alias: str) -> str:
    """SQL: the key of the strongest of `evidence` a row of `alias` has (NULL: none)."""
    keys = [f"'{prefix}' || {alias}.{name}" for prefix, name in evidence]
    return keys[0] if len(keys) == 1 else f"coalesce({', '.join(keys)})"


def provisional_customer_key(
    evidence: dict[str, str | None], folded_name: str | None, email_domain: str | None = None
) -> str:
    """The key a license's own row points at, before `regroup` sees the whole store: the
    importer stores it so that `regroup` rewrites only the licenses other rows move.

    `evidence`: the license's own, by ANCHOR_EVIDENCE's columns (`sf`, `za`, `sub`); the
    strongest it has gives the key, as in the rule. Without any, the rule's leftovers' keys:
    its contact's email domain when it has no company, else its folded name."""
    for prefix, kind in ANCHOR_EVIDENCE:
        value = evidence[kind]
        if value:
            return prefix + value
    if folded_name is None and email_domain:
        return (DOMAIN_KEY_PREFIX + email_domain)[:300]
    return (NAME_KEY_PREFIX + (folded_name or ""))[:300]


@dataclass(frozen=True)
class RegroupCounts:
    customers_written: int  # customers added or changed
    customers_deleted: int
    licenses_moved: int
    reconciliations_moved: int


# Each step: (temporary table, its SELECT, the columns to index). Read in order; each reads the
# tables before it. Names carry a prefix: they live beside the store's own tables on SQLite.
_T = "customer_rule_"
_GROUPING_STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # The subscriptions export: each subscription's newest version and its account.
    (
        "newest_subscription",
        "SELECT subscription_name AS name, zuora_account_id AS za, salesforce_account_id AS sf,"
        " account_name, account_folded, account_search_key FROM ("
        " SELECT subscription.*, ROW_NUMBER() OVER (PARTITION BY subscription_name"
        " ORDER BY subscription_version DESC NULLS LAST, zuora_subscription_id DESC) AS newest"
        " FROM subscription) AS versions WHERE newest = 1",
        ("name",),
    ),
    # Each license's evidence: its subscription (named through any version's id), and the
    # accounts the export gives that subscription, else those on the row; and the account's
    # names, which the later steps read from here rather than joining the export again.
    (
        "evidence",
        "SELECT own.id, own.sub, coalesce(account.sf, own.sf) AS sf,"
        " coalesce(account.za, own.za) AS za, own.folded, own.search_key, own.domain,"
        " own.domain_label, account.account_name, account.account_folded,"
        " account.account_search_key FROM ("
        " SELECT license.id, coalesce(version.subscription_name,"
        " license.zuora_subscription_name, license.zuora_subscription_id) AS sub,"
        " license.salesforce_account_id AS sf, license.zuora_account_id AS za,"
        " license.company_folded AS folded, license.company_search_key AS search_key,"
        " license.contact_email_domain AS domain, license.email_domain_label AS domain_label"
        " FROM license LEFT JOIN subscription AS version"
        " ON version.zuora_subscription_id = license.zuora_subscription_id) AS own"
        f" LEFT JOIN {_T}newest_subscription AS account ON account.name = own.sub",
        ("id",),
    ),
    # Zuora accounts linked to exactly one Salesforce account.
    (
        "account_salesforce",
        "SELECT za, min(sf) AS sf FROM ("
        f" SELECT za, sf FROM {_T}evidence WHERE za IS NOT NULL AND sf IS NOT NULL"
        f" UNION SELECT za, sf FROM {_T}newest_subscription"
        " WHERE za IS NOT NULL AND sf IS NOT NULL) AS links"
        " GROUP BY za HAVING count(DISTINCT sf) = 1",
        ("za",),
    ),
    # Rules 1 and 2's accounts: a Zuora account linked to one Salesforce account is that one's.
    (
        "account_anchor",
        f"SELECT accounts.id, accounts.sub, {_first_key(_ACCOUNT_EVIDENCE, 'accounts')} AS anchor"
        " FROM (SELECT evidence.id, evidence.sub, coalesce(evidence.sf, linked.sf) AS sf,"
        f" evidence.za FROM {_T}evidence AS evidence"
        f" LEFT JOIN {_T}account_salesforce AS linked ON linked.za = evidence.za) AS accounts",
        ("id",),
    ),
    # Subscriptions whose licenses with an account agree on one.
    (
        "subscription_anchor",
        f"SELECT sub, min(anchor) AS anchor FROM {_T}account_anchor"
        " WHERE sub IS NOT NULL AND anchor IS NOT NULL GROUP BY sub"
        " HAVING count(DISTINCT anchor) = 1",
        ("sub",),
    ),
    (
        "anchored",
        "SELECT evidence.id, evidence.folded, evidence.search_key, evidence.domain,"
        " evidence.domain_label, coalesce(own.anchor, by_subscription.anchor,"
        f" {_first_key(_SUBSCRIPTION_EVIDENCE, 'evidence')}) AS anchor"
        f" FROM {_T}evidence AS evidence JOIN {_T}account_anchor AS own ON own.id = evidence.id"
        f" LEFT JOIN {_T}subscription_anchor AS by_subscription"
        " ON by_subscription.sub = evidence.sub",
        ("id",),
    ),
    # The names of the licenses rules 1-2 left without a customer (trials, legacy licenses).
    (
        "loose_name",
        f"SELECT DISTINCT folded FROM {_T}anchored WHERE anchor IS NULL AND folded IS NOT NULL",
        ("folded",),
    ),
    # Rule 3 compares with the names of rules 1-2's customers: company names and account names;
    # only those a loose name could match (3a: the same folded name; 3b: the search key), so
    # the work follows the trials' names, not the whole store's.
    (
        "anchored_name",
        f"SELECT DISTINCT anchor, folded, search_key FROM {_T}anchored"
        " WHERE anchor IS NOT NULL AND folded IS NOT NULL AND ("
        f"folded IN (SELECT folded FROM {_T}loose_name)"
        f" OR search_key IN (SELECT folded FROM {_T}loose_name))"
        " UNION SELECT anchored.anchor, evidence.account_folded, evidence.account_search_key"
        f" FROM {_T}anchored AS anchored JOIN {_T}evidence AS evidence"
        " ON evidence.id = anchored.id"
        " WHERE anchored.anchor IS NOT NULL AND evidence.account_folded IS NOT NULL AND ("
        f"evidence.account_folded IN (SELECT folded FROM {_T}loose_name)"
        f" OR evidence.account_search_key IN (SELECT folded FROM {_T}loose_name))",
        ("folded", "search_key"),
    ),
    # 3a: same folded name.
    (
        "by_folded_name",
        "SELECT loose.id, min(named.anchor) AS anchor, count(DISTINCT named.anchor) AS matches"
        f" FROM {_T}anchored AS loose JOIN {_T}anchored_name AS named"
        " ON named.folded = loose.folded WHERE loose.anchor IS NULL GROUP BY loose.id",
        ("id",),
    ),
    # 3b: a name without a legal form that is a customer's name without its legal form.
    (
        "by_search_key",
        "SELECT loose.id, min(named.anchor) AS anchor, count(DISTINCT named.anchor) AS matches"
        f" FROM {_T}anchored AS loose JOIN {_T}anchored_name AS named"
        " ON named.search_key = loose.folded"
        " WHERE loose.anchor IS NULL AND loose.folded = loose.search_key GROUP BY loose.id",
        ("id",),
    ),
    # A license without a company: the one customer of rules 1-2 its contact's company domain
    # is found in, else its own by that domain.
    (
        "by_domain",
        "SELECT domain, min(anchor) AS anchor, count(DISTINCT anchor) AS matches"
        f" FROM {_T}anchored WHERE anchor IS NOT NULL AND domain IN (SELECT domain"
        f" FROM {_T}anchored WHERE anchor IS NULL AND folded IS NULL)"
        " AND domain NOT IN (SELECT domain FROM public_email_domain) GROUP BY domain",
        ("domain",),
    ),
    # Rule 4 reads the licenses with a company that rules 1-3 left without a customer (3c's
    # included: a domain may settle what names could not), by folded-name group.
    (
        "loose",
        "SELECT anchored.id, anchored.folded, anchored.search_key, anchored.domain,"
        f" anchored.domain_label FROM {_T}anchored AS anchored"
        f" LEFT JOIN {_T}by_folded_name AS by_folded ON by_folded.id = anchored.id"
        f" LEFT JOIN {_T}by_search_key AS by_key ON by_key.id = anchored.id"
        " WHERE anchored.anchor IS NULL AND anchored.folded IS NOT NULL"
        " AND coalesce(by_folded.matches, 0) <> 1"
        " AND NOT (by_folded.matches IS NULL AND coalesce(by_key.matches, 0) = 1)",
        ("folded", "domain"),
    ),
    # Their company domains: never a public mail provider's.
    (
        "company_domain",
        f"SELECT DISTINCT domain FROM {_T}loose WHERE domain IS NOT NULL"
        " AND domain NOT IN (SELECT domain FROM public_email_domain)",
        ("domain",),
    ),
    # The anchored customers whose licenses were sent to each of those domains.
    (
        "domain_owner",
        "SELECT domain, min(anchor) AS anchor, count(DISTINCT anchor) AS owners"
        f" FROM {_T}anchored WHERE anchor IS NOT NULL"
        f" AND domain IN (SELECT domain FROM {_T}company_domain) GROUP BY domain",
        ("domain",),
    ),
    # 4a, per folded-name group: the anchored owners of its company domains (one, and no domain
    # shared with another), and whether its name without spaces is a domain's own label.
    (
        "loose_owner",
        "SELECT loose.folded, min(owner.anchor) AS anchor,"
        " count(DISTINCT owner.anchor) AS anchors, max(owner.owners) AS owners,"
        " max(CASE WHEN replace(loose.folded, ' ', '') = loose.domain_label THEN 1 ELSE 0 END)"
        f" AS label_matches FROM {_T}loose AS loose"
        f" JOIN {_T}domain_owner AS owner ON owner.domain = loose.domain GROUP BY loose.folded",
        ("folded",),
    ),
    # The folded names, without spaces, of the customers 4a could join.
    (
        "owner_name",
        "SELECT DISTINCT anchored.anchor, replace(anchored.folded, ' ', '') AS compact"
        f" FROM {_T}anchored AS anchored WHERE anchored.folded IS NOT NULL AND anchored.anchor IN"
        f" (SELECT anchor FROM {_T}loose_owner WHERE anchors = 1 AND owners = 1)"
        " UNION SELECT anchored.anchor, replace(evidence.account_folded, ' ', '')"
        f" FROM {_T}anchored AS anchored JOIN {_T}evidence AS evidence"
        " ON evidence.id = anchored.id WHERE evidence.account_folded IS NOT NULL"
        f" AND anchored.anchor IN (SELECT anchor FROM {_T}loose_owner"
        " WHERE anchors = 1 AND owners = 1)",
        ("anchor",),
    ),
    (
        "by_company_domain",
        "SELECT owner.folded, owner.anchor FROM"
        f" {_T}loose_owner AS owner WHERE owner.anchors = 1 AND owner.owners = 1"
        " AND (owner.label_matches = 1 OR EXISTS (SELECT 1"
        f" FROM {_T}owner_name AS name WHERE name.anchor = owner.anchor"
        " AND name.compact = replace(owner.folded, ' ', '')))",
        ("folded",),
    ),
    # 4b: the groups 4a left, with the one (name without spaces or legal form, company domain)
    # their licenses give; two or more groups with the same one are one customer.
    (
        "spelling_pair",
        "SELECT loose.folded, replace(loose.search_key, ' ', '') AS compact, loose.domain"
        f" FROM {_T}loose AS loose JOIN {_T}company_domain AS company"
        " ON company.domain = loose.domain"
        f" WHERE loose.folded NOT IN (SELECT folded FROM {_T}by_company_domain)"
        # A domain two customers' licenses went to is a reseller's or a parent's: as in 4a, no
        # evidence of which company a name at it is.
        f" AND loose.domain NOT IN (SELECT domain FROM {_T}domain_owner WHERE owners >= 2)"
        " GROUP BY loose.folded, replace(loose.search_key, ' ', ''), loose.domain",
        ("folded",),
    ),
    (
        "single_pair",
        "SELECT folded, min(compact) AS compact, min(domain) AS domain"
        f" FROM {_T}spelling_pair GROUP BY folded HAVING count(*) = 1",
        ("compact",),
    ),
    (
        "by_spelling",
        "SELECT single.folded,"
        " substr('name:' || single.compact || '@' || single.domain, 1, 300) AS anchor"
        f" FROM {_T}single_pair AS single JOIN (SELECT compact, domain FROM {_T}single_pair"
        " GROUP BY compact, domain HAVING count(*) >= 2) AS shared"
        " ON shared.compact = single.compact AND shared.domain = single.domain",
        ("folded",),
    ),
    # Rules 1-4 in order; the leftovers by folded name.
    (
        "grouped",
        "SELECT anchored.id, coalesce(anchored.anchor,"
        " CASE WHEN anchored.folded IS NULL THEN coalesce("
        " CASE WHEN by_domain.matches = 1 THEN by_domain.anchor END,"
        f" CASE WHEN public.domain IS NULL THEN '{DOMAIN_KEY_PREFIX}' || anchored.domain END,"
        f" '{LICENSE_KEY_PREFIX}' || anchored.id) END,"
        " CASE WHEN by_folded.matches = 1 THEN by_folded.anchor END,"
        " CASE WHEN by_folded.matches IS NULL AND by_key.matches = 1 THEN by_key.anchor END,"
        " by_company.anchor, by_spelling.anchor,"
        f" '{NAME_KEY_PREFIX}' || anchored.folded) AS anchor"
        f" FROM {_T}anchored AS anchored"
        f" LEFT JOIN {_T}by_folded_name AS by_folded ON by_folded.id = anchored.id"
        f" LEFT JOIN {_T}by_search_key AS by_key ON by_key.id = anchored.id"
        f" LEFT JOIN {_T}by_domain AS by_domain ON by_domain.domain = anchored.domain"
        " LEFT JOIN public_email_domain AS public ON public.domain = anchored.domain"
        f" LEFT JOIN {_T}by_company_domain AS by_company ON by_company.folded = anchored.folded"
        f" LEFT JOIN {_T}by_spelling AS by_spelling ON by_spelling.folded = anchored.folded",
        ("id",),
    ),
    # Each customer as shown: the account's name where known, else the company of its newest
    # paid license (a trial's name is whatever its requester typed), else of its newest trial.
    (
        "wanted_customer",
        "SELECT key, name, search_key, folded_name, salesforce_account_id, account_name FROM ("
        " SELECT grouped.anchor AS key, coalesce(account.account_name,"
        " CASE WHEN license.company_folded IS NOT NULL THEN license.company END,"
        " CASE WHEN substr(grouped.anchor, 1, 8) = 'license:' THEN coalesce("
        " license.contact_name, 'License #' || license.id) END,"
        " license.contact_email_domain, license.company) AS name,"
        " coalesce(account.account_search_key, license.company_search_key,"
        " CASE WHEN substr(grouped.anchor, 1, 8) = 'license:' THEN license.contact_search_key END,"
        " license.contact_email_domain, '') AS search_key,"
        " coalesce(account.account_folded, license.company_folded,"
        " CASE WHEN substr(grouped.anchor, 1, 8) = 'license:' THEN license.contact_search_key END,"
        " license.contact_email_domain) AS folded_name,"
        " CASE WHEN substr(grouped.anchor, 1, 3) = 'sf:' THEN substr(grouped.anchor, 4) END"
        " AS salesforce_account_id, account.account_name,"
        " ROW_NUMBER() OVER (PARTITION BY grouped.anchor ORDER BY"
        " account.account_name IS NULL, license.company_folded IS NULL, license.trial,"
        # A prospect's spellings joined by its domain (rule 4b) are shown by the fullest.
        " CASE WHEN substr(grouped.anchor, 1, 5) = 'name:'"
        " AND replace(grouped.anchor, '@', '') <> grouped.anchor"
        " THEN -length(license.company) END,"
        " license.issued_at DESC NULLS LAST,"
        " license.id DESC)"
        " AS newest"
        f" FROM {_T}grouped AS grouped JOIN license ON license.id = grouped.id"
        f" JOIN {_T}evidence AS account ON account.id = grouped.id"
        ") AS ranked WHERE newest = 1",
        ("key",),
    ),
)

# The license columns the rule reads (its grouping steps, the shown name's choice in
# `wanted_customer`, the names it indexes, the reconciliation steps), besides the key `id` and the `customer_key` it
# writes itself (the importer writes it only with a new row). The grouping is a function of
# these and of the subscriptions: an import that only updated other columns (seats, dates, plan,
# notes) leaves the customers as they are, and skips `regroup` (bot.store.importing.customers).
# tests/store/test_customer_rule_inputs.py reads the steps' SQL: a column they read must be listed.
LICENSE_COLUMNS_READ: tuple[str, ...] = (
    "company",
    "company_folded",
    "company_search_key",
    "contact_email_domain",
    "email_domain_label",
    "contact_name",
    "contact_search_key",
    "trial",
    "issued_at",
    "zuora_subscription_id",
    "zuora_subscription_name",
    "salesforce_account_id",
    "zuora_account_id",
)

# What each kind of name is of its customer (customer_name.kind), in the order one name's kind
# is chosen when it is several: the name the customer is shown with, an account's name, a
# license's company name, a contact's name.
NAME_KINDS = ("customer", "account", "company", "contact")

# Every name a customer is known by, one row per customer and folded name (read after the
# licenses have moved to their customers): written to `customer_name` where it changed.
_NAME_STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "wanted_name",
        "SELECT customer_key, folded, min(search_key) AS search_key, min(name) AS name,"
        " CASE min(rank) WHEN 0 THEN 'customer' WHEN 1 THEN 'account' WHEN 2 THEN 'company'"
        " ELSE 'contact' END AS kind FROM ("
        # A `license:` customer is shown by its contact's name: a person's, indexed as one.
        " SELECT key AS customer_key, folded_name AS folded, search_key, name,"
        " CASE WHEN substr(key, 1, 8) = 'license:' THEN 3 ELSE 0 END AS rank"
        f" FROM {_T}wanted_customer WHERE folded_name IS NOT NULL AND search_key <> ''"
        " UNION ALL SELECT DISTINCT grouped.anchor, evidence.account_folded,"
        " evidence.account_search_key, evidence.account_name, 1"
        f" FROM {_T}grouped AS grouped JOIN {_T}evidence AS evidence ON evidence.id = grouped.id"
        " WHERE evidence.account_folded IS NOT NULL AND evidence.account_search_key <> ''"
        " UNION ALL SELECT customer_key, company_folded, company_search_key, company, 2"
        " FROM license WHERE company_folded IS NOT NULL AND company_search_key <> ''"
        " UNION ALL SELECT customer_key, contact_search_key, contact_search_key, contact_name, 3"
        " FROM license WHERE contact_search_key IS NOT NULL"
        ") AS names GROUP BY customer_key, folded",
        ("customer_key",),
    ),
)

_CUSTOMER_COLUMNS = "key, name, search_key, folded_name, salesforce_account_id, account_name"
_NAME_COLUMNS = ("customer_key", "folded", "search_key", "name", "kind")
# The tables as this module writes them, by name only: migration 0007 runs `regroup` against the
# schema of its day, not the models' (no ORM defaults or later columns come in).
_CUSTOMER_TABLE = table("customer", *(column(c) for c in _CUSTOMER_COLUMNS.split(", ")))
_SEARCH_WORD_TABLE = table("search_word", column("word"))
_NAME_TABLE = table("customer_name", *(column(c) for c in _NAME_COLUMNS))
_BIGRAM_TABLE = table("name_bigram", column("bigram"), column("search_key"))

_RECONCILIATION_STEPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # Subscriptions (by name, and by each Zuora id a license carries) owned by one customer.
    (
        "subscription_owner",
        "SELECT sub, min(customer_key) AS customer_key, count(DISTINCT customer_key) AS owners"
        " FROM (SELECT coalesce(version.subscription_name, license.zuora_subscription_name)"
        " AS sub, license.customer_key FROM license LEFT JOIN subscription AS version"
        " ON version.zuora_subscription_id = license.zuora_subscription_id"
        " UNION SELECT zuora_subscription_id, customer_key FROM license"
        " WHERE zuora_subscription_id IS NOT NULL) AS owned"
        " WHERE sub IS NOT NULL GROUP BY sub",
        ("sub",),
    ),
    # Every company name a customer goes by (its own, its accounts', its licenses'), from the
    # name index: a contact's name never claims a reconciliation.
    (
        "folded_name_owner",
        "SELECT folded, min(customer_key) AS customer_key,"
        " count(DISTINCT customer_key) AS owners FROM customer_name"
        " WHERE kind <> 'contact' GROUP BY folded",
        ("folded",),
    ),
    (
        "search_key_owner",
        "SELECT search_key, min(customer_key) AS customer_key,"
        " count(DISTINCT customer_key) AS owners FROM customer_name"
        " WHERE kind <> 'contact' GROUP BY search_key",
        ("search_key",),
    ),
    (
        "reconciliation_owner",
        "SELECT reconciliation.id, CASE"
        " WHEN by_name.owners = 1 THEN by_name.customer_key"
        " WHEN by_id.owners = 1 THEN by_id.customer_key"
        " WHEN folded.owners = 1 THEN folded.customer_key"
        " WHEN folded.owners IS NULL AND reconciliation.customer_folded_name"
        " = reconciliation.customer_search_key AND unformed.owners = 1"
        " THEN unformed.customer_key END AS customer_key"
        " FROM reconciliation LEFT JOIN subscription AS version"
        " ON version.zuora_subscription_id = reconciliation.zuora_subscription_id"
        f" LEFT JOIN {_T}subscription_owner AS by_name ON by_name.sub"
        " = coalesce(version.subscription_name, reconciliation.subscription_name)"
        f" LEFT JOIN {_T}subscription_owner AS by_id"
        " ON by_id.sub = reconciliation.zuora_subscription_id"
        f" LEFT JOIN {_T}folded_name_owner AS folded"
        " ON folded.folded = reconciliation.customer_folded_name"
        f" LEFT JOIN {_T}search_key_owner AS unformed"
        " ON unformed.search_key = reconciliation.customer_folded_name",
        ("id",),
    ),
)

_ALL_TABLES = (
    *(_T + name for name, _, _ in (*_GROUPING_STEPS, *_NAME_STEPS, *_RECONCILIATION_STEPS)),
    _T + "changed_customer",
    _T + "changed_name",
)


# PostgreSQL's statistics target for the work tables' ANALYZE (its default: 100).
_WORK_TABLE_STATISTICS_TARGET = 10


class _Steps:
    """Runs steps into temporary tables of `connection`'s transaction, on either engine."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.postgresql = connection.dialect.name == "postgresql"
        self.configured_statistics_target: str | None = None
        if self.postgresql:
            # The work tables are analysed from a small sample: their joins are on keys, and
            # the default sample (30,000 rows a table) cost a third of a regrouping. `drop_all`
            # puts the setting back, so the rest of the transaction analyses as configured.
            self.configured_statistics_target = self._set_statistics_target(
                str(_WORK_TABLE_STATISTICS_TARGET)
            )

    def _set_statistics_target(self, value: str) -> str:
        """Set default_statistics_target for the transaction; the value it had."""
        before = self.connection.exec_driver_sql("SHOW default_statistics_target").scalar_one()
        self.connection.exec_driver_sql(
            "SELECT set_config('default_statistics_target', %s, true)", (value,)
        )
        return str(before)

    def execute(self, sql: str, parameters: Sequence[object] | None = None) -> int:
        if parameters is None:
            result = self.connection.exec_driver_sql(sql)
        else:
            result = self.connection.exec_driver_sql(sql, tuple(parameters))
        return max(int(result.rowcount), 0)

    def create(self, name: str, select_sql: str, indexed: tuple[str, ...]) -> None:
        table = _T + name
        self.execute(f"DROP TABLE IF EXISTS {table}")
        if self.postgresql:
            self.execute(f"CREATE TEMPORARY TABLE {table} ON COMMIT DROP AS {select_sql}")
            for column in indexed:
                self.execute(f"CREATE INDEX ON {table} ({column})")
            # Autovacuum never analyses temporary tables: without this every join is planned
            # as if the table were tiny.
            self.execute(f"ANALYZE {table}")
        else:
            self.execute(f"CREATE TEMP TABLE {table} AS {select_sql}")
            for column in indexed:
                self.execute(f"CREATE INDEX temp.{table}_{column} ON {table} ({column})")

    def run(self, steps: tuple[tuple[str, str, tuple[str, ...]], ...]) -> None:
        for name, select_sql, indexed in steps:
            self.create(name, select_sql, indexed)

    def distinct_from(self, left: str, right: str) -> str:
        return (
            f"({left}) IS DISTINCT FROM ({right})"
            if self.postgresql
            else f"({left}) IS NOT ({right})"
        )

    def drop_all(self) -> None:
        if self.configured_statistics_target is not None:
            self._set_statistics_target(self.configured_statistics_target)
        # SQLite keeps temporary tables for the connection's life; PostgreSQL drops on commit.
        if not self.postgresql:
            for table in _ALL_TABLES:
                self.execute(f"DROP TABLE IF EXISTS temp.{table}")


def regroup(connection: Connection) -> RegroupCounts:
    """Recompute every license's customer, the customers, and every reconciliation's owner,
    inside the caller's transaction. Writes only what changes (a re-import writes nothing)."""
    steps = _Steps(connection)
    steps.run(_GROUPING_STEPS)
    moved = steps.execute(
        f"UPDATE license SET customer_key = grouped.anchor FROM {_T}grouped AS grouped"
        " WHERE license.id = grouped.id AND "
        + steps.distinct_from("license.customer_key", "grouped.anchor")
    )
    columns = _CUSTOMER_COLUMNS.split(", ")
    steps.create(
        "changed_customer",
        f"SELECT {', '.join('wanted.' + c for c in columns)} FROM {_T}wanted_customer AS wanted"
        " LEFT JOIN customer ON customer.key = wanted.key WHERE customer.key IS NULL OR "
        + steps.distinct_from(
            ", ".join("customer." + c for c in columns[1:]),
            ", ".join("wanted." + c for c in columns[1:]),
        ),
        (),
    )
    # One INSERT ... SELECT upsert from the changed customers: the dialect's own insert, as the
    # rows never pass through Python. (`WHERE true`: SQLite cannot otherwise tell the upsert's
    # ON CONFLICT from a join's ON.)
    changed = table(_T + "changed_customer", *(column(c) for c in columns))
    upsert = dialect_insert(steps.connection, _CUSTOMER_TABLE).from_select(
        columns, select(*changed.c).where(true())
    )
    written = max(
        steps.connection.execute(
            upsert.on_conflict_do_update(
                index_elements=["key"],
                set_={c: upsert.excluded[c] for c in columns[1:]},
            ),
            # SQLAlchemy keeps an INSERT's row count only when asked (psycopg's is gone once
            # the result closes); it is the summary's "customers added or changed".
            execution_options={"preserve_rowcount": True},
        ).rowcount,
        0,
    )
    deleted = steps.execute(
        "DELETE FROM customer WHERE NOT EXISTS ("
        f"SELECT 1 FROM {_T}wanted_customer AS wanted WHERE wanted.key = customer.key)"
    )
    _write_names(steps)
    reconciliations = _assign_reconciliations(steps)
    steps.drop_all()
    return RegroupCounts(written, deleted, moved, reconciliations)


# PostgreSQL's GIN indexes on the name table that write each row straight into the index
# (`fastupdate = off`: the names' trigram index, migration 0008, so that searches never scan a
# pending list). Filling an empty table, they take the rows through the pending list instead.
_STRAIGHT_GIN_INDEXES_SQL = (
    "SELECT index.relname FROM pg_index JOIN pg_class AS index ON index.oid = pg_index.indexrelid"
    " JOIN pg_am ON pg_am.oid = index.relam WHERE pg_index.indrelid = 'customer_name'::regclass"
    " AND pg_am.amname = 'gin' AND 'fastupdate=off' = ANY(index.reloptions)"
)
_GIN_SAVEPOINT = "customer_rule_gin_bulk_inserts"
_INSUFFICIENT_PRIVILEGE = "42501"  # SQLSTATE: "must be owner of index"


def _gin_indexes_taking_bulk_inserts(steps: _Steps, *, names_were_empty: bool) -> list[str]:
    """PostgreSQL, when the names are written into an empty table (a first load): switch
    the table's GIN indexes to their pending list for the insert (about four times faster at
    250,000 customers than a row at a time), and return their names for
    `_merge_gin_pending_lists`. ALTER INDEX locks each index against readers until the commit:
    lookups meanwhile, which had no customer to find, wait out their statement timeout and
    answer that the store is unavailable. Where the import's role may not alter the index (it
    does not own it), the customers are written the ordinary way."""
    if not steps.postgresql or not names_were_empty:
        return []
    names = list(steps.connection.exec_driver_sql(_STRAIGHT_GIN_INDEXES_SQL).scalars())
    if not names:
        return []
    # Every table lock the rest of the regrouping takes, taken now, before the index is held:
    # while it is, this transaction must wait for nothing, or it could deadlock with one that
    # waits for the index (a reconciliations import holds its table and reads the customers).
    steps.execute(
        "LOCK TABLE customer_name, name_bigram, search_word, reconciliation IN ROW EXCLUSIVE MODE"
    )
    steps.execute(f"SAVEPOINT {_GIN_SAVEPOINT}")
    try:
        for name in names:
            steps.execute(f'ALTER INDEX "{name}" SET (fastupdate = on)')
    except DBAPIError as error:
        if getattr(error.orig, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
            raise
        steps.execute(f"ROLLBACK TO SAVEPOINT {_GIN_SAVEPOINT}")
        names = []
    steps.execute(f"RELEASE SAVEPOINT {_GIN_SAVEPOINT}")
    return names


def _merge_gin_pending_lists(steps: _Steps, names: list[str]) -> None:
    """Back to writing straight into each index, with what its pending list holds merged in:
    turning fastupdate off does not merge it, and searches would scan it until a vacuum."""
    for name in names:
        steps.execute(f'ALTER INDEX "{name}" SET (fastupdate = off)')
        steps.execute(f"SELECT gin_clean_pending_list('\"{name}\"'::regclass)")


def assign_reconciliations(connection: Connection) -> int:
    """Recompute every reconciliation's customer from the licenses as grouped."""
    steps = _Steps(connection)
    moved = _assign_reconciliations(steps)
    steps.drop_all()
    return moved


def _assign_reconciliations(steps: _Steps) -> int:
    # Its steps read every license: a store without reconciliations (a first load, before
    # their file) skips them.
    if not steps.connection.exec_driver_sql("SELECT 1 FROM reconciliation LIMIT 1").first():
        return 0
    steps.run(_RECONCILIATION_STEPS)
    return steps.execute(
        f"UPDATE reconciliation SET customer_key = owner.customer_key"
        f" FROM {_T}reconciliation_owner AS owner WHERE reconciliation.id = owner.id AND "
        + steps.distinct_from("reconciliation.customer_key", "owner.customer_key")
    )


def _write_names(steps: _Steps) -> None:
    """`customer_name` made what `_NAME_STEPS` wants, writing only the rows that change, and
    the words and CJK pairs of the new names added to the vocabulary and `name_bigram`."""
    steps.run(_NAME_STEPS)
    # Read before the stale names go: a store whose every name changes (a new rule version)
    # is emptied below, yet has customers its readers are finding meanwhile.
    names_were_empty = not steps.connection.exec_driver_sql(
        "SELECT 1 FROM customer_name LIMIT 1"
    ).first()
    compared = [c for c in _NAME_COLUMNS if c not in ("customer_key", "folded")]
    steps.create(
        "changed_name",
        f"SELECT {', '.join('wanted.' + c for c in _NAME_COLUMNS)}, stored.id"
        f" FROM {_T}wanted_name AS wanted LEFT JOIN customer_name AS stored"
        " ON stored.customer_key = wanted.customer_key AND stored.folded = wanted.folded"
        " WHERE stored.id IS NULL OR "
        + steps.distinct_from(
            ", ".join("stored." + c for c in compared), ", ".join("wanted." + c for c in compared)
        ),
        (),
    )
    steps.execute(
        "DELETE FROM customer_name WHERE NOT EXISTS (SELECT 1"
        f" FROM {_T}wanted_name AS wanted WHERE wanted.customer_key = customer_name.customer_key"
        " AND wanted.folded = customer_name.folded)"
    )
    steps.execute(
        f"UPDATE customer_name SET {', '.join(f'{c} = changed.{c}' for c in compared)}"
        f" FROM {_T}changed_name AS changed WHERE changed.id = customer_name.id"
    )
    bulk_indexes = _gin_indexes_taking_bulk_inserts(steps, names_were_empty=names_were_empty)
    added = table(_T + "changed_name", *(column(c) for c in (*_NAME_COLUMNS, "id")))
    steps.connection.execute(
        _NAME_TABLE.insert().from_select(
            list(_NAME_COLUMNS),
            select(*(added.c[c] for c in _NAME_COLUMNS)).where(added.c.id.is_(None)),
        )
    )
    _merge_gin_pending_lists(steps, bulk_indexes)
    _index_new_names(steps)


# Search keys read per round trip when indexing the words and CJK pairs of changed names.
_WORD_PAGE_SIZE = 5000


def _index_new_names(steps: _Steps) -> None:
    """The words of every changed name's search key join the name vocabulary bot.search
    corrects misspelt query words against (migration 0006), and its pairs of CJK characters
    `name_bigram` (migration 0008), a page of keys at a time. Neither is ever removed: a query
    corrected to a word no name has, or a pair pointing at a key no name has, finds nothing."""
    result = steps.connection.exec_driver_sql(f"SELECT DISTINCT search_key FROM {_T}changed_name")
    known: set[str] = set()
    while page := result.fetchmany(_WORD_PAGE_SIZE):
        keys = [key for (key,) in page]
        words = sorted(set().union(*(search_words(key) for key in keys)) - known)
        known.update(words)
        if words:
            _add_words(steps, words)
        pairs = [
            {"bigram": bigram, "search_key": key} for key in keys for bigram in cjk_bigrams(key)
        ]
        if pairs:
            # One prepared statement for the page (sqlite3 runs executemany in-process, psycopg
            # pipelines it); a pair already there is left as it is.
            insert = dialect_insert(steps.connection, _BIGRAM_TABLE).on_conflict_do_nothing()
            steps.connection.execute(insert, pairs)


def _add_words(steps: _Steps, words: list[str]) -> None:
    insert = dialect_insert(steps.connection, _SEARCH_WORD_TABLE)
    if steps.postgresql:
        # One statement for the page: the words as one array parameter, unnested.
        # (psycopg's dialect casts an ARRAY parameter itself: `%(words)s::TEXT[]`.)
        page_words = select(func.unnest(bindparam("words", words, ARRAY(Text))))
        steps.connection.execute(insert.from_select(["word"], page_words).on_conflict_do_nothing())
        return
    # sqlite3 runs an executemany in-process with one prepared statement. A word already there
    # fires no trigger (migration 0006), as with INSERT OR IGNORE.
    steps.connection.execute(insert.on_conflict_do_nothing(), [{"word": w} for w in words])
