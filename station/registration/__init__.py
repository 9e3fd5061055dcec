"""Registration centres: captures with quality gates, exceptions with a photo, the 1:N duplicate search, the
registrar's adjudication (``service``), and the transfer of new voters to the commission (``transfer``)."""
