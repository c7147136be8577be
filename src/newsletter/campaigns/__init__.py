"""Campaigns: building digests and bulletins, who receives them, control."""
