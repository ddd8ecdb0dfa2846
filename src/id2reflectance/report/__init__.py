"""Self-contained HTML QA reports of a session, a solve, an asset or a dataset."""
