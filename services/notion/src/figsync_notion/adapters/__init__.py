"""Adapters of the notion service: Notion's API behind the NotionPages port."""
