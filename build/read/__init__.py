"""Read: every SQL query of the build and the state carried between builds, into one input record."""
