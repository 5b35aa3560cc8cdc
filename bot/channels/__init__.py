"""Channel adapters: platform input → Incoming, OutgoingMessage → platform output."""
