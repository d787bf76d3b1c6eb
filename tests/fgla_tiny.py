"""A tiny FGLA training config for tests: 32 px, a few thousand weights, steps in a fraction of a second."""

TINY = """
[model]
image_size = 32
encoder_size = 16
encoder_base_channels = 8
encoder_depth = 2
generator_base_channels = 8
generator_depth = 3
c = 8.0
{model}
[loss]
{loss}
[data]
workers = 0
shuffle_buffer = 8
{data}
[optim]
lr = 3e-3
batch_size = 4
steps = {steps}
log_every = {log_every}
checkpoint_every = {checkpoint_every}
{optim}
"""


def tiny_config(path, steps=8, log_every=2, checkpoint_every=4, model="", loss="", data="", optim=""):
    path.write_text(TINY.format(steps=steps, log_every=log_every, checkpoint_every=checkpoint_every, model=model,
                                loss=loss, data=data, optim=optim))
    return path
