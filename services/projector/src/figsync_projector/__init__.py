"""figsync projector service: views, read API and dashboard from the event store."""
