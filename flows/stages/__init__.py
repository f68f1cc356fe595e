"""The pipeline's stages as plain functions: a session (or database), the config and the clock in,
a summary out. The CLI calls them directly; `flows.pipeline` wraps them in Prefect flows."""
