"""Queue consumers: sync, CRM, write-back, dead-letter parking, and the scheduler."""
