"""Unit tests of the domain: pure rules, no I/O."""
