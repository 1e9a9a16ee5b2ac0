"""onnx_check's parts (tests/onnx_check.py runs them): common.py holds what they share, each
part_X_*.py one part (KEY, TITLE and run())."""
