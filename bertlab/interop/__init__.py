"""Interoperability with Hugging Face transformers (optional dependency)."""

from bertlab.interop.transformers import (config_from_transformers, export_pretrained, from_transformers,
                                          key_map, to_transformers, transformers_family)

__all__ = ["to_transformers", "from_transformers", "export_pretrained", "config_from_transformers", "key_map",
           "transformers_family"]
