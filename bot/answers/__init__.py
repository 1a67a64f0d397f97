"""The use cases: a lookup (search -> load -> card -> audit), posting a card into a
conversation (one conversation check), the redaction rule, and link unfurls."""
