"""Machine checks (doctor) and the Blender add-on's package."""
