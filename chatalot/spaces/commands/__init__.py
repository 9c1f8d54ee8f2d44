"""Spaces commands, one module per capability; each is a plain async function callable
from REST and the WebSocket gateway alike: `(rt, actor, ..., info) -> (result, position)`."""
