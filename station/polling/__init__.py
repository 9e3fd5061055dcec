"""The polling station's day: identify a voter, fingerprint then face, the decision policy, the presiding officer's
exception, the ballot, the shared-finger cross-check, the close of poll and the day's summary (``service``)."""
