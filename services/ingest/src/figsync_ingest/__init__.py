"""figsync ingest service: the HTTP edge: inbound email and Figma webhooks into the event store."""
