"""The outside faces of arbx: HTTP API, CLI, the composition root and the process runtime."""
