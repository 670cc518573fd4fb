"""Asterisk Manager Interface: a small client and the call journey built from its events."""
