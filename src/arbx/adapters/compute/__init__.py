"""Executor adapters: threads in this process, or a local process pool."""
