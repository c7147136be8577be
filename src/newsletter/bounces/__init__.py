"""Bounces and complaints: parsing reports, the rules they trigger, intake."""
