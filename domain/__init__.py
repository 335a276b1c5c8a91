"""Calsync's business rules (R1-R28) as pure functions and frozen values, stdlib only."""
