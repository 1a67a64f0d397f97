"""What several test modules share: request builders, the Slack stand-in, data sets, store
helpers. Test modules import from here (or use a fixture in tests/conftest.py), never from
another test module (tests/project/test_layout.py checks it)."""
