"""Reports of runs: what to show (charts, tables, heatmaps, waterfalls) built from stored
results, pure. Rendering them to a file is an adapter's job (``adapters/reports``)."""
