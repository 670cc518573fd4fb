"""Call record in PostgreSQL: models, migrations, async repository, private cluster."""

from ccpros_agi.advisors import models as _advisors  # noqa: F401 - registers its tables in Base.metadata
from ccpros_agi.callbacks import models as _callbacks  # noqa: F401 - registers its tables in Base.metadata
from ccpros_agi.indicators import models as _indicators  # noqa: F401 - registers its tables in Base.metadata

from . import appointments as _appointments  # noqa: F401 - registers its tables in Base.metadata
from .repo import CallStore, decide_outcome

__all__ = ["CallStore", "decide_outcome"]
