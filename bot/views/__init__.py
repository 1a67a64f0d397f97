"""Pure Block Kit builders (cards, pick lists, modals, App Home) and their terminal rendering
for shell mode: plain values in, `slack_sdk.models` objects out; no session, no client."""
