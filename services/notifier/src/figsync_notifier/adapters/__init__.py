"""Adapters: outside services behind the notifier's ports."""
