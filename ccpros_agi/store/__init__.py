"""Call record in PostgreSQL: models, migrations, async repository, private cluster."""

from .repo import CallStore, decide_outcome

__all__ = ["CallStore", "decide_outcome"]
