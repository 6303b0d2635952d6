"""What every stage uses: atomic files, images, output folders and checkpoints, devices, model
weights, the bundled samples."""
