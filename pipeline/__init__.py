"""mixgate's library: pure, Prefect-free stages that turn raw sources into a training mixture.

`pipeline` never imports `flows` or the CLI. Stages are functions ``verb_noun(frame, *, config)``
over polars frames; stateful engines (presidio, LSH index) are small classes built once.
"""

__version__ = "0.1.0"
