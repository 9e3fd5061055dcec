"""The electoral roll: one voter record type (``records``), the store, the commission's changes and revisions,
the content hash and search (``service``)."""
