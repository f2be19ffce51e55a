"""GraphQL face of the promotion domain."""
