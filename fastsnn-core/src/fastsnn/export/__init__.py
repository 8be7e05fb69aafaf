"""Exporters turn a trained model into files for deployment."""
