"""Optuna studies: declarative specs, search spaces, storage, worker processes, recovery.

Heavy imports (optuna, mlflow, mmengine) happen inside functions so ``jedi --help`` stays fast.
"""
