"""Eval gate domain: records, paired statistics and the gate decision. No boto3."""
