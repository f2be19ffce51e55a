"""GraphQL for billing."""
