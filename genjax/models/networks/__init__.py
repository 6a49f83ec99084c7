"""Networks shared by more than one family.

* `layers`: MLP, conv down/upsamplers, masked convolutions, activations by name.
* `embeddings`: the sinusoidal embedding of a scalar (time, noise level).
* `mlps`: the noise-conditional MLP (score and DDPM on vectors) and the energy MLP (EBMs).
* `unet`: the DDPM/NCSN U-Net.
* `made`: MADE, the masked autoencoder used by MAF/IAF and by the autoregressive family.
* `denoiser`: builds the MLP or U-Net that the score and ddpm families condition on a scalar.
"""
