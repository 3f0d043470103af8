"""What every venue adapter shares: timing, rate limit, circuit breaker, HTTP with retries."""
