"""Other vantage points: the list of nodes this server can run from (design §9)."""
