"""Loading user code: strategy plugins from folders and entry points."""
