"""Billing's reads, one module per thing read. Every query is scoped to one tenant
(`tenant=None` only where platform staff may read across tenants, and it says so)."""
