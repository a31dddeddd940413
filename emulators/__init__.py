"""Asyncio servers and clients that drive the protocol cores over real transports."""
