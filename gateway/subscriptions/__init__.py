"""Subscriptions over graphql-transport-ws, one per module."""
