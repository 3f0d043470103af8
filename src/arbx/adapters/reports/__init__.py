"""Report renderers (``ports.report_renderer``): self-contained HTML with uPlot inlined."""
