"""Live trade streams over WebSocket (aiohttp): one venue format per module in ``venues``,
one connection loop (reconnect, heartbeat, resubscribe) in ``websocket``."""
