"""Delivery: the ledger, the batch loop, the shared send budget, the transports."""
