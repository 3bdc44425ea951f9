"""One module per outside system; only these modules talk to those systems."""
