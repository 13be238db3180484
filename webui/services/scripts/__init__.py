"""Selectable scripts (A1111's "Script" dropdown): the protocol, the registry and the built-ins."""
