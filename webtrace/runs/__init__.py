"""A run, from the query to its events: the query read once (``query``), checked
and resolved into a plan (``plan``), started as a job (``job``), and told as a
source of events (``source``) that a sink writes. A run from several nodes is the
other kind of source (``webtrace.nodes.fanout``)."""
