"""The WebSocket gateway (docs/gateway.md): live delivery from the log, resume, presence,
typing, voice signalling, many nodes."""
