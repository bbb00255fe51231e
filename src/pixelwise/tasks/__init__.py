"""Task recipes: data -> model -> loss -> fit -> evaluate -> report, each with a dataclass config."""
