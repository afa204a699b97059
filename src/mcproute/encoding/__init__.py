"""The sentence encoder (one vector per step, shared by tool retrieval and the tier decision) and
its on-disk caches. I/O lives here, not in the pure router: the engine computes vectors and hands
them to the router (`Step.vector`, `ToolIndex.attach_vectors`)."""

from mcproute.encoding.model import Encoder, EncoderUnavailable, default_cache_dir, load_shared, probe

__all__ = ["Encoder", "EncoderUnavailable", "default_cache_dir", "load_shared", "probe"]
