"""The reliability suite (docs/reliability.md): a fuzz of every public function and method run in a
worker process (test_fuzz.py, over catalog.py and kinds.py), exact scaling laws at extreme
magnitudes (test_scaling.py), and calls from several threads and repeated calls (test_concurrency.py).
"""
