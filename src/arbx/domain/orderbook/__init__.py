"""Order-book simulation: an L2 book (``book``), a price-time-priority matching engine
(``engine``), a queue-position model for passive orders against a recorded book
(``queue``) and a synthetic book built from bars (``synthetic``)."""
