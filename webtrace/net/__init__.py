"""Addresses, what a visitor may type as a target, and which addresses may be probed.

Nothing here knows HTTP or processes: text and addresses in, addresses or a refusal out.
"""
