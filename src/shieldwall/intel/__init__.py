"""Intel: events, attributes, objects, tags, sightings, sharing groups, and THE access rules."""
