"""Messaging: messages, threads, reactions, pins, polls, scheduling, webhooks, unreads."""
