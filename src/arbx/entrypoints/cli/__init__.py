"""The ``arbx`` command line."""
