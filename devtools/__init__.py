"""Development tools, not part of the library: the fake viewing-log generator (Faker)."""
