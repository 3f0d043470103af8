"""Security adapters: argon2id passwords, JWT access tokens, keyed secret hashes, rate limits."""
