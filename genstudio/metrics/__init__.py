"""Sample-quality and likelihood metrics, computed offline.

``evaluate.evaluate_run`` (what ``genstudio eval`` prints and appends to a
run's ``evals.jsonl``) gathers them per model family; ``quality`` holds the
real-data references with their floors and the in-training tracker, which
``quality_job`` runs as a training job (the CLI and the studio pass it to the
engine, which imports nothing from here); ``features`` the small per-dataset classifier (or autoencoder) whose
features replace Inception's; ``inception`` the optional standard FID from
local weights; ``frechet`` (FID, KID), ``precision_recall``,
``classifier_score``, ``mmd`` and ``modes`` the measures themselves;
``compare`` the rows of the Compare runs view.
"""
