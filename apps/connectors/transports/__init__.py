"""Transports move bytes; they know nothing of banks or ERPs. Only ``apps.connectors`` imports them."""
