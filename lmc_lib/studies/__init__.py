"""One module per chapter: `run(setup, ...) -> dict` computes the chapter's numbers (JSON-able),
`verdicts(result, setup) -> list[dict]` judges its claims. Chapters and `lmc_lib.record` call the
same functions, so a recorded GPU run and a live CPU run are drawn by the same plot code."""
