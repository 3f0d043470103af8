"""The pure core of arbx: rules and computation on numpy, polars, msgspec and the stdlib only."""
