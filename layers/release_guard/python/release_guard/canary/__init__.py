"""Canary domain logic: schedules, endpoint plans and the judge. No boto3, no clock."""
