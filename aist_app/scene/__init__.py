"""Scene geometry and mesh input: cameras and viewpoints, lights, looks and materials, mesh
loading, the generated cars."""
