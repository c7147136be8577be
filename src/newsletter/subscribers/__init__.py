"""Residents: subscribe, confirm, preferences, erase; addresses; imports; limits."""
