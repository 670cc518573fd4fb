"""Channel variables shared by the dialplan (dialplan/*.conf) and the FastAGI handlers."""

DONE = "CCPROS_DONE"          # "1" once the handler has decided: the dialplan trusts nothing else
ACTION = "CCPROS_ACTION"      # what the dialplan does next: one of the ACTION_* values
QUEUE = "CCPROS_QUEUE"        # the queue to join (ACTION_QUEUE)
RULE = "CCPROS_RULE"          # its queue rule (queuerules.conf), empty for none
DIRECT = "CCPROS_DIRECT"      # a repeat caller's last advisor's own queue, rung first (empty: none)
DIRECT_SECONDS = "CCPROS_DIRECT_SECONDS"
DIAL = "CCPROS_DIAL"          # the number outside the platform to dial (ACTION_OUTSIDE)
TOPIC = "CCPROS_TOPIC"
CALLED = "CCPROS_CALLED"      # the called number as the trunk sent it (set by from-trunk)

ACTION_QUEUE = "queue"
ACTION_OUTSIDE = "outside"    # only numbers of the generated [ccpros-outside] context
ACTION_HANGUP = "hangup"      # the handler has played its message (closed, private individual)
