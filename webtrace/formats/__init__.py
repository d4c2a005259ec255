"""What a run looks like other than as events: pure renderers, events in, text out.

The text routes' lines (``text``: the original webtrace's lines, the closing
``ERROR:``/``TIMEOUT:`` line, the ``[node] `` prefixes of a run from several
places) and mtr's report table (``mtr_report``); and a kept result in the formats
other programs read (``exports``: RIPE Atlas JSON in ``atlas``, ``mtr --json``'s
shape in ``mtr_json``, CSV in ``csv_table``, all reading the run as ``folded``
folds it); and two kept runs laid against each other (``comparison``). Nothing
here does I/O or knows HTTP; a stored result printed again through them is what
its text route printed.
"""
