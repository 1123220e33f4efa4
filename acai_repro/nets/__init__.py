"""Networks shared by the chapters: the official ACAI convolutional encoder, decoder and critic."""

from acai_repro.nets.conv import LEAKY_SLOPE, Critic, Decoder, Encoder, he_modified_normal_, n_scales

__all__ = ["LEAKY_SLOPE", "Critic", "Decoder", "Encoder", "he_modified_normal_", "n_scales"]
