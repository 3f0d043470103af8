"""Exchange adapters: one package per venue (client, wire structs, mapping) over common/."""
