"""GraphQL face of the incidents domain."""
