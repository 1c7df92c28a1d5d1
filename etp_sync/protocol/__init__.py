"""Protocol state free of sockets: message ids, correlation and multipart collection
(:mod:`.correlation`), and session negotiation (:mod:`.negotiation`)."""
