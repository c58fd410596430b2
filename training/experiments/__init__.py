"""Experiments that inform design decisions; nothing in the product imports them."""
