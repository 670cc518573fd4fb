"""Office agendas, telephone and desk appointments booked by advisors, and their written confirmations
(an outbox sent by the ``notifier`` service). Pure rules in :mod:`.agenda`, texts in :mod:`.messages`,
configuration in :mod:`.config`, senders in :mod:`.senders`, the worker in :mod:`.notifier`;
the tables and their repository are in :mod:`ccpros_agi.store.appointments`."""
