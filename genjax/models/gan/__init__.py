"""Generative adversarial networks: networks (mlp.py, dcgan.py, minibatch.py) and the family (family.py)."""
