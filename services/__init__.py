"""Use cases. They change state and enqueue outbound messages on a session they are given;
the caller that owns the unit of work (the conversation engine for an update, a job or a CLI
command otherwise) commits once, so a state change and its messages land together."""
