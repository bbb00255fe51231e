"""Reports: plots, galleries and HTML pages written into run folders."""
