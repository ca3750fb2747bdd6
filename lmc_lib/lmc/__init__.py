"""Layer 3, the science: merging along the linear path, calibration, barriers, probes, claim checks."""
