"""Numbered SQL migrations (NNNN_name.sql), applied in order by ``arbx.adapters.postgres.migrate``.

Each file runs in one transaction with ``search_path`` set to the target schema, so table names
stay unqualified. Never edit a file once released: add the next number instead (the runner
refuses a database whose applied file no longer matches its checksum).
"""
