"""Background jobs for billing."""
