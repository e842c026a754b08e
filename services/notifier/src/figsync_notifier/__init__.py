"""figsync notifier service: confirms in the Figma thread and tells the team about failures."""
