"""What a night tells its readers: the manifest (machine) and the privacy report (people)."""
