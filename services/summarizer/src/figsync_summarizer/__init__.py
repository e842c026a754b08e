"""figsync summarizer service: summarises threads with Claude."""
