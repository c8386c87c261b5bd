"""What embedding images defaults to, without torch: the command line's parser shows it without loading torch."""

#: Images per forward pass unless the caller says otherwise: one default for every command that embeds images.
DEFAULT_BATCH_SIZE = 64
