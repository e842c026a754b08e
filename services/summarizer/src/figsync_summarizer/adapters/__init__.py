"""Adapters: the Anthropic API, the summary cache and the monthly spend, behind small ports."""
