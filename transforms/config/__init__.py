"""What a run is told: the raw data contract and the export policy."""
