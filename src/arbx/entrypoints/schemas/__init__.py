"""Request parsing and wire shapes shared by the HTTP API and the CLI.

One parser per request value (a time span, a series key, a repair's reference, an API key's
lifetime), so both faces accept the same input and refuse it with the same message; and the
JSON shapes the CLI's ``--json`` prints as the API answers them. The two entrypoints import
this package, never each other. Nothing here imports a web framework or a driver.
"""
