"""figsync test fixtures: embedded Postgres and NATS."""
