"""Memberships on Stripe: plans, subscriptions, webhooks and the membership ledger."""
