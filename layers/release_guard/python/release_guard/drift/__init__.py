"""Drift checks: baseline profiles, capture parsing, mergeable summaries, decisions."""
