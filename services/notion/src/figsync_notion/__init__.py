"""figsync notion service: creates the Notion task exactly once."""
