"""Indicators and reports: definitions (pure), their SQL twin and summary tables, reconciliation from CEL.

``definitions`` holds every formula; ``sql`` computes the same in PostgreSQL; ``models`` are the
summary tables of migration 0007; ``reconcile`` rebuilds missed call records from Asterisk's CEL.
"""
