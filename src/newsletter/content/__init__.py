"""Articles and where they come from: feeds, the push API, file imports; categories."""
