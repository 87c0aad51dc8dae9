"""Operator interfaces: the technician's interactive flow and the production line's unattended interface."""
