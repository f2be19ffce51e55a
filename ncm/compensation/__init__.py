"""Grant campaigns, claims, and their stacking on the membership ledger."""
