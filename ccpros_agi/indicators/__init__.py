"""Indicators and reports: definitions (pure), their SQL twin and summary tables.

``definitions`` holds every formula; ``sql`` computes the same in PostgreSQL; ``models`` are the
summary tables of migrations 0007 and 0010. Missed call records are rebuilt from Asterisk's CEL by
:mod:`ccpros_agi.reconcile` (``ccpros reconcile``).
"""
