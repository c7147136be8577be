"""Officials, API tokens and the audit trail."""
