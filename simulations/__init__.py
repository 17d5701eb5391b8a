"""Clinic simulator, policies, monitors and simulation studies."""
