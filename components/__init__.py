"""keras-notes components: Keras 3 objects built from a practitioner's notes."""
