"""`delta3`: the DELTA3 command line, a small client of the REST API (httpx)."""
