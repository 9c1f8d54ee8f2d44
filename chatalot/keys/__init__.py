"""The key server's application layer (issue 5): commands over the key decision tables,
queries, and the request/response contracts of /api/keys and the sender-key routes."""
