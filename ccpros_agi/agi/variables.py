"""Channel variables shared by the dialplan (dialplan/*.conf) and the FastAGI handlers."""

DONE = "CCPROS_DONE"          # "1" once the handler has decided: the dialplan trusts nothing else
ACTION = "CCPROS_ACTION"      # "queue" or "closed"
QUEUE = "CCPROS_QUEUE"        # the queue to join
TOPIC = "CCPROS_TOPIC"
CALLED = "CCPROS_CALLED"      # the called number as the trunk sent it (set by from-trunk)

ACTION_QUEUE = "queue"
ACTION_CLOSED = "closed"
