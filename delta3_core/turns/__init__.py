"""Durable turns: one queue in the store for messages accepted by any channel (SMS, the API's async turns).

A channel accepts a message by writing its job in the same step that claims the message's id
(`records.enqueue_job`), before it answers. Workers lease jobs (`TurnRunner`, in-process
`TurnWorkers` or a Lambda invocation), renew the lease while the turn runs, and record progress
and each outgoing message, so a job whose worker died is taken again and answered exactly once.
"""
