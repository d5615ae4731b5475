"""Adapters: the only code that calls boto3. Domain code never imports this package."""
