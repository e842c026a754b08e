"""End-to-end fixtures come from figsync_testkit.system (registered by its pytest plugin)."""
