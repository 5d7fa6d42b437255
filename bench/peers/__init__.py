"""What the portal's users would pick instead, run beside it by bench/run.py (bench/README.md)."""
